"""eternal_monitor: a continue_as_new loop kept alive by a keep-alive timer.

Every few minutes the starter's keep-alive enqueues a start request with use-existing: a
no-op while the loop runs, a restart if it ever stopped (a failure, a terminate, a purge).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from starters import OnRunning, OrchestratorSpec

INSTANCE_ID = "eternal-monitor"

SPEC = OrchestratorSpec(
    name="eternal_monitor",
    description="Probes every interval_s seconds forever (continue_as_new).",
    on_running=OnRunning.USE_EXISTING,
    keep_alive_schedule="0 */5 * * * *",
    keep_alive_instance_id=INSTANCE_ID,
    keep_alive_input={"interval_s": 60},
    input_schema={
        "type": ["object", "null"],
        "properties": {
            "interval_s": {"type": "number", "minimum": 1, "maximum": 86400},
            "iteration": {"type": "integer", "minimum": 0},
        },
    },
)

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
def eternal_monitor(context: df.DurableOrchestrationContext) -> Any:
    state = context.get_input() or {}
    interval = float(state.get("interval_s", 60))
    iteration = int(state.get("iteration", 0))
    probe = yield context.call_activity("monitor_probe", {"iteration": iteration})
    context.set_custom_status({"iteration": iteration, "lastProbe": probe})
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=interval))
    # A fresh history each round keeps replay cheap for a loop that never ends.
    context.continue_as_new({"interval_s": interval, "iteration": iteration + 1})
    return None


@bp.activity_trigger(input_name="probe")
def monitor_probe(probe: Any) -> dict[str, Any]:
    # A real monitor would check something here; the sample reports that it ran.
    return {"iteration": (probe or {}).get("iteration"), "healthy": True}
