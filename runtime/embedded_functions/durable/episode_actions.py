"""An episode's actions scheduled: activities, timers, sub-orchestrations, retries."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .episode_base import EpisodeBase
from .history import RETRY_STATE_FIELD, EventType, event, parse_time, timestamp
from .instances import EVENT
from .payloads import stored_input
from .replay import (
    SUPPORTED,
    ActionType,
    EpisodeResult,
    action_name,
    takes_task_id,
)
from .statuses import RUNNING
from .store import ActivityItem, InboxItem


class EpisodeActions(EpisodeBase):
    def _schedule(self, result: EpisodeResult) -> list[dict[str, Any]]:
        row = self.row
        numbered = [a for a in result.actions if takes_task_id(a)]
        created: list[dict[str, Any]] = []
        for action in result.actions:
            kind = action.get("actionType")
            if kind not in SUPPORTED:
                self._unsupported = action_name(action)
                return []
        for action in numbered[row.scheduled_actions :]:
            task_id = row.next_event_id
            row.next_event_id += 1
            kind = action.get("actionType")
            if kind in (ActionType.CallActivity, ActionType.CallActivityWithRetry):
                meta = _retry_meta(action, task_id)
                created.append(self._schedule_activity(task_id, action, meta))
            elif kind == ActionType.CreateTimer:
                created.append(self._schedule_timer(task_id, action))
            elif kind in (ActionType.CallSubOrchestrator, ActionType.CallSubOrchestratorWithRetry):
                meta = _retry_meta(action, task_id)
                created.append(self._schedule_sub(task_id, action, meta))
            elif kind in (ActionType.CallEntity, ActionType.SignalEntity):
                call = kind == ActionType.CallEntity
                sent = self.rt.entities.scheduled(row, task_id, action, self.now, call=call)
                created.append(sent)
        row.scheduled_actions = len(numbered)
        return created

    def _schedule_activity(
        self, task_id: int, action: dict[str, Any], meta: dict[str, Any] | None
    ) -> dict[str, Any]:
        name = str(action.get("functionName"))
        scheduled = event(
            EventType.TaskScheduled,
            self.now,
            task_id,
            Name=name,
            Input=action.get("input"),
            **({RETRY_STATE_FIELD: meta["retry"]} if meta else {}),
        )
        activity_id = self.store.add_activity(
            self.row.instance_id, self.row.execution_id, task_id, name, action.get("input"), meta
        )
        self.rt._activities.append(
            ActivityItem(
                activity_id,
                self.row.instance_id,
                self.row.execution_id,
                task_id,
                name,
                action.get("input"),
                meta or {},
            )
        )
        self.rt._wake.set()
        return scheduled

    def _schedule_timer(self, task_id: int, action: dict[str, Any]) -> dict[str, Any]:
        fire_at = parse_time(str(action["fireAt"]))
        return self._timer(task_id, fire_at, fires=not action.get("isCanceled"))

    def _timer(
        self,
        task_id: int,
        fire_at: datetime,
        *,
        fires: bool = True,
        meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """TimerCreated now, and (unless canceled) TimerFired in the inbox at `fire_at`."""
        created = event(EventType.TimerCreated, self.now, task_id, FireAt=timestamp(fire_at))
        if fires:
            fired = event(EventType.TimerFired, fire_at, TimerId=task_id, FireAt=timestamp(fire_at))
            self.rt._enqueue(
                self.row.instance_id,
                EVENT,
                fired,
                visible_at=timestamp(fire_at),
                execution_id=self.row.execution_id,
                meta=meta,
            )
        return created

    def _schedule_sub(
        self, task_id: int, action: dict[str, Any], meta: dict[str, Any] | None
    ) -> dict[str, Any]:
        name = str(action.get("functionName"))
        sub_id = action.get("instanceId") or f"{self.row.instance_id}:{task_id:04d}"
        created = event(
            EventType.SubOrchestrationInstanceCreated,
            self.now,
            task_id,
            Name=name,
            InstanceId=sub_id,
            Input=action.get("input"),
            **({RETRY_STATE_FIELD: meta["retry"]} if meta else {}),
        )
        parent = (self.row.instance_id, self.row.execution_id, task_id)
        function = self.rt.functions.orchestrator(name)
        existing = self.store.get_instance(sub_id)
        failure = None
        if function is None:
            failure = (
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator "
                "function."
            )
        elif existing is not None and existing.status in RUNNING:
            failure = f"An Orchestration instance with the status {existing.status} already exists."
        if failure is not None:
            failed = event(
                EventType.SubOrchestrationInstanceFailed,
                self.now,
                TaskScheduledId=task_id,
                Reason=failure,
                Details=None,
            )
            self.rt._enqueue(
                self.row.instance_id,
                EVENT,
                failed,
                execution_id=self.row.execution_id,
                meta={"retry": meta["retry"]} if meta else None,
            )
            return created
        assert function is not None
        self.rt._write_start(
            function.name,
            sub_id,
            stored_input(action.get("input")),
            parent,
            "",
            parent_retry=meta["retry"] if meta else None,
        )
        return created

    def _retry_timer(self, lead: InboxItem) -> list[dict[str, Any]]:
        """A retryable task failed: a timer before the next attempt (also after the last,
        which the SDK waits for before it fails the task, as DurableTask.Core does)."""
        retry = dict(lead.meta["retry"])
        task_id = self.row.next_event_id
        self.row.next_event_id += 1
        fire_at = self.now + timedelta(milliseconds=int(retry["intervalMs"]))
        return [self._timer(task_id, fire_at, meta={"retryTimer": retry})]

    def _retry_attempt(self, lead: InboxItem) -> list[dict[str, Any]]:
        retry = dict(lead.meta["retryTimer"])
        if int(retry["attempt"]) >= int(retry["max"]):
            return []  # the SDK now fails the task
        task_id = self.row.next_event_id
        self.row.next_event_id += 1
        retry["attempt"] = int(retry["attempt"]) + 1
        action = retry["action"]
        meta = {"retry": retry}
        if action.get("actionType") in (ActionType.CallActivity, ActionType.CallActivityWithRetry):
            return [self._schedule_activity(task_id, action, meta)]
        return [self._schedule_sub(task_id, action, meta)]


def _retry_meta(action: dict[str, Any], task_id: int) -> dict[str, Any] | None:
    options = action.get("retryOptions")
    if not options:
        return None
    return {
        "retry": {
            "max": int(options.get("maxNumberOfAttempts", 1)),
            "intervalMs": int(options.get("firstRetryIntervalInMilliseconds", 0)),
            "attempt": 1,
            "action": action,
            "firstTaskId": task_id,
        }
    }
