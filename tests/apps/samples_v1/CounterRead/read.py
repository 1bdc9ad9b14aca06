import json

import azure.durable_functions as df
import azure.functions as func


async def read_counter(req: func.HttpRequest, client: str) -> func.HttpResponse:
    durable_client = df.DurableOrchestrationClient(client)
    entity_id = df.EntityId("Counter", req.route_params["entityKey"])
    entity_state = await durable_client.read_entity_state(entity_id)
    if not entity_state.entity_exists:
        return func.HttpResponse("no such counter", status_code=404)
    return func.HttpResponse(json.dumps(entity_state.entity_state), mimetype="application/json")
