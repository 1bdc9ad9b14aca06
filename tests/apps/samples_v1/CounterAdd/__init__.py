import azure.durable_functions as df
import azure.functions as func


async def main(req: func.HttpRequest, starter: str) -> func.HttpResponse:
    client = df.DurableOrchestrationClient(starter)
    entity_id = df.EntityId("Counter", req.route_params["entityKey"])
    await client.signal_entity(entity_id, "add", int(req.params.get("amount", "1")))
    return func.HttpResponse(status_code=202)
