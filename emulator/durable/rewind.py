"""Rewind of a Failed instance, as DurableTask.AzureStorage rewinds one.

The host (HttpApiHandler.HandleRewindInstanceRequestAsync): 404 for an unknown instance,
410 Gone for Completed, Terminated and Canceled; otherwise DurableClient.RewindAsync, which
throws InvalidOperationException unless the instance is Failed (the handler's catch-all
answers 500), then asks the backend to rewind and answers 202.

The backend rewrites the history: the failures are taken out (AzureStorage marks them as
GenericEvents), failed sub-orchestrations are rewound too, and the instance is woken so its
orchestrator replays and the failed work runs again. Here: the TaskFailed and
SubOrchestrationInstanceFailed events and the ExecutionCompleted are removed, each failed
activity is queued again under its task ID, each Failed sub-orchestration is rewound, and a
GenericEvent ("Rewound: <reason>", which the SDK ignores) wakes the orchestrator.
"""

from __future__ import annotations

from typing import Any

from .history import EventType, event
from .runtime import EVENT, DurableRuntime
from .store import ActivityItem


class NotFailed(Exception):
    """DurableClient.RewindAsync's InvalidOperationException."""


def rewind(runtime: DurableRuntime, instance_id: str, reason: str | None) -> None:
    with runtime.store.transaction():
        _rewind(runtime, instance_id, reason or "")


def _rewind(runtime: DurableRuntime, instance_id: str, reason: str) -> None:
    store = runtime.store
    row = store.get_instance(instance_id)
    if row is None or row.status != "Failed":
        raise NotFailed("The rewind operation is only supported on failed orchestration instances.")
    history = store.history(instance_id)
    scheduled = {
        int(e["EventId"]): e
        for e in history
        if e["EventType"] in (EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated)
    }
    kept: list[dict[str, Any]] = []
    activities: list[dict[str, Any]] = []
    children: list[str] = []
    for item in history:
        kind = item["EventType"]
        if kind == EventType.ExecutionCompleted:
            continue
        if kind in (EventType.TaskFailed, EventType.SubOrchestrationInstanceFailed):
            source = scheduled.get(int(item.get("TaskScheduledId", -1)))
            if source is not None and source["EventType"] == EventType.TaskScheduled:
                activities.append(source)
                continue
            if source is not None and source.get("InstanceId"):
                child = store.get_instance(str(source["InstanceId"]))
                if child is not None and child.status == "Failed":
                    children.append(child.instance_id)
                    continue
        kept.append(item)
    store.clear_history(instance_id)
    store.append_history(instance_id, kept)
    row.status = "Running"
    row.output = None
    store.put_instance(row)
    for source in activities:
        task_id, name, payload = int(source["EventId"]), str(source["Name"]), source.get("Input")
        activity_id = store.add_activity(
            instance_id, row.execution_id, task_id, name, payload, None
        )
        runtime._activities.append(
            ActivityItem(activity_id, instance_id, row.execution_id, task_id, name, payload, {})
        )
    for child_id in children:
        _rewind(runtime, child_id, reason)
    marker = event(EventType.GenericEvent, runtime.clock.now(), Data=f"Rewound: {reason}")
    runtime._enqueue(instance_id, EVENT, marker, execution_id=row.execution_id)
