"""long_job: stays Running for `duration_s` on a durable timer, then returns its input.

The job every end-to-end check uses. It keeps the global defaults (onRunning reject,
onFinished restart) and lets a request ask for replace or queue.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from starters import OnRunning, OrchestratorSpec

SPEC = OrchestratorSpec(
    name="long_job",
    description="Waits duration_s seconds on a durable timer, then returns its input.",
    allowed_on_running=frozenset(
        {OnRunning.REJECT, OnRunning.USE_EXISTING, OnRunning.QUEUE, OnRunning.REPLACE}
    ),
    input_schema={
        "type": "object",
        "required": ["duration_s"],
        "properties": {"duration_s": {"type": "number", "minimum": 0, "maximum": 86400}},
    },
)

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
def long_job(context: df.DurableOrchestrationContext) -> Any:
    job = context.get_input() or {}
    finish_at = context.current_utc_datetime + timedelta(seconds=float(job.get("duration_s", 0)))
    context.set_custom_status({"phase": "running", "until": finish_at.isoformat()})
    yield context.create_timer(finish_at)
    context.set_custom_status({"phase": "done"})
    return {"instanceId": context.instance_id, "input": job}
