"""collector: folds forwarded work into its run and acknowledges it.

Its default onRunning is `forward`: a start request for a running collector reaches it as
the `work` event. It appends the work to its items and lists the request ID under
`acknowledged` in its custom status (`acknowledges_forwards`), so the starter records
`forwarded` only once it was read; a request ID it has already folded in is skipped.
It finishes after `window_s` seconds without new work.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from starters import OnRunning, OrchestratorSpec, read_forwarded
from starters.forwarding import ACKNOWLEDGED_KEY

WORK_EVENT = "work"
# Acknowledgements kept in the custom status (it is limited in size on a real host).
MAX_ACKNOWLEDGED = 200

SPEC = OrchestratorSpec(
    name="collector",
    description="Collects forwarded work until window_s seconds pass without any.",
    on_running=OnRunning.FORWARD,
    event_name=WORK_EVENT,
    acknowledges_forwards=True,
    input_schema={
        "type": ["object", "null"],
        "properties": {"window_s": {"type": "number", "minimum": 0, "maximum": 86400}},
    },
)

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
def collector(context: df.DurableOrchestrationContext) -> Any:
    first = context.get_input() or {}
    window = float(first.get("window_s", 30))
    items: list[Any] = [first.get("item")] if "item" in first else []
    acknowledged: list[str] = []
    while True:
        timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=window))
        work = context.wait_for_external_event(WORK_EVENT)
        winner = yield context.task_any([work, timer])
        if winner == timer:
            break
        timer.cancel()
        forwarded = read_forwarded(work.result)
        if forwarded.request_id in acknowledged:
            continue  # a second raise of a request already folded in
        value = forwarded.input
        items.append(value.get("item", value) if isinstance(value, dict) else value)
        if forwarded.request_id:
            acknowledged.append(forwarded.request_id)
        context.set_custom_status(
            {"items": len(items), ACKNOWLEDGED_KEY: acknowledged[-MAX_ACKNOWLEDGED:]}
        )
    return {"items": items, ACKNOWLEDGED_KEY: acknowledged}
