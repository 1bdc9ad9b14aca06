"""Faults injected at each step of the handler, and a session lock that expires while a
handler runs. After each: no accepted request lost, none with two effects, no two
executions of one ID overlapping.

The Durable host is the fake (`tests/fakes.py`) for the injected failures, so every step
can fail on cue; the lock-expiry test uses the embedded queue and runtime with the real
SDK client. Service Bus itself cannot run here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from embedded_functions.clock import RuntimeClock
from embedded_functions.servicebus.config import QueueSettings
from embedded_functions.servicebus.session_queue import NewMessage, SessionQueues
from embedded_functions.testing import EmbeddedRuntime
from starters.contract import StartRequest
from starters.functions.settings import HandlerSettings
from starters.handling.handler import StartHandler, TransientFailure
from starters.instances import DurableInstanceClient
from starters.messages import IncomingMessage, OutgoingMessage
from starters.outcomes import Fence, Outcome, OutcomeRecord
from starters.policies import OnRunning, RuntimeStatus
from starters.stores.memory import MemoryOutcomeStore
from starters.validation import ContractValidator
from tests.embedded_app import app_settings
from tests.fakes import FakeClock, FakeDurable, RecordingSender

ROOT = Path(__file__).resolve().parent.parent


class FlakyStore(MemoryOutcomeStore):
    """The outcome store, failing its next `failures[method]` calls."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: dict[str, int] = {}

    def _maybe_fail(self, method: str) -> None:
        if self.failures.get(method, 0) > 0:
            self.failures[method] -= 1
            raise ConnectionError(f"injected store failure in {method}")

    async def get(self, request_id: str) -> OutcomeRecord | None:
        self._maybe_fail("get")
        return await super().get(request_id)

    async def insert(self, record: OutcomeRecord) -> OutcomeRecord:
        self._maybe_fail("insert")
        return await super().insert(record)

    async def replace(self, record: OutcomeRecord) -> OutcomeRecord:
        self._maybe_fail("replace")
        return await super().replace(record)

    async def begin(
        self, claim: OutcomeRecord, fence: Fence | None, *, recorded: bool = False
    ) -> OutcomeRecord | None:
        self._maybe_fail("begin")
        return await super().begin(claim, fence, recorded=recorded)

    async def finish(self, record: OutcomeRecord, fence: Fence) -> OutcomeRecord:
        self._maybe_fail("finish")
        return await super().finish(record, fence)


def incoming(message: OutgoingMessage, delivery_count: int) -> IncomingMessage:
    return IncomingMessage(
        message.body,
        message.session_id,
        message.message_id,
        delivery_count=delivery_count,
        application_properties=dict(message.application_properties),
    )


async def drive(
    handler: StartHandler,
    durable: FakeDurable,
    first: OutgoingMessage,
    read: Callable[[StartHandler, str], Awaitable[OutcomeRecord | None]] | None = None,
) -> OutcomeRecord:
    """Deliver as Service Bus would until the request is decided: redeliver after an
    exception (abandon), deliver each re-scheduled copy. `read` looks at the record past
    any injected failure (default: the memory store's own read)."""
    peek = read or _peek
    sender = handler.sender
    assert isinstance(sender, RecordingSender)
    pending = [(first, 1)]
    for _ in range(100):
        if not pending:
            break
        message, count = pending.pop(0)
        seen = len(sender.sent)
        try:
            await handler.handle(incoming(message, count), durable)
        except TransientFailure:
            pending.append((message, count + 1))
        pending += [(copy, 1) for copy in sender.sent[seen:]]
        record = await peek(handler, message_request_id(first))
        if record is not None and record.outcome.is_final and not pending:
            return record
    record = await peek(handler, message_request_id(first))
    assert record is not None
    return record


async def _peek(handler: StartHandler, request_id: str) -> OutcomeRecord | None:
    # Past the injected failures: the test's own look, not the handler's.
    return await MemoryOutcomeStore.get(handler.store, request_id)  # type: ignore[arg-type]


def message_request_id(message: OutgoingMessage) -> str:
    return message.message_id.split(":")[0]


STEPS = [
    ("durable", "get_status"),
    ("durable", "start_new"),
    ("durable", "terminate"),
    ("store", "get"),
    ("store", "insert"),
    ("store", "replace"),
    ("store", "begin"),
    ("store", "finish"),
    ("sender", "send"),
]


@pytest.mark.parametrize(("where", "method"), STEPS)
@pytest.mark.parametrize("times", [1, 5, 40])
@pytest.mark.parametrize("running", [False, True])
async def test_a_failure_at_each_step(where: str, method: str, times: int, running: bool) -> None:
    store = FlakyStore()
    sender = RecordingSender()
    durable = FakeDurable()
    clock = FakeClock()
    handler = StartHandler(
        ContractValidator(_registry()),
        store,
        sender,
        clock=clock,
        settings=HandlerSettings(max_reschedules=100),
    )
    if running:
        durable.put("job-1", RuntimeStatus.RUNNING, {"duration_s": 1, "by": "earlier"})
    if where == "durable":
        durable.fail(method, times)
    elif where == "store":
        store.failures[method] = times
    # The sender fails only on re-scheduling: the first send is the producer's.
    request = StartRequest(
        "long_job", "job-1", "req-1", {"duration_s": 60}, OnRunning.REPLACE if running else None
    )
    if where == "sender":
        sender.failures = times
    record = await drive(handler, durable, OutgoingMessage.for_request(request))
    assert record.outcome in (Outcome.STARTED, Outcome.REPLACED), record
    ours = [e for e in durable.history if e.input == request.input]
    assert len(ours) == 1  # one effect
    live = [e for e in durable.instances.values() if e.status is RuntimeStatus.RUNNING]
    assert len(live) == 1  # no two executions of the ID at once


def _registry() -> Any:
    from orchestrators import registry

    return registry


async def test_session_lock_expiry_while_a_handler_runs() -> None:
    """Receiver A's handler stalls past the session lock; Service Bus gives the session and
    the same message to receiver B. One start, one decision; A's completion fails."""
    clock = RuntimeClock()
    queues = SessionQueues(
        None,
        clock,
        {"q": QueueSettings(name="q", requires_session=True, lock_duration=timedelta(seconds=30))},
    )
    request = StartRequest("long_job", "lock-1", "req-lock", {"duration_s": 60})
    out = OutgoingMessage.for_request(request)
    queues.send(
        "q", [NewMessage(body=out.body, message_id=out.message_id, session_id=out.session_id)]
    )
    async with EmbeddedRuntime(ROOT, settings=app_settings()) as runtime:
        real = DurableInstanceClient(runtime.client())
        inside, release = asyncio.Event(), asyncio.Event()

        class Stalls:
            async def get_status(self, instance_id: str) -> Any:
                return await real.get_status(instance_id)

            async def start_new(self, orchestrator: str, instance_id: str, input: Any) -> None:
                if not inside.is_set():
                    inside.set()
                    await release.wait()
                await real.start_new(orchestrator, instance_id, input)

            terminate = real.terminate
            raise_event = real.raise_event

        store = MemoryOutcomeStore()
        validator = ContractValidator(_registry())
        # A real-time clock for the handlers; the queue's clock is moved by hand.
        a = StartHandler(validator, store, RecordingSender())
        b = StartHandler(validator, store, RecordingSender())
        lease_a = queues.accept_session("q")
        assert lease_a is not None
        message_a = queues.receive("q", lease_a)
        assert message_a is not None
        delivery_a = IncomingMessage(
            message_a.body, message_a.session_id, message_a.message_id, message_a.delivery_count
        )
        task_a = asyncio.create_task(a.handle(delivery_a, Stalls()))
        await inside.wait()
        clock.skip_to(clock.now() + timedelta(seconds=31))  # A's session lock expires
        lease_b = queues.accept_session("q")
        assert lease_b is not None and lease_b.session_id == "lock-1"
        message_b = queues.receive("q", lease_b)
        assert message_b is not None and message_b.delivery_count == 2
        delivery_b = IncomingMessage(
            message_b.body, message_b.session_id, message_b.message_id, message_b.delivery_count
        )
        task_b = asyncio.create_task(b.handle(delivery_b, Stalls()))
        await asyncio.sleep(0.1)
        release.set()
        results = await asyncio.gather(task_a, task_b)
        queues.complete(message_b)
        with pytest.raises(Exception, match="lock"):
            queues.complete(message_a)
        assert sorted(str(r.outcome) for r in results).count(str(Outcome.STARTED)) == 1
        status = runtime.runtime.get_status("lock-1", show_history=True)
        assert sum(e["EventType"] == "ExecutionStarted" for e in status["historyEvents"]) == 1
        record = await store.get("req-lock")
        assert record is not None and record.outcome is Outcome.STARTED
