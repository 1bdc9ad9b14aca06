"""An episode's endings: finished, failed, terminated, continued as new; the parent told."""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from .episode_base import EpisodeBase
from .history import EventType, event
from .instances import EVENT
from .statuses import RuntimeStatus


class EpisodeEndings(EpisodeBase):
    # -- endings ------------------------------------------------------------------

    def _finish(
        self, status: RuntimeStatus, output_json: str | None, failure: tuple[str, str] | None = None
    ) -> list[dict[str, Any]]:
        row = self.row
        row.status = status
        row.output = output_json
        completed = event(
            EventType.ExecutionCompleted,
            self.now,
            OrchestrationStatus=status,
            Result=json.loads(output_json) if output_json else None,
            FailureDetails=(
                {"ErrorType": "OrchestrationFailureException", "ErrorMessage": failure[0]}
                if failure
                else None
            ),
        )
        self._notify_parent(status, output_json, failure)
        return [completed]

    def _notify_parent(
        self, status: RuntimeStatus, output_json: str | None, failure: tuple[str, str] | None
    ) -> None:
        row = self.row
        if not row.parent_instance_id or row.parent_task_id is None:
            return
        retry = self._retry_of_child()
        if status == RuntimeStatus.Completed:
            body = event(
                EventType.SubOrchestrationInstanceCompleted,
                self.now,
                TaskScheduledId=row.parent_task_id,
                Result=output_json,
            )
            meta = None
        else:
            reason = (
                failure[0]
                if failure
                else f"Sub-orchestration {row.instance_id} was {status.lower()}"
            )
            body = event(
                EventType.SubOrchestrationInstanceFailed,
                self.now,
                TaskScheduledId=row.parent_task_id,
                Reason=reason,
                Details=failure[1] if failure else None,
            )
            meta = {"retry": retry} if retry else None
        self.rt._enqueue(
            row.parent_instance_id, EVENT, body, execution_id=row.parent_execution_id, meta=meta
        )

    def _retry_of_child(self) -> dict[str, Any] | None:
        retry: dict[str, Any] | None = (
            json.loads(self.row.parent_retry) if self.row.parent_retry else None
        )
        return retry

    def _terminate(self, reason: str | None) -> None:
        row = self.row
        text = reason or ""
        completed = self._finish(RuntimeStatus.Terminated, json.dumps(text))
        self._append(
            [
                event(EventType.OrchestratorStarted, self.now),
                event(EventType.ExecutionTerminated, self.now, Input=text),
                self._marker(EventType.OrchestratorCompleted),
                *completed,
            ]
        )
        self.store.delete_activities(row.instance_id, row.execution_id)
        self.rt._activities = deque(
            a for a in self.rt._activities if a.instance_id != row.instance_id
        )
        self._save()

    def _continue_as_new(self, input_json: str | None) -> None:
        row = self.row
        self.store.clear_history(row.instance_id)
        self.store.delete_execution_inbox(row.instance_id)
        self.store.delete_activities(row.instance_id)
        self.rt._activities = deque(
            a for a in self.rt._activities if a.instance_id != row.instance_id
        )
        parent = (
            (row.parent_instance_id, row.parent_execution_id or "", row.parent_task_id)
            if row.parent_instance_id and row.parent_task_id is not None
            else None
        )
        custom_status = row.custom_status
        self.rt._write_start(
            row.name,
            row.instance_id,
            input_json,
            parent,
            row.version,
            status=RuntimeStatus.ContinuedAsNew,
            parent_retry=self._retry_of_child(),
            continuing=True,
        )
        # External events that arrived meanwhile stay in the inbox for the new execution;
        # the custom status carries over until the new execution sets its own.
        fresh = self.store.get_instance(row.instance_id)
        assert fresh is not None
        fresh.custom_status = custom_status
        self.store.put_instance(fresh)
        self.row = fresh
