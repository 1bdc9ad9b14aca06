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
from datetime import timedelta
from typing import Any

from ..app_loader import FunctionIndex
from ..clock import RuntimeClock
from .activities import ActivityRunning
from .entities import Entities, is_entity_id
from .episode import Episode
from .history import EventType, event, parse_time, timestamp
from .history_view import host_history
from .instances import (
    EVENT,
    RESUME,
    START,
    SUSPEND,
    TERMINATE,
    InstanceExists,
    ListQuery,
    StartMode,
    UnknownInstance,
    UnknownOrchestrator,
    status_json,
)
from .statuses import FINISHED, RUNNING, RuntimeStatus
from .store import ActivityItem, DurableStore, InstanceRow

logger = logging.getLogger("embedded_functions.durable")


class DurableRuntime(ActivityRunning):
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
            if self.is_idle():
                return
            await asyncio.sleep(0.01)
        raise TimeoutError("the durable runtime did not go idle")

    def has_timers(self) -> bool:
        """Whether work is scheduled for later (a durable timer, a delayed message)."""
        return bool(self._timers)

    def is_idle(self) -> bool:
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
        status: RuntimeStatus = RuntimeStatus.Pending,
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
            remaining = Episode(self, row, items, now).run()
        if remaining:
            self._ready.add(instance_id)


# Imported from here before the split into instances.py and statuses.py.
__all__ = [
    "FINISHED",
    "RUNNING",
    "DurableRuntime",
    "InstanceExists",
    "ListQuery",
    "StartMode",
    "UnknownInstance",
    "UnknownOrchestrator",
]
