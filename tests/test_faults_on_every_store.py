"""Faults at the fresh-start path's own round trips, on every outcome store (memory,
SQLite, Table storage on a real Azurite), with the request going through intake first so
the handler takes its two-round-trip path.

Each round trip fails either before it reaches the store (nothing written) or after
(written, the answer lost: the harder case, since a retry meets its own write). Then the
process dies between the first write and `start_new` (a lost session lock while the first
handler is inside the transaction, through intake, is in tests/test_handler.py). After each:
the request is decided once, started once, and no two executions of the ID overlap. The
Durable host is the fake (tests/fakes.py), so every step can fail on cue.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from starters.contract import StartRequest
from starters.functions.settings import HandlerSettings
from starters.handling.handler import StartHandler
from starters.intake import Intake
from starters.messages import OutgoingMessage
from starters.outcomes import Outcome, OutcomeRecord
from starters.policies import RuntimeStatus
from starters.ports import OutcomeStore
from starters.validation import ContractValidator
from tests.fakes import Crash, FakeClock, FakeDurable, RecordingSender
from tests.test_faults import drive, incoming

# The fresh start's round trips: `insert` at intake, `begin` and `finish` in the handler.
ROUND_TRIPS = ("insert", "begin", "finish")


class FaultyStore:
    """Any outcome store, failing its next calls of one method, before or after the call."""

    def __init__(self, inner: OutcomeStore) -> None:
        self.inner = inner
        self.method = ""
        self.times = 0
        self.when = "before"
        self.failed = 0

    def fail(self, method: str, times: int, when: str) -> None:
        self.method, self.times, self.when = method, times, when

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name not in ROUND_TRIPS:
            return attribute

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.method == name and self.times > 0 and self.when == "before":
                self._count()
                raise ConnectionError(f"injected failure before {name}")
            result = await attribute(*args, **kwargs)
            if self.method == name and self.times > 0 and self.when == "after":
                self._count()
                raise ConnectionError(f"injected failure after {name}: its answer lost")
            return result

        return call

    def _count(self) -> None:
        self.times -= 1
        self.failed += 1


async def submit(store: Any, request: StartRequest) -> OutgoingMessage:
    """Intake, as the HTTP API does it: the `pending` record, then the message."""
    sender = RecordingSender()
    intake = Intake(store, sender, FakeClock())
    # An intake write that fails is the producer's 503 and its retry: repeat until accepted.
    for _ in range(50):
        try:
            await intake.enqueue([await intake.reserve(request)])
            return sender.sent[-1]
        except ConnectionError:
            continue
    raise AssertionError("intake never succeeded")


def _reader(store: OutcomeStore) -> Callable[[StartHandler, str], Awaitable[OutcomeRecord | None]]:
    async def read(_handler: StartHandler, request_id: str) -> OutcomeRecord | None:
        return await store.get(request_id)  # the store itself, past the injected failures

    return read


def _fresh(request_id: str) -> StartRequest:
    return StartRequest("long_job", "job-1", request_id, {"duration_s": 60, "by": request_id})


def _handler(validator: ContractValidator, store: Any, clock: FakeClock) -> StartHandler:
    return StartHandler(
        validator,
        store,
        RecordingSender(),
        clock=clock,
        settings=HandlerSettings(max_reschedules=100),
    )


def _one_effect(durable: FakeDurable, request: StartRequest) -> None:
    ours = [e for e in durable.history if e.input == request.input]
    assert len(ours) == 1  # one effect, the request's own input
    live = [e for e in durable.instances.values() if e.status is RuntimeStatus.RUNNING]
    assert len(live) == 1  # no two executions of the ID at once


@pytest.mark.parametrize("method", ROUND_TRIPS)
@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("times", [1, 3])
async def test_a_failed_round_trip_on_the_fresh_path(
    store: OutcomeStore, validator: ContractValidator, method: str, when: str, times: int
) -> None:
    faulty = FaultyStore(store)
    durable = FakeDurable()
    clock = FakeClock()
    request = _fresh("req-1")
    faulty.fail(method, times, when)
    message = await submit(faulty, request)
    handler = _handler(validator, faulty, clock)
    record = await drive(handler, durable, message, read=_reader(store))
    # Each failure was injected (a retry that meets its own landed write needs no more).
    assert faulty.failed == (1 if when == "after" and method != "begin" else times)
    assert record.outcome is Outcome.STARTED, record
    _one_effect(durable, request)


def _crash_at(durable: FakeDurable, hook: str) -> None:
    async def die(method: str, args: tuple[Any, ...]) -> None:
        del durable.before[hook]
        raise Crash

    durable.before[hook] = die


@pytest.mark.parametrize("finished_meanwhile", [False, True])
async def test_a_crash_between_the_first_write_and_start_new(
    store: OutcomeStore, validator: ContractValidator, finished_meanwhile: bool
) -> None:
    durable = FakeDurable()
    clock = FakeClock()
    request = _fresh("req-crash")
    message = await submit(store, request)
    _crash_at(durable, "start_new")
    with pytest.raises(Crash):
        await _handler(validator, store, clock).handle(incoming(message, 1), durable)
    claimed = await store.get("req-crash")
    assert claimed is not None and claimed.outcome is Outcome.PENDING and claimed.intent
    assert durable.starts("job-1") == []
    clock.advance(60)  # the dead handler's claim and fence run out
    # A new process gets the redelivery.
    record = await drive(_handler(validator, store, clock), durable, message, _reader(store))
    assert record.outcome is Outcome.STARTED
    _one_effect(durable, request)
    if finished_meanwhile:
        # Once more after the job finished: the decided request only reads, starts nothing.
        durable.set_status("job-1", RuntimeStatus.COMPLETED)
        again = await _handler(validator, store, clock).handle(incoming(message, 3), durable)
        assert again.note == "duplicate-delivery"
        assert len(durable.starts("job-1")) == 1
