"""The embedded Durable runtime: client operations, orchestration episodes, activities, timers.

Episodes run on the event loop, one at a time per process (orchestrator code is
deterministic and quick by contract); activities run concurrently, async ones on the loop
and the others on a thread pool, as the Python worker runs them. Every state change is one
SQLite transaction, so a killed process resumes where its last commit left it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from functools import partial
from typing import Any

from azure.functions import _durable_functions as df_codec

from ..app_loader import FunctionIndex, FunctionInfo
from ..clock import RuntimeClock
from .activity_errors import user_traceback
from .entities import Entities, is_entity_id
from .history import RETRY_STATE_FIELD, EventType, event, parse_time, status_time, timestamp
from .history_view import host_history
from .payloads import parse_stored, stored_input
from .replay import (
    SUPPORTED,
    ActionType,
    EpisodeResult,
    action_name,
    build_context,
    run_orchestrator,
    takes_task_id,
)
from .store import ActivityItem, DurableStore, InboxItem, InstanceRow

logger = logging.getLogger("emulator.durable")

RUNNING = frozenset({"Pending", "Running", "Suspended", "ContinuedAsNew"})
FINISHED = frozenset({"Completed", "Failed", "Terminated", "Canceled"})

START, EVENT, TERMINATE, SUSPEND, RESUME = "start", "event", "terminate", "suspend", "resume"


class StartMode(str, Enum):
    """How a start of an existing ID is checked.

    `azure-storage` (the default backend in Azure): the status is read, then the start is
    written, as DurableTask.AzureStorage does; two truly concurrent starts of one new ID
    can both be acknowledged while only the first input runs. `atomic` (MSSQL, Netherite,
    Durable Task Scheduler): check and write in one transaction.
    """

    AZURE_STORAGE = "azure-storage"
    ATOMIC = "atomic"


class UnknownOrchestrator(ValueError):
    pass


class InstanceExists(Exception):
    pass


class UnknownInstance(LookupError):
    pass


@dataclass
class ListQuery:
    created_from: str | None = None
    created_to: str | None = None
    statuses: list[str] | None = None
    prefix: str | None = None
    after: str | None = None
    limit: int | None = None
    show_input: bool = True


class DurableRuntime:
    def __init__(
        self,
        functions: FunctionIndex,
        store: DurableStore,
        clock: RuntimeClock,
        *,
        start_mode: StartMode = StartMode.AZURE_STORAGE,
        hub_name: str = "TestHubName",
        client_binding: Callable[[], str] | None = None,
        max_activities: int = 32,
    ) -> None:
        self.functions = functions
        self.store = store
        self.clock = clock
        self.start_mode = StartMode(start_mode)
        self.hub_name = hub_name
        self.client_binding = client_binding
        self.max_activities = max_activities
        self._ready: set[str] = set()
        self._busy: set[str] = set()
        self._timers: list[tuple[str, str]] = []
        self._activities: deque[ActivityItem] = deque()
        self._running_activities: set[int] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(
            max_workers=max_activities, thread_name_prefix="activity"
        )
        self._idle = asyncio.Event()
        self.entities = Entities(self)

    # -- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Load pending work left by an earlier process, then start dispatching."""
        now = timestamp(self.clock.now())
        for instance_id in self.store.instances_with_visible_inbox(now):
            self._ready.add(instance_id)
        for item_instance, visible in self.store.future_inbox(now):
            heapq.heappush(self._timers, (visible, item_instance))
        self._activities.extend(self.store.activities())
        self._loop_task = asyncio.create_task(self._dispatch_loop(), name="durable-dispatch")

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def wake(self) -> None:
        self._wake.set()

    async def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until no episode or activity is runnable (tests)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self._is_idle():
                return
            await asyncio.sleep(0.01)
        raise TimeoutError("the durable runtime did not go idle")

    def _is_idle(self) -> bool:
        now = timestamp(self.clock.now())
        due = bool(self._timers) and self._timers[0][0] <= now
        return not (
            self._ready or self._busy or self._activities or self._running_activities or due
        )

    # -- dispatch ---------------------------------------------------------------------

    async def _dispatch_loop(self) -> None:
        while True:
            self._wake.clear()
            now = timestamp(self.clock.now())
            while self._timers and self._timers[0][0] <= now:
                _, instance_id = heapq.heappop(self._timers)
                self._ready.add(instance_id)
            for instance_id in list(self._ready - self._busy):
                self._ready.discard(instance_id)
                self._busy.add(instance_id)
                try:
                    self._episode(instance_id)
                except Exception:
                    logger.exception("episode of %s failed; retrying in a second", instance_id)
                    later = timestamp(self.clock.now() + timedelta(seconds=1))
                    heapq.heappush(self._timers, (later, instance_id))
                finally:
                    self._busy.discard(instance_id)
                await asyncio.sleep(0)  # let HTTP requests in between episodes
            while self._activities and len(self._running_activities) < self.max_activities:
                item = self._activities.popleft()
                self._running_activities.add(item.id)
                self._spawn(self._run_activity(item))
            if self._ready - self._busy:
                continue
            if (
                self.clock.time_skipping
                and not self._running_activities
                and not self._activities
                and self._timers
            ):
                self.clock.skip_to(parse_time(self._timers[0][0]))
                continue
            timeout = None
            if self._timers:
                due = parse_time(self._timers[0][0]) - self.clock.now()
                timeout = max(0.0, due.total_seconds())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _mark_ready(self, instance_id: str, visible_at: str | None = None) -> None:
        if visible_at is not None and visible_at > timestamp(self.clock.now()):
            heapq.heappush(self._timers, (visible_at, instance_id))
        else:
            self._ready.add(instance_id)
        self._wake.set()

    def _enqueue(
        self,
        instance_id: str,
        kind: str,
        body: dict[str, Any],
        *,
        visible_at: str | None = None,
        execution_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        when = visible_at or timestamp(self.clock.now())
        self.store.enqueue(instance_id, kind, body, when, execution_id=execution_id, meta=meta)
        self._mark_ready(instance_id, when)

    # -- client operations ------------------------------------------------------------

    async def start_new(
        self,
        name: str,
        instance_id: str | None,
        input_json: str | None,
        *,
        parent: tuple[str, str, int] | None = None,
        version: str = "",
    ) -> str:
        """Start (or replace a finished) instance; raise InstanceExists if one runs."""
        function = self.functions.orchestrator(name)
        if function is None:
            raise UnknownOrchestrator(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator "
                "function. Additional info: the embedded runtime's app has the orchestrators "
                + ", ".join(f.name for f in self.functions.of_type("orchestrationTrigger"))
            )
        instance_id = instance_id or uuid.uuid4().hex
        if is_entity_id(instance_id):
            raise UnknownOrchestrator("Orchestration instance ids must not start with @.")
        if self.start_mode is StartMode.ATOMIC:
            with self.store.transaction():
                self._check_not_running(instance_id)
                self._write_start(function.name, instance_id, input_json, parent, version)
        else:
            # DurableTask.AzureStorage reads the instance's status, then (another round trip
            # later) writes the start message: a start racing in between passes the check.
            self._check_not_running(instance_id)
            await asyncio.sleep(0)
            with self.store.transaction():
                self._write_start(function.name, instance_id, input_json, parent, version)
        return instance_id

    def _check_not_running(self, instance_id: str) -> None:
        row = self.store.get_instance(instance_id)
        if row is not None and row.status in RUNNING:
            raise InstanceExists(
                f"An Orchestration instance with the status {row.status} already exists."
            )

    def _write_start(
        self,
        name: str,
        instance_id: str,
        input_json: str | None,
        parent: tuple[str, str, int] | None,
        version: str,
        *,
        status: str = "Pending",
        parent_retry: dict[str, Any] | None = None,
        continuing: bool = False,
    ) -> None:
        now = self.clock.now()
        execution_id = uuid.uuid4().hex
        existing = self.store.get_instance(instance_id)
        if existing is not None and existing.status in FINISHED:
            # A finished instance is replaced: a new execution, a fresh history.
            self.store.delete_instance(instance_id)
            existing = None
        row = InstanceRow(
            instance_id=instance_id,
            name=name,
            execution_id=execution_id,
            status=status,
            input=input_json,
            output=None,
            custom_status=None,
            created_time=timestamp(now),
            last_updated_time=timestamp(now),
            parent_instance_id=parent[0] if parent else None,
            parent_execution_id=parent[1] if parent else None,
            parent_task_id=parent[2] if parent else None,
            version=version,
            parent_retry=json.dumps(parent_retry) if parent_retry else None,
        )
        if existing is None or continuing:
            self.store.put_instance(row)
        # Otherwise a start raced past the status check (azure-storage mode): the instance
        # row stays as the first start wrote it and only the start message is queued. The
        # episode runs the first ExecutionStarted and drops the others, as the backend does.
        started = event(
            EventType.ExecutionStarted,
            now,
            Name=name,
            Input=input_json,
            Version=version,
            OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
            ParentInstance=(
                {"OrchestrationInstance": {"InstanceId": parent[0], "ExecutionId": parent[1]}}
                if parent
                else None
            ),
        )
        meta = {"parent": list(parent) if parent else None, "version": version}
        self._enqueue(instance_id, START, started, execution_id=execution_id, meta=meta)

    def get_status(
        self,
        instance_id: str,
        *,
        show_history: bool = False,
        show_history_output: bool = False,
        show_input: bool = True,
    ) -> dict[str, Any] | None:
        row = self.store.get_instance(instance_id)
        if row is None:
            return None
        status = status_json(row, show_input=show_input)
        if show_history:
            status["historyEvents"] = host_history(
                self.store.history(instance_id),
                show_output=show_history_output,
                show_input=show_input,
            )
        return status

    def list_instances(self, query: ListQuery) -> tuple[list[dict[str, Any]], str | None]:
        limit = query.limit + 1 if query.limit else None
        rows = self.store.list_instances(
            created_from=query.created_from,
            created_to=query.created_to,
            statuses=query.statuses,
            prefix=query.prefix,
            after=query.after,
            limit=limit,
        )
        token = None
        if query.limit and len(rows) > query.limit:
            rows = rows[: query.limit]
            token = rows[-1].instance_id
        return [status_json(r, show_input=query.show_input) for r in rows], token

    def raise_event(self, instance_id: str, name: str, data_json: str | None) -> None:
        body = event(EventType.EventRaised, self.clock.now(), Name=name, Input=data_json)
        with self.store.transaction():
            self._enqueue(instance_id, EVENT, body)

    def terminate(self, instance_id: str, reason: str | None) -> None:
        with self.store.transaction():
            self._enqueue(instance_id, TERMINATE, {"reason": reason})

    def suspend(self, instance_id: str, reason: str | None) -> None:
        with self.store.transaction():
            self._enqueue(instance_id, SUSPEND, {"reason": reason})

    def resume(self, instance_id: str, reason: str | None) -> None:
        with self.store.transaction():
            self._enqueue(instance_id, RESUME, {"reason": reason})

    def purge(self, instance_id: str) -> int:
        with self.store.transaction():
            row = self.store.get_instance(instance_id)
            if row is None:
                return 0
            self.store.delete_instance(instance_id)
        return 1

    def purge_by(
        self, created_from: str, created_to: str | None, statuses: list[str] | None
    ) -> int:
        wanted = [s for s in (statuses or sorted(FINISHED)) if s in FINISHED]
        if not wanted:
            return 0  # only statuses no finished instance has (an undefined number, say)
        with self.store.transaction():
            rows = self.store.list_instances(
                created_from=created_from, created_to=created_to, statuses=wanted
            )
            for row in rows:
                self.store.delete_instance(row.instance_id)
        return len(rows)

    async def restart(self, instance_id: str, new_instance_id: bool) -> str:
        row = self.store.get_instance(instance_id)
        if row is None:
            raise UnknownInstance(f"InstanceId {instance_id} does not match a valid orchestration")
        target = uuid.uuid4().hex if new_instance_id else instance_id
        return await self.start_new(row.name, target, row.input, version=row.version)

    # -- episodes -----------------------------------------------------------------------

    def _episode(self, instance_id: str) -> None:
        if is_entity_id(instance_id):
            if self.entities.run_batch(instance_id):
                self._ready.add(instance_id)
            return
        now = self.clock.now()
        with self.store.transaction():
            items = self.store.inbox(instance_id, visible_by=timestamp(now))
            if not items:
                return
            row = self.store.get_instance(instance_id)
            if row is None:  # purged: nothing to deliver to
                self.store.delete_inbox([i.id for i in items])
                return
            remaining = _Episode(self, row, items, now).run()
        if remaining:
            self._ready.add(instance_id)

    # -- activities ---------------------------------------------------------------------

    async def _run_activity(self, item: ActivityItem) -> None:
        try:
            outcome = await self._invoke_activity(item)
            with self.store.transaction():
                if not self.store.delete_activity(item.id):
                    return  # purged meanwhile
                row = self.store.get_instance(item.instance_id)
                if row is None or row.execution_id != item.execution_id or row.status in FINISHED:
                    return  # the execution it belonged to is over
                meta = {"retry": item.meta["retry"]} if "retry" in item.meta else None
                if outcome[0]:
                    body = event(
                        EventType.TaskCompleted,
                        self.clock.now(),
                        TaskScheduledId=item.task_id,
                        Result=outcome[1],
                    )
                    meta = None
                else:
                    body = event(
                        EventType.TaskFailed,
                        self.clock.now(),
                        TaskScheduledId=item.task_id,
                        Reason=outcome[1],
                        Details=outcome[2],
                    )
                self._enqueue(
                    item.instance_id, EVENT, body, execution_id=item.execution_id, meta=meta
                )
        except Exception:
            logger.exception("activity %s of %s could not be recorded", item.name, item.instance_id)
            self._activities.append(item)  # try again
        finally:
            self._running_activities.discard(item.id)
            self._wake.set()

    async def _invoke_activity(self, item: ActivityItem) -> tuple[bool, str | None, str | None]:
        function = self.functions.activity(item.name)
        if function is None:
            return (
                False,
                f"The function '{item.name}' doesn't exist, is disabled, or is not an activity "
                "function.",
                None,
            )
        try:
            value = df_codec.df_loads(item.input) if item.input is not None else None
        except Exception:
            value = item.input
        kwargs = self._binding_arguments(function)
        kwargs[str(function.trigger["name"])] = value
        try:
            if function.is_async:
                result = await function.function(**kwargs)
            else:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(
                    self._executor, partial(function.function, **kwargs)
                )
            return True, df_codec.df_dumps(result), None
        except Exception as error:
            return (
                False,
                f"Activity function '{function.name}' failed: {error}",
                user_traceback(error),
            )

    def _binding_arguments(self, function: FunctionInfo) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if function.durable_client_names and self.client_binding is not None:
            for name in function.durable_client_names:
                kwargs[name] = self.client_binding()
        return kwargs


class _Episode:
    """One orchestration episode for one instance, inside the caller's transaction."""

    def __init__(
        self, runtime: DurableRuntime, row: InstanceRow, items: list[InboxItem], now: datetime
    ) -> None:
        self.rt = runtime
        self.store = runtime.store
        self.row = row
        self.items = items
        self.now = now
        self.consumed: list[int] = []
        self._unsupported: str | None = None

    def run(self) -> bool:
        """Process what can be processed; True if visible items remain for another episode."""
        try:
            self._run()
        finally:
            self.store.delete_inbox(self.consumed)
        left = {i.id for i in self.items} - set(self.consumed)
        return bool(left) and self.row.status != "Suspended"

    def _consume(self, item: InboxItem) -> None:
        self.consumed.append(item.id)

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
            if item.kind == SUSPEND and row.status != "Suspended":
                row.status = "Suspended"
                self._append(
                    [self._marker(EventType.ExecutionSuspended, Reason=item.event.get("reason"))]
                )
            elif item.kind == RESUME and row.status == "Suspended":
                row.status = "Running"
                self._append(
                    [self._marker(EventType.ExecutionResumed, Reason=item.event.get("reason"))]
                )
        if controls:
            self._save()
        if row.status == "Suspended":
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
            row.status = "Running"
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
            completed = self._finish("Failed", json.dumps(text), failure=(text, message))
        elif result.is_done:
            continued = next(
                (a for a in result.actions if a.get("actionType") == ActionType.ContinueAsNew),
                None,
            )
            if continued is not None:
                self._continue_as_new(stored_input(continued.get("input")))
                return
            completed = self._finish("Completed", json.dumps(result.output))
        else:
            row.status = "Running"
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

    # -- endings ------------------------------------------------------------------

    def _finish(
        self, status: str, output_json: str | None, failure: tuple[str, str] | None = None
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
        self, status: str, output_json: str | None, failure: tuple[str, str] | None
    ) -> None:
        row = self.row
        if not row.parent_instance_id or row.parent_task_id is None:
            return
        retry = self._retry_of_child()
        if status == "Completed":
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
        completed = self._finish("Terminated", json.dumps(text))
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
            status="ContinuedAsNew",
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

    # -- persistence --------------------------------------------------------------

    def _marker(self, kind: EventType, **fields: Any) -> dict[str, Any]:
        return event(kind, self.now, **fields)

    def _append(self, events: list[dict[str, Any]]) -> None:
        self.store.append_history(self.row.instance_id, events)

    def _save(self) -> None:
        self.row.last_updated_time = timestamp(self.now)
        self.store.put_instance(self.row)


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


def status_json(row: InstanceRow, *, show_input: bool) -> dict[str, Any]:
    """The status payload of `GET instances/{id}`, shaped as the host's StatusResponsePayload."""
    return {
        "name": row.name,
        "instanceId": row.instance_id,
        "runtimeStatus": row.status,
        # The stored input parsed back (payloads.py): for the Python SDK's start, which
        # posts its input JSON-encoded, that is the input's JSON text.
        "input": parse_stored(row.input) if show_input else None,
        "customStatus": json.loads(row.custom_status) if row.custom_status else None,
        "output": json.loads(row.output) if row.output else None,
        "createdTime": status_time(parse_time(row.created_time)),
        "lastUpdatedTime": status_time(parse_time(row.last_updated_time)),
    }
