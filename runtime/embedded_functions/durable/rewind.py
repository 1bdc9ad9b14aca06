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
GenericEvent ("Rewound: <reason>", which the SDK ignores) wakes the orchestrator. Of a call
with retry options, the last attempt runs again with its retries still ahead of it (its
failure and the retry timer after it are removed).
"""

from __future__ import annotations

from typing import Any

from .history import RETRY_STATE_FIELD, EventType, event
from .instances import EVENT
from .runtime import DurableRuntime
from .statuses import RuntimeStatus
from .store import ActivityItem


class NotFailed(Exception):
    """DurableClient.RewindAsync's InvalidOperationException."""


def rewind(runtime: DurableRuntime, instance_id: str, reason: str | None) -> None:
    with runtime.store.transaction():
        _rewind(runtime, instance_id, reason or "")


def _rewind(runtime: DurableRuntime, instance_id: str, reason: str) -> None:
    store = runtime.store
    row = store.get_instance(instance_id)
    if row is None or row.status != RuntimeStatus.Failed:
        raise NotFailed("The rewind operation is only supported on failed orchestration instances.")
    history = store.history(instance_id)
    scheduled = {
        int(e["EventId"]): e
        for e in history
        if e["EventType"] in (EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated)
    }
    dropped: set[int] = set()  # indexes into history
    activities: list[dict[str, Any]] = []
    children: list[str] = []
    freed_ids: list[int] = []
    for index, item in enumerate(history):
        kind = item["EventType"]
        if kind == EventType.ExecutionCompleted:
            dropped.add(index)
            continue
        if kind not in (EventType.TaskFailed, EventType.SubOrchestrationInstanceFailed):
            continue
        source = scheduled.get(int(item.get("TaskScheduledId", -1)))
        if source is None:
            continue
        retry = source.get(RETRY_STATE_FIELD)
        if retry is not None:
            if _retried_later(history, retry, int(source["EventId"])):
                continue  # an earlier attempt of a call that retried: it stays failed
            if source["EventType"] != EventType.TaskScheduled:
                continue  # a sub-orchestration's retries are not rewound (README)
            # The last attempt runs again, its retries still ahead of it: its failure and
            # the retry timer that followed it go.
            timer = _retry_timer_after(history, index)
            if timer is not None:
                dropped.update(timer)
                freed_ids.append(int(history[timer[0]]["EventId"]))
        if source["EventType"] == EventType.TaskScheduled:
            activities.append(source)
            dropped.add(index)
            continue
        child = store.get_instance(str(source.get("InstanceId")))
        if child is not None and child.status == RuntimeStatus.Failed:
            children.append(child.instance_id)
            dropped.add(index)
    kept = [item for index, item in enumerate(history) if index not in dropped]
    if freed_ids and max(freed_ids) == row.next_event_id - 1:
        # The SDK numbers a retry timer when it replays the failure: the removed timers'
        # IDs are the ones it will give the next ones.
        row.next_event_id = min(freed_ids)
    store.clear_history(instance_id)
    store.append_history(instance_id, kept)
    row.status = RuntimeStatus.Running
    row.output = None
    store.put_instance(row)
    for source in activities:
        task_id, name, payload = int(source["EventId"]), str(source["Name"]), source.get("Input")
        retry = source.get(RETRY_STATE_FIELD)
        meta = {"retry": retry} if retry is not None else {}
        activity_id = store.add_activity(
            instance_id, row.execution_id, task_id, name, payload, meta or None
        )
        runtime._activities.append(
            ActivityItem(activity_id, instance_id, row.execution_id, task_id, name, payload, meta)
        )
    for child_id in children:
        _rewind(runtime, child_id, reason)
    marker = event(EventType.GenericEvent, runtime.clock.now(), Data=f"Rewound: {reason}")
    runtime._enqueue(instance_id, EVENT, marker, execution_id=row.execution_id)


def _retried_later(history: list[dict[str, Any]], retry: dict[str, Any], task_id: int) -> bool:
    """Whether a later attempt of the same call with retry options was scheduled."""
    first = retry.get("firstTaskId")
    return any(
        int(e.get("EventId", -1)) > task_id
        and (e.get(RETRY_STATE_FIELD) or {}).get("firstTaskId") == first
        for e in history
        if e["EventType"] in (EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated)
    )


def _retry_timer_after(history: list[dict[str, Any]], failed_at: int) -> list[int] | None:
    """The retry timer the runtime created on a retried failure (the first TimerCreated of
    the same episode) and its TimerFired: their indexes in history."""
    for index in range(failed_at + 1, len(history)):
        kind = history[index]["EventType"]
        if kind == EventType.OrchestratorCompleted:
            return None
        if kind == EventType.TimerCreated:
            timer_id = int(history[index]["EventId"])
            fired = [
                i
                for i in range(index + 1, len(history))
                if history[i]["EventType"] == EventType.TimerFired
                and int(history[i].get("TimerId", -1)) == timer_id
            ]
            return [index, *fired]
    return None
