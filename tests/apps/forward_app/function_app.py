"""For tests/test_forward_on_runtime.py: the starter in front of an orchestrator written as
the README documents a forward target. It waits on its declared event, reads the data with
`read_forwarded`, acknowledges through its custom status, then calls an activity (so the
next forwarded input arrives while it is not waiting), and finishes after `window_s`
seconds without work. It keeps every input it reads, repeats included, in `received`."""

import time
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from starters import OnRunning, OrchestratorSpec, Registry, build_blueprint, read_forwarded
from starters.forwarding import ACKNOWLEDGED_KEY

SPEC = OrchestratorSpec(
    name="burst_worker",
    on_running=OnRunning.FORWARD,
    event_name="work",
    acknowledges_forwards=True,
)

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def burst_worker(context: df.DurableOrchestrationContext) -> Any:
    first = context.get_input() or {}
    window = float(first.get("window_s", 4))
    work_s = float(first.get("work_s", 0.3))
    received: list[Any] = [first.get("n")]
    acknowledged: list[str] = []
    while True:
        timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=window))
        work = context.wait_for_external_event(SPEC.event_name)
        winner = yield context.task_any([work, timer])
        if winner == timer:
            break
        timer.cancel()
        forwarded = read_forwarded(work.result)
        received.append((forwarded.input or {}).get("n"))
        if forwarded.request_id and forwarded.request_id not in acknowledged:
            acknowledged.append(forwarded.request_id)
        context.set_custom_status({ACKNOWLEDGED_KEY: acknowledged, "received": received})
        yield context.call_activity("burst_work", {"n": received[-1], "work_s": work_s})
    return {"received": received, ACKNOWLEDGED_KEY: acknowledged}


@app.activity_trigger(input_name="job")
def burst_work(job: dict[str, Any]) -> Any:
    time.sleep(job["work_s"])
    return job["n"]


app.register_functions(build_blueprint(Registry([SPEC])))
