"""One orchestration episode: the inbox consumed, the orchestrator replayed, its actions
scheduled and its ending recorded, in the caller's transaction."""

from __future__ import annotations

import json
import logging
from typing import Any

from .episode_actions import EpisodeActions
from .episode_endings import EpisodeEndings
from .history import EventType, event
from .instances import EVENT, RESUME, START, SUSPEND, TERMINATE
from .payloads import stored_input
from .replay import (
    ActionType,
    EpisodeResult,
    build_context,
    run_orchestrator,
)
from .statuses import FINISHED, RUNNING, RuntimeStatus
from .store import InboxItem

logger = logging.getLogger("embedded_functions.durable")


class Episode(EpisodeActions, EpisodeEndings):
    """One orchestration episode for one instance, inside the caller's transaction."""

    def run(self) -> bool:
        """Process what can be processed; True if visible items remain for another episode."""
        try:
            self._run()
        finally:
            self.store.delete_inbox(self.consumed)
        left = {i.id for i in self.items} - set(self.consumed)
        return bool(left) and self.row.status != RuntimeStatus.Suspended

    def _run(self) -> None:
        row = self.row
        controls = [i for i in self.items if i.kind in (TERMINATE, SUSPEND, RESUME)]
        terminate = next((i for i in controls if i.kind == TERMINATE), None)
        if terminate is not None:
            for item in controls:
                self._consume(item)
            if row.status in RUNNING:
                self._terminate(terminate.event.get("reason"))
            return
        for item in controls:
            self._consume(item)
            if row.status in FINISHED:
                continue
            if item.kind == SUSPEND and row.status != RuntimeStatus.Suspended:
                row.status = RuntimeStatus.Suspended
                self._append(
                    [self._marker(EventType.ExecutionSuspended, Reason=item.event.get("reason"))]
                )
            elif item.kind == RESUME and row.status == RuntimeStatus.Suspended:
                row.status = RuntimeStatus.Running
                self._append(
                    [self._marker(EventType.ExecutionResumed, Reason=item.event.get("reason"))]
                )
        if controls:
            self._save()
        if row.status == RuntimeStatus.Suspended:
            return
        events = [i for i in self.items if i.kind in (START, EVENT)]
        history = self.store.history(row.instance_id)
        if not history:
            starts = [i for i in events if i.kind == START]
            if not starts:
                if row.status in FINISHED:
                    for item in events:
                        self._consume(item)
                return
            first = starts[0]
            # Later starts for the same new execution were acknowledged too: they are
            # dropped here, as DurableTask.AzureStorage drops a duplicate ExecutionStarted.
            for duplicate in starts[1:]:
                self._drop(duplicate, "duplicate ExecutionStarted for a running instance")
            row.execution_id = first.execution_id or row.execution_id
            row.input = first.event.get("Input")
            parent = first.meta.get("parent")
            if parent:
                row.parent_instance_id, row.parent_execution_id, row.parent_task_id = parent
            row.created_time = first.event["Timestamp"]
            row.status = RuntimeStatus.Running
            row.next_event_id = 0
            row.scheduled_actions = 0
            row.output = None
            batch = [first] + [i for i in events if i.kind == EVENT and self._current(i)]
            batch = self._cut(batch, keep_first=True)
        else:
            if row.status in FINISHED:
                for item in events:
                    self._drop(item, f"instance is {row.status}")
                return
            usable = []
            for item in events:
                if item.kind == START:
                    self._drop(item, "duplicate ExecutionStarted for a running instance")
                elif not self._current(item):
                    self._drop(item, "event for an earlier execution")
                else:
                    usable.append(item)
            if not usable:
                self._save()
                return
            batch = self._cut(usable, keep_first=False)
        for item in batch:
            self._consume(item)
        self._replay(history, batch)

    def _current(self, item: InboxItem) -> bool:
        return item.execution_id is None or item.execution_id == self.row.execution_id

    def _drop(self, item: InboxItem, why: str) -> None:
        logger.info(
            "dropping %s for %s: %s", item.event.get("EventType"), self.row.instance_id, why
        )
        self._consume(item)

    @staticmethod
    def _cut(items: list[InboxItem], *, keep_first: bool) -> list[InboxItem]:
        """At most one retry event per episode, and first among its new events.

        The SDK numbers a retry's timer (or its next attempt) when it replays the event, and
        numbers the tasks user code schedules afterwards. Ordering the batch this way lets
        the runtime number them the same: the retry's ID now, the new actions' IDs after the
        orchestrator has run.
        """
        start = 1 if keep_first else 0
        if len(items) <= start:
            return items
        batch = items[:start]
        for index, item in enumerate(items[start:]):
            retry = bool(item.meta.get("retry") or item.meta.get("retryTimer"))
            if retry and (index > 0 or start > 0):
                break
            batch.append(item)
            if retry:
                # Only ordinary events may follow a retry event in one episode.
                for rest in items[start + index + 1 :]:
                    if rest.meta.get("retry") or rest.meta.get("retryTimer"):
                        break
                    batch.append(rest)
                break
        return batch

    # -- replay -------------------------------------------------------------------

    def _replay(self, history: list[dict[str, Any]], batch: list[InboxItem]) -> None:
        row = self.row
        new_events = [i.event for i in batch]
        scheduling: list[dict[str, Any]] = []
        lead = batch[0]
        if lead.meta.get("retry"):
            scheduling += self._retry_timer(lead)
        elif lead.meta.get("retryTimer"):
            scheduling += self._retry_attempt(lead)
        function = self.rt.functions.orchestrator(row.name)
        started = event(EventType.OrchestratorStarted, self.now)
        if function is None:
            result = EpisodeResult(
                is_done=False, error=f"The orchestrator function '{row.name}' is not in this app"
            )
        else:
            context = build_context(
                instance_id=row.instance_id,
                input_json=row.input,
                past=history,
                new=[started, *new_events],
                parent_instance_id=row.parent_instance_id,
            )
            result = run_orchestrator(function.function, context)
        if result.has_custom_status and result.custom_status is not None:
            row.custom_status = json.dumps(result.custom_status)
        completed: list[dict[str, Any]] = []
        if result.error is None:
            scheduling += self._schedule(result)
        unsupported = self._unsupported
        if result.error is not None or unsupported:
            message = result.error or f"the embedded runtime does not support {unsupported}"
            text = f"Orchestrator function '{row.name}' failed: {message}"
            completed = self._finish(
                RuntimeStatus.Failed, json.dumps(text), failure=(text, message)
            )
        elif result.is_done:
            continued = next(
                (a for a in result.actions if a.get("actionType") == ActionType.ContinueAsNew),
                None,
            )
            if continued is not None:
                self._continue_as_new(stored_input(continued.get("input")))
                return
            completed = self._finish(RuntimeStatus.Completed, json.dumps(result.output))
        else:
            row.status = RuntimeStatus.Running
        self._append(
            [
                started,
                *new_events,
                *scheduling,
                self._marker(EventType.OrchestratorCompleted),
                *completed,
            ]
        )
        self._save()
