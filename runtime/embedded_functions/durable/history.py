"""History events in the host's wire shape (PascalCase, as DurableTask.Core serializes them).

Orchestrators receive them in their context JSON; `showHistory` shows them with the event
type spelled out, as the host does.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import IntEnum
from typing import Any


class EventType(IntEnum):
    ExecutionStarted = 0
    ExecutionCompleted = 1
    ExecutionFailed = 2
    ExecutionTerminated = 3
    TaskScheduled = 4
    TaskCompleted = 5
    TaskFailed = 6
    SubOrchestrationInstanceCreated = 7
    SubOrchestrationInstanceCompleted = 8
    SubOrchestrationInstanceFailed = 9
    TimerCreated = 10
    TimerFired = 11
    OrchestratorStarted = 12
    OrchestratorCompleted = 13
    EventSent = 14
    EventRaised = 15
    ContinueAsNew = 16
    GenericEvent = 17
    HistoryState = 18
    ExecutionSuspended = 19
    ExecutionResumed = 20


# The runtime's own note on a TaskScheduled / SubOrchestrationInstanceCreated of a call with
# retry options (its attempt and options), so a rewind can resume the retries; the SDK
# ignores unknown fields and showHistory leaves it out.
RETRY_STATE_FIELD = "EmbeddedRetryState"


def timestamp(moment: datetime) -> str:
    """Fixed-width UTC text: sortable as a string, parseable by the SDK."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def status_time(moment: datetime) -> str:
    """The host's status format: `CreatedTime.ToString("s") + "Z"` (whole seconds)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Parse ISO-8601 with `Z` and up to 7 fractional digits (.NET writes 7)."""
    value = text.strip().replace("Z", "+00:00")
    if "." in value:
        head, _, rest = value.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        value = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def event(kind: EventType, moment: datetime, event_id: int = -1, **fields: Any) -> dict[str, Any]:
    return {
        "EventType": int(kind),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": timestamp(moment),
        **fields,
    }
