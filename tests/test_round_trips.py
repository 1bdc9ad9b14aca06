"""The per-start I/O budget, counted where the store's calls leave the process: one Table
storage HTTP request (on a real Azurite), one SQLite statement or transaction, one call
of the memory store. Durable is the fake (its calls are counted by the test itself)."""

from __future__ import annotations

from typing import Any

from starters.contract import StartRequest
from starters.handling.handler import StartHandler
from starters.intake import Intake
from starters.messages import IncomingMessage
from starters.outcomes import Outcome
from starters.policies import OnRunning, RuntimeStatus
from starters.ports import OutcomeStore
from starters.stores import round_trips
from starters.validation import ContractValidator
from tests.fakes import FakeClock, FakeDurable, RecordingSender


def _delta(before: dict[str, int]) -> dict[str, int]:
    after = round_trips.counts()
    return {k: after.get(k, 0) - before.get(k, 0) for k in ("intake", "handler")}


async def _one(
    store: OutcomeStore,
    validator: ContractValidator,
    durable: FakeDurable,
    request: StartRequest,
    delivery_count: int = 1,
) -> tuple[dict[str, int], Any]:
    sender = RecordingSender()
    clock = FakeClock()
    intake = Intake(store, sender, clock)
    await store.get("warm-up")  # the table's creation is not a request's cost
    before = round_trips.counts()
    reservation = await intake.reserve(request)
    await intake.enqueue([reservation])
    sent = sender.sent[-1]
    handler = StartHandler(validator, store, sender, clock=clock)
    message = IncomingMessage(
        sent.body,
        sent.session_id,
        sent.message_id,
        delivery_count=delivery_count,
        application_properties=dict(sent.application_properties),
    )
    result = await handler.handle(message, durable)
    return _delta(before), result


async def test_a_fresh_start_costs_one_round_trip_at_intake_and_two_in_the_handler(
    store: OutcomeStore, validator: ContractValidator, durable: FakeDurable
) -> None:
    counts, result = await _one(
        store, validator, durable, StartRequest("long_job", "job-1", "req-1", {"duration_s": 1})
    )
    assert result.outcome is Outcome.STARTED
    assert counts == {"intake": 1, "handler": 2}
    calls = [m for m, _ in durable.calls]
    assert calls.count("get_status") == 1 and calls.count("start_new") == 1


async def test_a_reject_costs_two_round_trips_in_the_handler(
    store: OutcomeStore, validator: ContractValidator, durable: FakeDurable
) -> None:
    durable.put("job-1", RuntimeStatus.RUNNING, {"duration_s": 60})
    request = StartRequest("long_job", "job-1", "req-2", {"duration_s": 1}, OnRunning.REJECT)
    counts, result = await _one(store, validator, durable, request)
    assert result.outcome is Outcome.REJECTED
    assert counts == {"intake": 1, "handler": 2}
    record = await store.get("req-2")
    assert record is not None and record.existing_status == "Running"


async def test_a_redelivery_of_a_decided_request_only_reads(
    store: OutcomeStore, validator: ContractValidator, durable: FakeDurable
) -> None:
    request = StartRequest("long_job", "job-1", "req-3", {"duration_s": 1})
    first, _ = await _one(store, validator, durable, request)
    assert first["handler"] == 2
    counts, again = await _one(store, validator, durable, request, delivery_count=2)
    assert again.note == "duplicate-delivery"
    assert len(durable.starts("job-1")) == 1
    # Table storage reads a record in two requests (the intake entity, then its row in the
    # instance partition), and a refused create at intake is followed by that read.
    table = type(store).__name__ == "TableOutcomeStore"
    assert counts == ({"intake": 3, "handler": 2} if table else {"intake": 1, "handler": 1})
