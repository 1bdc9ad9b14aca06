"""The session handler with real parts: the SDK's DurableOrchestrationClient against the
embedded Durable runtime running this project's own orchestrators. Only the Service Bus
delivery is simulated (messages are handed to the handler directly)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from embedded_functions.testing import EmbeddedRuntime
from starters.contract import StartRequest
from starters.handling.handler import StartHandler
from starters.instances import DurableInstanceClient
from starters.messages import IncomingMessage, OutgoingMessage
from starters.outcomes import Outcome
from starters.policies import OnRunning
from starters.stores.memory import MemoryOutcomeStore
from starters.validation import ContractValidator
from tests.embedded_app import app_settings
from tests.fakes import Crash, RecordingSender

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def runtime() -> AsyncIterator[EmbeddedRuntime]:
    async with EmbeddedRuntime(ROOT, settings=app_settings()) as embedded:
        yield embedded


@pytest.fixture
def handler(validator: ContractValidator) -> StartHandler:
    return StartHandler(validator, MemoryOutcomeStore(), RecordingSender())


def delivery(request: StartRequest, count: int = 1) -> IncomingMessage:
    out = OutgoingMessage.for_request(request)
    return IncomingMessage(out.body, out.session_id, out.message_id, delivery_count=count)


def executions(runtime: EmbeddedRuntime, instance_id: str) -> list[dict[str, Any]]:
    status = runtime.runtime.get_status(instance_id, show_history=True, show_history_output=True)
    return [e for e in status["historyEvents"] if e["EventType"] == "ExecutionStarted"]


async def test_start_then_reject_while_running(
    runtime: EmbeddedRuntime, handler: StartHandler
) -> None:
    client = DurableInstanceClient(runtime.client())
    first = StartRequest("long_job", "job-1", "r1", {"duration_s": 60, "n": 1})
    second = StartRequest("long_job", "job-1", "r2", {"duration_s": 60, "n": 2})
    assert (await handler.handle(delivery(first), client)).outcome is Outcome.STARTED
    assert (await handler.handle(delivery(second), client)).outcome is Outcome.REJECTED
    snapshot = await client.get_status("job-1")
    assert snapshot is not None and snapshot.input == {"duration_s": 60, "n": 1}
    assert len(executions(runtime, "job-1")) == 1
    record = await handler.store.get("r2")
    assert record is not None and record.existing_status in ("Pending", "Running")


async def test_crash_after_start_new_then_redelivery(
    runtime: EmbeddedRuntime, handler: StartHandler
) -> None:
    real = DurableInstanceClient(runtime.client())

    class DiesAfterStart:
        async def get_status(self, instance_id: str) -> Any:
            return await real.get_status(instance_id)

        async def start_new(self, orchestrator: str, instance_id: str, input: Any) -> None:
            await real.start_new(orchestrator, instance_id, input)
            raise Crash

        terminate = real.terminate
        raise_event = real.raise_event

    request = StartRequest("long_job", "job-2", "r1", {"duration_s": 0})
    with pytest.raises(Crash):
        await handler.handle(delivery(request), DiesAfterStart())
    await runtime.wait_for("job-2")  # the job ran to its end before the redelivery
    handler.clock = _Later(handler.clock)  # the dead handler's claim has run out
    result = await handler.handle(delivery(request, count=2), real)
    assert result.outcome is Outcome.STARTED
    assert len(executions(runtime, "job-2")) == 1


async def test_replace_terminates_and_starts_anew(
    runtime: EmbeddedRuntime, handler: StartHandler
) -> None:
    client = DurableInstanceClient(runtime.client())
    await handler.handle(
        delivery(StartRequest("long_job", "job-3", "r1", {"duration_s": 60})), client
    )
    newer = StartRequest("long_job", "job-3", "r2", {"duration_s": 60, "v": 2}, OnRunning.REPLACE)
    assert (await handler.handle(delivery(newer), client)).outcome is Outcome.REPLACED
    snapshot = await client.get_status("job-3")
    assert snapshot is not None and snapshot.input == {"duration_s": 60, "v": 2}


async def test_forward_reaches_the_collector_and_is_acknowledged(
    runtime: EmbeddedRuntime, handler: StartHandler
) -> None:
    client = DurableInstanceClient(runtime.client())
    first = StartRequest("collector", "bag", "r1", {"window_s": 30, "item": "a"})
    more = StartRequest("collector", "bag", "r2", {"item": "b"})
    assert (await handler.handle(delivery(first), client)).outcome is Outcome.STARTED
    await runtime.wait_for("bag", statuses=frozenset({"Running"}))
    assert (await handler.handle(delivery(more), client)).outcome is Outcome.FORWARDED
    for _ in range(200):
        snapshot = await client.get_status("bag")
        if snapshot and snapshot.custom_status and "r2" in snapshot.custom_status["acknowledged"]:
            break
        await runtime.runtime.wait_idle()
    assert snapshot is not None and snapshot.custom_status == {"items": 2, "acknowledged": ["r2"]}


class _Later:
    """The handler's clock, a minute on."""

    def __init__(self, clock: Any) -> None:
        self._clock = clock

    def now(self) -> Any:
        from datetime import timedelta

        return self._clock.now() + timedelta(minutes=1)

    async def sleep(self, seconds: float) -> None:
        await self._clock.sleep(seconds)
