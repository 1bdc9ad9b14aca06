"""Test doubles for what cannot run in a unit test.

- FakeDurable stands in for the Durable Functions host (which needs the .NET Functions
  host). It keeps the host's semantics the starter depends on: start_new on a running ID
  raises (the dedupe of extension 2.x), on a finished one replaces it with a new
  createdTime; raise_event on a finished instance fails as 410 does; terminate finishes a
  running instance. Failures and crashes can be injected per call.
- RecordingSender stands in for Service Bus: it records what would be sent.
- FakeClock moves time by hand, and on sleep.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from starters.instances import InstanceSnapshot
from starters.messages import OutgoingMessage
from starters.policies import FINISHED_STATUSES, RUNNING_STATUSES, RuntimeStatus

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Crash(BaseException):
    """The process dies here: nothing in the handler may catch it."""


class FakeClock:
    def __init__(self, start: datetime = EPOCH, *, advance_on_sleep: bool = True) -> None:
        self.moment = start
        self.advance_on_sleep = advance_on_sleep
        self.slept = 0.0

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.slept += seconds
        if self.advance_on_sleep:
            self.advance(seconds)
            await asyncio.sleep(0)
        else:
            await asyncio.sleep(0.001)


class WatchedClock:
    """Another handler's view of a shared clock that tells when it starts waiting (its
    first poll of a claim or lease someone else holds): an event to wait for, not a sleep."""

    def __init__(self, shared: FakeClock) -> None:
        self.shared = shared
        self.waiting = asyncio.Event()

    def now(self) -> datetime:
        return self.shared.now()

    async def sleep(self, seconds: float) -> None:
        self.waiting.set()
        await self.shared.sleep(seconds)


@dataclass
class Execution:
    instance_id: str
    name: str
    input: Any
    created_time: str
    status: RuntimeStatus = RuntimeStatus.RUNNING
    custom_status: Any = None
    events: list[tuple[str, Any]] = field(default_factory=list)


Hook = Callable[[str, tuple[Any, ...]], Awaitable[None]]


class FakeDurable:
    def __init__(self) -> None:
        self.instances: dict[str, Execution] = {}
        self.history: list[Execution] = []  # every execution ever started
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.failures: dict[str, int] = defaultdict(int)
        self.before: dict[str, Hook] = {}
        self.after: dict[str, Hook] = {}
        self.stop_on_terminate = True
        self.acknowledge_forwards = True
        self._tick = 0

    # -- test controls --

    def fail(self, method: str, times: int) -> None:
        self.failures[method] = times

    def put(self, instance_id: str, status: RuntimeStatus, input: Any = None) -> Execution:
        execution = Execution(instance_id, "long_job", input, self._next_time(), status)
        self.instances[instance_id] = execution
        self.history.append(execution)
        return execution

    def set_status(self, instance_id: str, status: RuntimeStatus) -> None:
        self.instances[instance_id].status = status

    def starts(self, instance_id: str) -> list[Execution]:
        return [e for e in self.history if e.instance_id == instance_id]

    def _next_time(self) -> str:
        self._tick += 1
        return (EPOCH + timedelta(milliseconds=self._tick)).isoformat()

    async def _enter(self, method: str, args: tuple[Any, ...]) -> None:
        self.calls.append((method, args))
        if method in self.before:
            await self.before[method](method, args)
        if self.failures[method] > 0:
            self.failures[method] -= 1
            raise ConnectionError(f"injected failure of {method}")

    async def _leave(self, method: str, args: tuple[Any, ...]) -> None:
        if method in self.after:
            await self.after[method](method, args)

    # -- InstanceClient --

    async def get_status(self, instance_id: str) -> InstanceSnapshot | None:
        await self._enter("get_status", (instance_id,))
        e = self.instances.get(instance_id)
        result = None
        if e is not None:
            result = InstanceSnapshot(
                instance_id=e.instance_id,
                name=e.name,
                runtime_status=e.status,
                created_time=e.created_time,
                input=e.input,
                custom_status=e.custom_status,
            )
        await self._leave("get_status", (instance_id,))
        return result

    async def start_new(self, orchestrator: str, instance_id: str, input: Any) -> None:
        args = (orchestrator, instance_id, input)
        await self._enter("start_new", args)
        current = self.instances.get(instance_id)
        if current is not None and current.status in RUNNING_STATUSES:
            raise Exception(
                f"An Orchestration instance with the status {current.status.value} already exists."
            )
        execution = Execution(instance_id, orchestrator, input, self._next_time())
        self.instances[instance_id] = execution
        self.history.append(execution)
        await self._leave("start_new", args)

    async def terminate(self, instance_id: str, reason: str) -> None:
        await self._enter("terminate", (instance_id, reason))
        current = self.instances.get(instance_id)
        if current is None:
            raise Exception(f"No instance with ID '{instance_id}' found.")
        if current.status in RUNNING_STATUSES and self.stop_on_terminate:
            current.status = RuntimeStatus.TERMINATED
        await self._leave("terminate", (instance_id, reason))

    async def raise_event(self, instance_id: str, event_name: str, data: Any) -> None:
        await self._enter("raise_event", (instance_id, event_name, data))
        current = self.instances.get(instance_id)
        if current is None:
            raise Exception(f"No instance with ID {instance_id} found.")
        if current.status in FINISHED_STATUSES:
            raise Exception(f"Instance with ID {instance_id} is gone: either completed or failed")
        current.events.append((event_name, data))
        if self.acknowledge_forwards and isinstance(data, dict) and "requestId" in data:
            # As an orchestrator that acknowledges forwards does once it read the event.
            read = list((current.custom_status or {}).get("acknowledged", []))
            current.custom_status = {"acknowledged": [*read, data["requestId"]]}
        await self._leave("raise_event", (instance_id, event_name, data))


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []
        self.failures = 0
        self.closed = False

    async def send(self, messages: Sequence[OutgoingMessage]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("injected Service Bus failure")
        self.sent.extend(messages)

    async def close(self) -> None:
        self.closed = True
