import json
import logging

import azure.durable_functions as df
import azure.functions as func
from __app__.shared_code.greetings import greeting


async def main(msg: func.ServiceBusMessage, starter: str) -> None:
    client = df.DurableOrchestrationClient(starter)
    request = json.loads(msg.get_body())
    instance_id = await client.start_new(request["orchestrator"], msg.session_id, None)
    logging.info(greeting(f"orchestration {instance_id}"))
