"""`forward` to an orchestrator that acknowledges forwards: recorded once it was read,
decided again when the instance finished without reading it, never raised twice.

Against the fake Durable host (tests/fakes.py), which acknowledges a raised event at once
unless told not to; the real SDK and runtime are in tests/test_forward_on_runtime.py."""

from __future__ import annotations

from typing import Any

from starters.functions.settings import HandlerSettings
from starters.handling.handler import FORWARD_RAISED, StartHandler
from starters.outcomes import Outcome
from starters.policies import OnFinished, RuntimeStatus
from starters.ports import OutcomeStore
from starters.validation import ContractValidator
from tests.fakes import FakeClock, FakeDurable, RecordingSender
from tests.test_handler import delivery, request

S = RuntimeStatus


def forward(request_id: str = "req-1", **kw: Any) -> Any:
    return request(request_id, "bag", "collector", {"item": request_id}, **kw)


def make_handler(
    validator: ContractValidator, store: OutcomeStore, sender: RecordingSender, clock: FakeClock
) -> StartHandler:
    return StartHandler(validator, store, sender, clock=clock, settings=HandlerSettings())


async def test_forwarded_is_recorded_once_the_instance_acknowledged_it(
    validator: ContractValidator,
    store: OutcomeStore,
    sender: RecordingSender,
    clock: FakeClock,
    durable: FakeDurable,
) -> None:
    handler = make_handler(validator, store, sender, clock)
    durable.put("bag", S.RUNNING)
    result = await handler.handle(delivery(forward()), durable)
    assert result.outcome is Outcome.FORWARDED
    assert result.reason is not None and "acknowledged" in result.reason
    assert len(durable.instances["bag"].events) == 1


async def test_an_instance_that_finished_without_reading_it_is_decided_under_on_finished(
    validator: ContractValidator,
    store: OutcomeStore,
    sender: RecordingSender,
    clock: FakeClock,
    durable: FakeDurable,
) -> None:
    handler = make_handler(validator, store, sender, clock)
    old = durable.put("bag", S.RUNNING)
    durable.acknowledge_forwards = False

    async def finish_unread(method: str, args: tuple[Any, ...]) -> None:
        old.status = S.COMPLETED  # the window ran out with the event still unread

    durable.after["raise_event"] = finish_unread
    result = await handler.handle(delivery(forward()), durable)
    assert result.outcome is Outcome.STARTED  # onFinished restart, with this input
    assert durable.instances["bag"].input == {"item": "req-1"}
    assert len(old.events) == 1
    stored = await store.get("req-1")
    assert stored is not None and stored.existing_status == "Completed"


async def test_on_finished_reject_after_an_unread_forward_is_rejected_not_forwarded(
    validator: ContractValidator,
    store: OutcomeStore,
    sender: RecordingSender,
    clock: FakeClock,
    durable: FakeDurable,
) -> None:
    handler = make_handler(validator, store, sender, clock)
    old = durable.put("bag", S.RUNNING)
    durable.acknowledge_forwards = False

    async def finish_unread(method: str, args: tuple[Any, ...]) -> None:
        old.status = S.COMPLETED

    durable.after["raise_event"] = finish_unread
    result = await handler.handle(delivery(forward(on_finished=OnFinished.REJECT)), durable)
    assert result.outcome is Outcome.REJECTED
    assert len(durable.history) == 1


async def test_no_acknowledgement_yet_reschedules_and_the_copy_does_not_raise_again(
    validator: ContractValidator,
    store: OutcomeStore,
    sender: RecordingSender,
    clock: FakeClock,
    durable: FakeDurable,
) -> None:
    handler = make_handler(validator, store, sender, clock)
    busy = durable.put("bag", S.RUNNING)
    durable.acknowledge_forwards = False
    first = await handler.handle(delivery(forward()), durable)
    assert first.outcome is None and first.note == "rescheduled"
    assert first.reason is not None and "has not acknowledged" in first.reason
    pending = await store.get("req-1")
    assert pending is not None and pending.outcome is Outcome.PENDING
    assert pending.intent is not None and pending.intent.action == FORWARD_RAISED
    # The orchestrator reads it later; the copy finds the acknowledgement.
    busy.custom_status = {"acknowledged": ["req-1"]}
    (copy,) = sender.sent
    second = await handler.handle(delivery(copy), durable)
    assert second.outcome is Outcome.FORWARDED
    assert len(busy.events) == 1  # raised once


async def test_a_copy_for_a_still_unread_forward_waits_again_without_raising(
    validator: ContractValidator,
    store: OutcomeStore,
    sender: RecordingSender,
    clock: FakeClock,
    durable: FakeDurable,
) -> None:
    handler = make_handler(validator, store, sender, clock)
    busy = durable.put("bag", S.RUNNING)
    durable.acknowledge_forwards = False
    await handler.handle(delivery(forward()), durable)
    (copy,) = sender.sent

    async def read_now(method: str, args: tuple[Any, ...]) -> None:
        busy.custom_status = {"acknowledged": ["req-1"]}

    polls = 0

    async def read_during_the_wait(method: str, args: tuple[Any, ...]) -> None:
        nonlocal polls
        polls += 1
        if polls == 3:  # the claim's status read, the first poll, then it is read
            await read_now(method, args)

    durable.after["get_status"] = read_during_the_wait
    second = await handler.handle(delivery(copy), durable)
    assert second.outcome is Outcome.FORWARDED
    assert len(busy.events) == 1
