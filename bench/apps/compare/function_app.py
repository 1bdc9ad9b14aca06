"""The benchmark's app: this project's starter, and the naive check-then-start HTTP function
from Microsoft's documentation (written correctly), side by side on one runtime.

Both start `tracked_job`, which logs each execution's start and end (with its input) to
BENCH_LOG, so the benchmark can count executions, overlaps and dropped inputs. The
starter's own line per handled message (its decision and its time in the handler) goes
to BENCH_HANDLER_LOG, so the benchmark reports the handler's time under load.
"""

import json
import logging
import os
import time
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.OrchestrationRuntimeStatus import (
    OrchestrationRuntimeStatus as Status,
)

from starters import OnRunning, OrchestratorSpec, Registry, build_blueprint

TERMINAL = (Status.Completed, Status.Failed, Status.Terminated, Status.Canceled)

if os.environ.get("BENCH_HANDLER_LOG"):
    # The host logs at WARNING; this one logger writes its INFO lines to the file alone.
    _lines = logging.FileHandler(os.environ["BENCH_HANDLER_LOG"])
    _lines.setFormatter(logging.Formatter("%(message)s"))
    _handler_logger = logging.getLogger("starters.handler")
    _handler_logger.setLevel(logging.INFO)
    _handler_logger.addHandler(_lines)
    _handler_logger.propagate = False

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def tracked_job(context: df.DurableOrchestrationContext):
    job = context.get_input() or {}
    yield context.call_activity(
        "log_execution", {"id": context.instance_id, "input": job, "at": "start"}
    )
    finish = context.current_utc_datetime + timedelta(seconds=float(job.get("duration_s", 0)))
    yield context.create_timer(finish)
    yield context.call_activity(
        "log_execution", {"id": context.instance_id, "input": job, "at": "end"}
    )
    return job


@app.activity_trigger(input_name="entry")
def log_execution(entry):
    entry["t"] = time.time()
    with open(os.environ["BENCH_LOG"], "a") as log:
        log.write(json.dumps(entry) + "\n")
    return True


@app.route(route="naive/{functionName}/{instanceId}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def naive_start(req: func.HttpRequest, client) -> func.HttpResponse:
    # The documented singleton pattern, with the Python sample's mistakes corrected:
    # `not existing` (the SDK never returns None) and Enum statuses.
    name = req.route_params["functionName"]
    instance_id = req.route_params["instanceId"]
    existing = await client.get_status(instance_id)
    if not existing or existing.runtime_status in TERMINAL:
        await client.start_new(name, instance_id, req.get_json())
        return func.HttpResponse(
            json.dumps({"started": True}), status_code=202, mimetype="application/json"
        )
    return func.HttpResponse(
        json.dumps({"started": False, "status": existing.runtime_status.value}),
        status_code=409,
        mimetype="application/json",
    )


registry = Registry(
    [
        OrchestratorSpec(
            name="tracked_job",
            allowed_on_running=frozenset(
                {OnRunning.REJECT, OnRunning.QUEUE, OnRunning.USE_EXISTING}
            ),
        )
    ]
)
app.register_functions(build_blueprint(registry))
