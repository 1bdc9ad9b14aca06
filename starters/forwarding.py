"""The `forward` policy's wire format, shared by the starter and the orchestrators it feeds.

A forwarded request reaches the running instance as the orchestrator's declared external
event, with data `{"requestId": ..., "input": ...}`. Raising an event is at-most-once from
the orchestration's point of view: the event is lost if the instance finishes before it
waits for it. An orchestrator that acknowledges what it folded in (in its custom status,
`{"acknowledged": [requestId, ...]}`) lets the starter and any caller verify delivery and
lets a redelivered request skip a second forward.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ACKNOWLEDGED_KEY = "acknowledged"


@dataclass(frozen=True)
class ForwardedWork:
    request_id: str | None
    input: Any


def forward_payload(request_id: str, input: Any) -> dict[str, Any]:
    return {"requestId": request_id, "input": input}


def read_forwarded(event_data: Any) -> ForwardedWork:
    """Unpack event data, which a real host hands over as JSON text (double encoding)."""
    data = event_data
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            return ForwardedWork(None, event_data)
    if isinstance(data, dict) and "requestId" in data:
        return ForwardedWork(str(data["requestId"]), data.get("input"))
    return ForwardedWork(None, data)


def acknowledges(custom_status: Any, request_id: str) -> bool:
    status = custom_status
    if isinstance(status, str):
        try:
            status = json.loads(status)
        except json.JSONDecodeError:
            return False
    if not isinstance(status, dict):
        return False
    acknowledged = status.get(ACKNOWLEDGED_KEY)
    return isinstance(acknowledged, list) and request_id in acknowledged
