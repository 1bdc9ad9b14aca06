# The singleton sample of the Durable Functions documentation ("Singleton orchestrators",
# Python), unchanged but for two bugs of the published code:
# - its status check `existing_instance != None or ...` is always true (get_status never
#   returns None), so it started even while an instance ran. A status of a missing
#   instance is falsy, hence `not existing_instance`;
# - it passed `req.get_body()` (bytes) to start_new, which the SDK cannot serialize: every
#   call failed with a 500. The body's JSON is passed instead.
import logging

import azure.durable_functions as df
import azure.functions as func


async def main(req: func.HttpRequest, starter: str) -> func.HttpResponse:
    client = df.DurableOrchestrationClient(starter)
    instance_id = req.route_params["instanceId"]
    function_name = req.route_params["functionName"]

    existing_instance = await client.get_status(instance_id)

    if not existing_instance or existing_instance.runtime_status in [
        df.OrchestrationRuntimeStatus.Completed,
        df.OrchestrationRuntimeStatus.Failed,
        df.OrchestrationRuntimeStatus.Terminated,
    ]:
        event_data = req.get_json()
        instance_id = await client.start_new(function_name, instance_id, event_data)
        logging.info(f"Started orchestration with ID = '{instance_id}'.")
        return client.create_check_status_response(req, instance_id)
    else:
        return {
            "status": 409,
            "body": f"An instance with ID '{existing_instance.instance_id}' already exists",
        }
