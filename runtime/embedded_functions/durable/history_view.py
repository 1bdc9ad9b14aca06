"""`historyEvents` of `GET instances/{id}?showHistory=true`, shaped as the host shapes them.

DurableClient.GetDurableOrchestrationStatusAsync (azure-functions-durable-extension):
- `EventType` (and ExecutionCompleted's `OrchestrationStatus`) by name;
- a TaskScheduled / SubOrchestrationInstanceCreated merged into its completion or failure
  (`FunctionName`, `ScheduledTime`, and its `Input` when showInput) and then removed;
  the completion loses `TaskScheduledId`;
- ExecutionStarted's `Name` becomes `FunctionName`; `OrchestrationInstance`,
  `ParentInstance`, `Version` and `Tags` go; TaskScheduled and SubOrchestrationInstanceCreated
  lose `Version`; TimerFired loses `TimerId`;
- `Result` of TaskCompleted, SubOrchestrationInstanceCompleted and ExecutionCompleted only
  with showHistoryOutput, parsed from its JSON text;
- `Input` only with showInput; `EventId` and `IsPlayed` never;
- the OrchestratorStarted / OrchestratorCompleted episode markers removed.
"""

from __future__ import annotations

from typing import Any

from .history import RETRY_STATE_FIELD, EventType
from .payloads import parse_stored

_SCHEDULES = {
    EventType.TaskCompleted: EventType.TaskScheduled,
    EventType.TaskFailed: EventType.TaskScheduled,
    EventType.SubOrchestrationInstanceCompleted: EventType.SubOrchestrationInstanceCreated,
    EventType.SubOrchestrationInstanceFailed: EventType.SubOrchestrationInstanceCreated,
}
_RESULTS = frozenset(
    {
        EventType.TaskCompleted,
        EventType.SubOrchestrationInstanceCompleted,
        EventType.ExecutionCompleted,
    }
)
_DROPPED: dict[EventType, tuple[str, ...]] = {
    EventType.TaskScheduled: ("Version",),
    EventType.SubOrchestrationInstanceCreated: ("Version",),
    EventType.ExecutionStarted: ("OrchestrationInstance", "ParentInstance", "Version", "Tags"),
    EventType.TimerFired: ("TimerId",),
}


def host_history(
    events: list[dict[str, Any]], *, show_output: bool, show_input: bool
) -> list[dict[str, Any]]:
    shown: list[dict[str, Any] | None] = []
    scheduled: dict[tuple[EventType, int], int] = {}  # (kind, EventId) -> index in shown
    for raw in events:
        kind = EventType(raw["EventType"])
        if kind in (EventType.OrchestratorStarted, EventType.OrchestratorCompleted):
            continue
        item = {k: v for k, v in raw.items() if k not in ("EventId", "IsPlayed", RETRY_STATE_FIELD)}
        item["EventType"] = kind.name
        for key in _DROPPED.get(kind, ()):
            item.pop(key, None)
        if kind is EventType.ExecutionStarted and "Name" in item:
            item["FunctionName"] = item.pop("Name")
        if kind in (EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated):
            scheduled[(kind, int(raw.get("EventId", -1)))] = len(shown)
        source_kind = _SCHEDULES.get(kind)
        if source_kind is not None:
            index = scheduled.get((source_kind, int(item.pop("TaskScheduledId", -2))))
            source = shown[index] if index is not None else None
            if source is not None and index is not None:
                item["ScheduledTime"] = source["Timestamp"]
                item["FunctionName"] = source.get("Name")
                if show_input:
                    item["Input"] = source.get("Input")
                shown[index] = None
        if kind in _RESULTS:
            if show_output:
                # This runtime keeps ExecutionCompleted's result as a value, the others as
                # JSON text (as the orchestrator replays them).
                if kind is not EventType.ExecutionCompleted:
                    item["Result"] = parse_stored(item.get("Result"))
            else:
                item.pop("Result", None)
        if not show_input:
            item.pop("Input", None)
        shown.append(item)
    return [item for item in shown if item is not None]
