"""The session handler against a fake Durable host (the real one needs the .NET Functions
host; see tests/fakes.py for the semantics it keeps) and every outcome store."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from starters.contract import StartRequest
from starters.functions.settings import HandlerSettings
from starters.handling.handler import StartHandler, TransientFailure
from starters.intake import Intake
from starters.messages import IncomingMessage, OutgoingMessage
from starters.outcomes import Outcome
from starters.policies import OnFinished, OnRunning, RuntimeStatus
from starters.ports import OutcomeStore
from starters.validation import ContractValidator
from tests.fakes import Crash, FakeClock, FakeDurable, RecordingSender, WatchedClock

S = RuntimeStatus
RUNNING = [S.PENDING, S.RUNNING, S.SUSPENDED, S.CONTINUED_AS_NEW]
FINISHED = [S.COMPLETED, S.FAILED, S.TERMINATED, S.CANCELED]


def request(
    request_id: str = "req-1",
    instance_id: str = "job-1",
    orchestrator: str = "long_job",
    input: Any = None,
    on_running: OnRunning | None = None,
    on_finished: OnFinished | None = None,
) -> StartRequest:
    if input is None and orchestrator == "long_job":
        input = {"duration_s": 60, "by": request_id}
    return StartRequest(orchestrator, instance_id, request_id, input, on_running, on_finished)


def delivery(message: OutgoingMessage | StartRequest, delivery_count: int = 1) -> IncomingMessage:
    out = message if isinstance(message, OutgoingMessage) else OutgoingMessage.for_request(message)
    return IncomingMessage(
        body=out.body,
        session_id=out.session_id,
        message_id=out.message_id,
        delivery_count=delivery_count,
        application_properties=dict(out.application_properties),
    )


@pytest.fixture
def handler(
    validator: ContractValidator, store: OutcomeStore, sender: RecordingSender, clock: FakeClock
) -> StartHandler:
    return StartHandler(validator, store, sender, clock=clock, settings=HandlerSettings())


# -- the decision, applied ------------------------------------------------------------


async def test_no_instance_starts_one(handler: StartHandler, durable: FakeDurable) -> None:
    req = request()
    result = await handler.handle(delivery(req), durable)
    assert result.outcome is Outcome.STARTED
    started = durable.starts("job-1")
    assert len(started) == 1 and started[0].input == req.input
    stored = await handler.store.get("req-1")
    assert stored is not None
    assert stored.outcome is Outcome.STARTED and stored.existing_status is None
    assert stored.decided_at is not None and stored.claim_token is None and stored.intent is None


@pytest.mark.parametrize("status", RUNNING)
async def test_a_running_instance_rejects_by_default(
    handler: StartHandler, durable: FakeDurable, status: S
) -> None:
    existing = durable.put("job-1", status, {"duration_s": 1})
    result = await handler.handle(delivery(request()), durable)
    assert result.outcome is Outcome.REJECTED
    assert durable.instances["job-1"] is existing and len(durable.history) == 1
    stored = await handler.store.get("req-1")
    assert stored is not None and stored.existing_status == status.value


@pytest.mark.parametrize("status", FINISHED)
async def test_a_finished_instance_restarts_by_default(
    handler: StartHandler, durable: FakeDurable, status: S
) -> None:
    old = durable.put("job-1", status)
    result = await handler.handle(delivery(request()), durable)
    assert result.outcome is Outcome.STARTED
    new = durable.instances["job-1"]
    assert new is not old and new.created_time != old.created_time
    assert new.status is S.RUNNING


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (S.COMPLETED, Outcome.REJECTED),
        (S.FAILED, Outcome.STARTED),
        (S.TERMINATED, Outcome.STARTED),
        (S.CANCELED, Outcome.STARTED),
    ],
)
async def test_restart_failed_only(
    handler: StartHandler, durable: FakeDurable, status: S, expected: Outcome
) -> None:
    durable.put("job-1", status)
    req = request(on_finished=OnFinished.RESTART_FAILED_ONLY)
    assert (await handler.handle(delivery(req), durable)).outcome is expected
    assert len(durable.history) == (2 if expected is Outcome.STARTED else 1)


@pytest.mark.parametrize("status", FINISHED)
async def test_on_finished_reject(handler: StartHandler, durable: FakeDurable, status: S) -> None:
    durable.put("job-1", status)
    req = request(on_finished=OnFinished.REJECT)
    assert (await handler.handle(delivery(req), durable)).outcome is Outcome.REJECTED
    assert len(durable.history) == 1


async def test_use_existing(handler: StartHandler, durable: FakeDurable) -> None:
    durable.put("job-1", S.RUNNING)
    req = request(on_running=OnRunning.USE_EXISTING)
    result = await handler.handle(delivery(req), durable)
    assert result.outcome is Outcome.USED_EXISTING
    assert len(durable.history) == 1


async def test_forward_delivers_the_input_as_the_declared_event(
    handler: StartHandler, durable: FakeDurable
) -> None:
    durable.put("bag", S.RUNNING)
    req = request(instance_id="bag", orchestrator="collector", input={"item": 7})
    result = await handler.handle(delivery(req), durable)
    assert result.outcome is Outcome.FORWARDED
    assert durable.instances["bag"].events == [
        ("work", {"requestId": "req-1", "input": {"item": 7}})
    ]


async def test_forward_to_an_instance_that_just_finished_follows_on_finished(
    handler: StartHandler, durable: FakeDurable
) -> None:
    durable.put("bag", S.RUNNING)

    async def finish_first(method: str, args: tuple[Any, ...]) -> None:
        durable.set_status("bag", S.COMPLETED)  # finished between the read and the raise

    durable.before["raise_event"] = finish_first
    req = request(instance_id="bag", orchestrator="collector", input={"item": 1})
    result = await handler.handle(delivery(req), durable)
    assert result.outcome is Outcome.STARTED
    assert durable.instances["bag"].input == {"item": 1}
    stored = await handler.store.get("req-1")
    assert stored is not None and stored.existing_status == "Completed"


async def test_replace_terminates_then_starts(handler: StartHandler, durable: FakeDurable) -> None:
    old = durable.put("job-1", S.RUNNING)
    req = request(on_running=OnRunning.REPLACE)
    result = await handler.handle(delivery(req), durable)
    assert result.outcome is Outcome.REPLACED
    assert old.status is S.TERMINATED
    assert durable.instances["job-1"].input == req.input
    terminate = [args for name, args in durable.calls if name == "terminate"]
    assert terminate == [("job-1", "replaced by start request req-1")]
    stored = await handler.store.get("req-1")
    assert stored is not None and stored.existing_status == "Running"


async def test_replace_that_never_stops_is_rescheduled_not_started(
    handler: StartHandler, durable: FakeDurable, sender: RecordingSender
) -> None:
    durable.put("job-1", S.RUNNING)
    durable.stop_on_terminate = False
    result = await handler.handle(delivery(request(on_running=OnRunning.REPLACE)), durable)
    assert result.outcome is None and result.note == "rescheduled"
    assert len(durable.history) == 1  # nothing started over a live instance
    assert [m.message_id for m in sender.sent] == ["req-1:1"]


# -- queue ------------------------------------------------------------------------------


async def test_queue_waits_for_the_running_instance_then_starts(
    handler: StartHandler, durable: FakeDurable, sender: RecordingSender, clock: FakeClock
) -> None:
    durable.put("job-1", S.RUNNING)
    req = request(on_running=OnRunning.QUEUE)
    first = await handler.handle(delivery(req), durable)
    assert first.outcome is Outcome.QUEUED
    (copy,) = sender.sent
    assert copy.message_id == "req-1:1" and copy.session_id == "job-1"
    assert copy.scheduled_enqueue_time is not None and copy.scheduled_enqueue_time > clock.now()
    assert json.loads(copy.body) == json.loads(OutgoingMessage.for_request(req).body)

    durable.set_status("job-1", S.COMPLETED)
    second = await handler.handle(delivery(copy), durable)
    assert second.outcome is Outcome.STARTED
    assert durable.instances["job-1"].input == req.input


async def _two_queued(
    handler: StartHandler, durable: FakeDurable, clock: FakeClock
) -> tuple[StartRequest, StartRequest]:
    """Two requests queued, one second apart, behind a running job-1."""
    durable.put("job-1", S.RUNNING)
    one, two = (
        request("one", on_running=OnRunning.QUEUE),
        request("two", on_running=OnRunning.QUEUE),
    )
    await handler.handle(delivery(one), durable)
    clock.advance(1)
    await handler.handle(delivery(two), durable)
    return one, two


async def test_queued_requests_start_in_arrival_order(
    handler: StartHandler, durable: FakeDurable, sender: RecordingSender, clock: FakeClock
) -> None:
    one, two = await _two_queued(handler, durable, clock)
    copy_one, copy_two = sender.sent
    durable.set_status("job-1", S.COMPLETED)
    # The later request's copy comes first: it must keep waiting behind the earlier one.
    assert (await handler.handle(delivery(copy_two), durable)).outcome is Outcome.QUEUED
    assert (await handler.handle(delivery(copy_one), durable)).outcome is Outcome.STARTED
    assert durable.instances["job-1"].input == one.input
    durable.set_status("job-1", S.COMPLETED)
    latest = sender.sent[-1]
    # One's start handed the turn on: two's next copy is due within one wake-up interval,
    # not after its back-off.
    assert latest.message_id == "two:3"
    assert latest.scheduled_enqueue_time == clock.now() + handler.settings.queue_wakeup
    assert (await handler.handle(delivery(latest), durable)).outcome is Outcome.STARTED
    assert [e.input for e in durable.history[1:]] == [one.input, two.input]


async def test_a_lost_head_copy_is_re_armed_by_the_request_behind_it(
    handler: StartHandler, durable: FakeDurable, sender: RecordingSender, clock: FakeClock
) -> None:
    one, _two = await _two_queued(handler, durable, clock)
    _lost, copy_two = sender.sent  # the head's copy never arrives
    # Two's back-off copy comes once the head's check is long overdue: it re-arms the head.
    clock.advance((handler.settings.queue_backoff_max + timedelta(seconds=5)).total_seconds())
    assert (await handler.handle(delivery(copy_two), durable)).outcome is Outcome.QUEUED
    rearmed = [m for m in sender.sent if m.message_id.startswith("one:")]
    assert [m.message_id for m in rearmed] == ["one:1", "one:2"]
    assert rearmed[-1].scheduled_enqueue_time == clock.now() + handler.settings.queue_wakeup
    durable.set_status("job-1", S.COMPLETED)
    assert (await handler.handle(delivery(rearmed[-1]), durable)).outcome is Outcome.STARTED
    assert durable.instances["job-1"].input == one.input


async def test_a_queued_request_expires_after_its_time_to_live(
    handler: StartHandler, durable: FakeDurable, sender: RecordingSender, clock: FakeClock
) -> None:
    durable.put("job-1", S.RUNNING)
    await handler.handle(delivery(request(on_running=OnRunning.QUEUE)), durable)
    clock.advance(timedelta(hours=1, seconds=1).total_seconds())
    result = await handler.handle(delivery(sender.sent[-1]), durable)
    assert result.outcome is Outcome.EXPIRED
    assert len(durable.history) == 1


async def test_an_older_copy_is_stale(
    handler: StartHandler, durable: FakeDurable, sender: RecordingSender
) -> None:
    durable.put("job-1", S.RUNNING)
    req = request(on_running=OnRunning.QUEUE)
    await handler.handle(delivery(req), durable)
    await handler.handle(delivery(sender.sent[-1]), durable)  # still running: copy 2
    durable.set_status("job-1", S.COMPLETED)
    # The original message comes back (its completion was lost): it must not act.
    result = await handler.handle(delivery(req, delivery_count=2), durable)
    assert result.note == "stale-copy" and len(durable.history) == 1


# -- at-least-once delivery -------------------------------------------------------------


async def test_a_redelivered_decided_request_does_nothing(
    handler: StartHandler, durable: FakeDurable
) -> None:
    req = request()
    await handler.handle(delivery(req), durable)
    durable.set_status("job-1", S.COMPLETED)
    again = await handler.handle(delivery(req, delivery_count=2), durable)
    assert again.outcome is None and again.note == "duplicate-delivery"
    assert len(durable.history) == 1


async def test_start_new_refused_because_someone_else_started_it(
    handler: StartHandler, durable: FakeDurable
) -> None:
    async def someone_else_starts(method: str, args: tuple[Any, ...]) -> None:
        if "job-1" not in durable.instances:
            durable.put("job-1", S.RUNNING, {"duration_s": 1, "by": "someone else"})

    durable.before["start_new"] = someone_else_starts
    result = await handler.handle(delivery(request()), durable)
    # The host's "already exists" was recognised by reading the status, and the policy
    # applied to what is there now.
    assert result.outcome is Outcome.REJECTED
    assert durable.instances["job-1"].input == {"duration_s": 1, "by": "someone else"}
    stored = await handler.store.get("req-1")
    assert stored is not None and stored.existing_status == "Running"


async def test_crash_after_start_then_redelivery_after_the_instance_finished(
    handler: StartHandler, durable: FakeDurable, clock: FakeClock
) -> None:
    req = request()

    async def die(method: str, args: tuple[Any, ...]) -> None:
        raise Crash

    durable.after["start_new"] = die
    with pytest.raises(Crash):
        await handler.handle(delivery(req), durable)
    del durable.after["start_new"]
    durable.set_status("job-1", S.COMPLETED)  # the job ran to the end meanwhile
    clock.advance(60)  # the dead handler's claim runs out

    result = await handler.handle(delivery(req, delivery_count=2), durable)
    assert result.outcome is Outcome.STARTED  # its own start, not a second one
    assert len(durable.starts("job-1")) == 1
    stored = await handler.store.get("req-1")
    assert stored is not None and stored.delivery_count == 2 and stored.existing_status is None


async def test_crash_after_intent_but_someone_else_started_it(
    handler: StartHandler, durable: FakeDurable, clock: FakeClock
) -> None:
    req = request()

    async def die(method: str, args: tuple[Any, ...]) -> None:
        raise Crash

    durable.before["start_new"] = die
    with pytest.raises(Crash):
        await handler.handle(delivery(req), durable)
    del durable.before["start_new"]
    durable.put("job-1", S.RUNNING, {"duration_s": 1, "by": "someone else"})
    clock.advance(60)
    result = await handler.handle(delivery(req, delivery_count=2), durable)
    assert result.outcome is Outcome.REJECTED  # not mistaken for its own start
    assert len(durable.history) == 1


async def test_crash_between_terminate_and_start_finishes_the_replace(
    handler: StartHandler, durable: FakeDurable, clock: FakeClock
) -> None:
    old = durable.put("job-1", S.RUNNING)
    req = request(on_running=OnRunning.REPLACE)

    async def die(method: str, args: tuple[Any, ...]) -> None:
        raise Crash

    durable.before["start_new"] = die
    with pytest.raises(Crash):
        await handler.handle(delivery(req), durable)
    del durable.before["start_new"]
    assert old.status is S.TERMINATED
    clock.advance(60)
    result = await handler.handle(delivery(req, delivery_count=2), durable)
    assert result.outcome is Outcome.REPLACED
    assert durable.instances["job-1"].input == req.input and len(durable.history) == 2


@pytest.mark.parametrize("through_intake", [False, True])
async def test_lock_loss_two_handlers_on_the_same_message_start_once(
    validator: ContractValidator, store: OutcomeStore, sender: RecordingSender, through_intake: bool
) -> None:
    # The session lock expired while A was inside start_new; Service Bus gave the session
    # (and the same message) to B. A real clock: the claim must not expire under A.
    # Through intake, A is inside the fresh path's transaction (between `begin` and
    # `finish`); without, on the step-by-step path.
    durable = FakeDurable()
    clock = FakeClock(advance_on_sleep=False)
    b_clock = WatchedClock(clock)
    a = StartHandler(validator, store, sender, clock=clock)
    b = StartHandler(validator, store, sender, clock=b_clock)
    inside, release = asyncio.Event(), asyncio.Event()

    async def slow(method: str, args: tuple[Any, ...]) -> None:
        if not inside.is_set():
            inside.set()
            await release.wait()

    durable.before["start_new"] = slow
    req = request()
    if through_intake:
        intake = Intake(store, RecordingSender(), clock)
        await intake.enqueue([await intake.reserve(req)])
    first = asyncio.create_task(a.handle(delivery(req), durable))
    await inside.wait()
    second = asyncio.create_task(b.handle(delivery(req, delivery_count=2), durable))
    await asyncio.wait_for(b_clock.waiting.wait(), 10)
    assert not second.done()  # B found A's claim and waits for it
    assert [m for m, _ in durable.calls].count("get_status") == 1  # B read nothing yet
    release.set()
    results = await asyncio.gather(first, second)
    assert [r.outcome for r in results] == [Outcome.STARTED, None]
    assert results[1].note == "duplicate-delivery"
    assert len(durable.starts("job-1")) == 1


async def test_lock_loss_two_handlers_with_different_requests_for_one_id(
    validator: ContractValidator, store: OutcomeStore, sender: RecordingSender
) -> None:
    durable = FakeDurable()
    clock = FakeClock(advance_on_sleep=False)
    b_clock = WatchedClock(clock)
    a = StartHandler(validator, store, sender, clock=clock)
    b = StartHandler(validator, store, sender, clock=b_clock)
    inside, release = asyncio.Event(), asyncio.Event()

    async def slow(method: str, args: tuple[Any, ...]) -> None:
        if not inside.is_set():
            inside.set()
            await release.wait()

    durable.before["start_new"] = slow
    first = asyncio.create_task(a.handle(delivery(request("one")), durable))
    await inside.wait()
    second = asyncio.create_task(b.handle(delivery(request("two")), durable))
    await asyncio.wait_for(b_clock.waiting.wait(), 10)
    assert not second.done()  # B found the instance lease held and waits for it
    # ... so it has not read the status, which would be stale once A's start lands.
    assert [m for m, _ in durable.calls].count("get_status") == 1
    release.set()
    one, two = await asyncio.gather(first, second)
    assert (one.outcome, two.outcome) == (Outcome.STARTED, Outcome.REJECTED)
    assert len(durable.starts("job-1")) == 1
    stored = await store.get("two")
    assert stored is not None and stored.existing_status == "Running"


async def test_a_stalled_handler_whose_claim_expired_does_not_start_twice(
    validator: ContractValidator, store: OutcomeStore, sender: RecordingSender
) -> None:
    # Worse than a lock loss: A stalls past its claim too, B takes over and starts. When
    # A wakes up, its start_new meets B's instance, which is its own request's start.
    durable = FakeDurable()
    clock = FakeClock(advance_on_sleep=False)
    a = StartHandler(validator, store, sender, clock=clock)
    b = StartHandler(validator, store, sender, clock=clock)
    inside, release = asyncio.Event(), asyncio.Event()

    async def stall(method: str, args: tuple[Any, ...]) -> None:
        if not inside.is_set():
            inside.set()
            await release.wait()

    durable.before["start_new"] = stall
    req = request()
    first = asyncio.create_task(a.handle(delivery(req), durable))
    await inside.wait()
    clock.advance(60)  # A's claim and instance lease run out
    second = await b.handle(delivery(req, delivery_count=2), durable)
    release.set()
    first_result = await first
    assert second.outcome is Outcome.STARTED
    assert first_result.record is not None and first_result.record.outcome is Outcome.STARTED
    assert len(durable.starts("job-1")) == 1


# -- failures ---------------------------------------------------------------------------


async def test_a_short_outage_is_retried_inside_the_delivery(
    handler: StartHandler, durable: FakeDurable, sender: RecordingSender
) -> None:
    durable.fail("get_status", 2)
    durable.fail("start_new", 1)
    result = await handler.handle(delivery(request()), durable)
    assert result.outcome is Outcome.STARTED
    assert len(durable.starts("job-1")) == 1 and sender.sent == []


async def test_an_outage_longer_than_the_retry_budget_reschedules_a_copy(
    handler: StartHandler, durable: FakeDurable, sender: RecordingSender, clock: FakeClock
) -> None:
    durable.fail("get_status", 100)
    req = request()
    result = await handler.handle(delivery(req), durable)
    assert result.outcome is None and result.note == "rescheduled"
    (copy,) = sender.sent
    assert copy.message_id == "req-1:1"
    assert copy.application_properties["transientFailures"] == 1
    assert copy.scheduled_enqueue_time is not None and copy.scheduled_enqueue_time > clock.now()
    pending = await handler.store.get("req-1")
    assert pending is not None and pending.outcome is Outcome.PENDING
    assert pending.claim_token is None  # the copy can claim it at once

    durable.fail("get_status", 0)
    assert (await handler.handle(delivery(copy), durable)).outcome is Outcome.STARTED
    assert len(durable.starts("job-1")) == 1


async def test_an_outage_past_the_reschedule_bound_goes_back_to_service_bus(
    validator: ContractValidator, store: OutcomeStore, sender: RecordingSender, clock: FakeClock
) -> None:
    handler = StartHandler(
        validator, store, sender, clock=clock, settings=HandlerSettings(max_reschedules=2)
    )
    durable = FakeDurable()
    durable.fail("get_status", 10_000)
    message = delivery(request())
    for expected_id in ("req-1:1", "req-1:2"):
        assert (await handler.handle(message, durable)).note == "rescheduled"
        message = delivery(sender.sent[-1])
        assert message.message_id == expected_id
    with pytest.raises(TransientFailure):
        await handler.handle(message, durable)  # the host abandons; delivery count rises


async def test_an_outage_of_the_outcome_store_is_survived(
    handler: StartHandler, durable: FakeDurable, sender: RecordingSender
) -> None:
    calls = {"n": 0}
    real_replace = handler.store.replace

    async def flaky_replace(record: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise ConnectionError("injected store failure")
        return await real_replace(record)

    handler.store.replace = flaky_replace  # type: ignore[method-assign]
    result = await handler.handle(delivery(request()), durable)
    assert result.outcome is Outcome.STARTED and len(durable.history) == 1


# -- invalid and dead-lettered --------------------------------------------------------


async def test_malformed_json_is_recorded_invalid_with_its_body(
    handler: StartHandler, durable: FakeDurable
) -> None:
    message = IncomingMessage(body=b"{not json", session_id="job-1", message_id="m-1")
    result = await handler.handle(message, durable)
    assert result.outcome is Outcome.INVALID
    stored = await handler.store.get("m-1")
    assert stored is not None and stored.body == "{not json"
    assert stored.reason is not None and "not valid JSON" in stored.reason
    assert durable.calls == []
    again = await handler.handle(message, durable)  # redelivery lands on the same record
    assert again.record is not None and again.record.request_id == "m-1"


async def test_a_session_mismatch_is_recorded_invalid(
    handler: StartHandler, durable: FakeDurable
) -> None:
    out = OutgoingMessage.for_request(request())
    message = IncomingMessage(body=out.body, session_id="job-2", message_id="req-1")
    result = await handler.handle(message, durable)
    assert result.outcome is Outcome.INVALID
    assert result.reason is not None and "SessionId" in result.reason
    assert durable.history == []


async def test_unknown_orchestrator_is_recorded_invalid(
    handler: StartHandler, durable: FakeDurable
) -> None:
    body = {"schemaVersion": 1, "orchestrator": "nope", "instanceId": "job-1", "requestId": "r9"}
    message = IncomingMessage(json.dumps(body).encode(), session_id="job-1", message_id="r9")
    result = await handler.handle(message, durable)
    stored = await handler.store.get("r9")
    assert result.outcome is Outcome.INVALID and stored is not None
    assert stored.reason is not None and "not a registered orchestrator" in stored.reason
    assert json.loads(stored.body or "") == body


async def test_a_reused_request_id_with_other_content_is_not_acted_on(
    handler: StartHandler, durable: FakeDurable
) -> None:
    await handler.handle(delivery(request()), durable)
    other = request(input={"duration_s": 1, "other": True})
    result = await handler.handle(delivery(other), durable)
    assert result.outcome is Outcome.INVALID
    assert result.record is not None and result.record.request_id.startswith("req-1:")
    original = await handler.store.get("req-1")
    assert original is not None and original.outcome is Outcome.STARTED
    assert len(durable.history) == 1


async def test_dead_lettered_messages_are_recorded(handler: StartHandler) -> None:
    message = delivery(request(), delivery_count=10)
    result = await handler.handle_dead_letter(message, "MaxDeliveryCountExceeded", "10 tries")
    assert result.outcome is Outcome.DEAD_LETTERED
    stored = await handler.store.get("req-1")
    assert stored is not None and stored.reason == "MaxDeliveryCountExceeded; 10 tries"
    assert stored.body is not None and json.loads(stored.body)["requestId"] == "req-1"


async def test_a_dead_lettered_copy_of_a_decided_request_keeps_the_decision(
    handler: StartHandler, durable: FakeDurable
) -> None:
    await handler.handle(delivery(request()), durable)
    result = await handler.handle_dead_letter(delivery(request()), "TTLExpiredException", None)
    assert result.outcome is None
    stored = await handler.store.get("req-1")
    assert stored is not None and stored.outcome is Outcome.STARTED


async def test_a_dead_lettered_pending_request_is_marked(
    handler: StartHandler, durable: FakeDurable, clock: FakeClock
) -> None:
    async def die(method: str, args: tuple[Any, ...]) -> None:
        raise Crash

    durable.before["get_status"] = die
    with pytest.raises(Crash):
        await handler.handle(delivery(request()), durable)
    result = await handler.handle_dead_letter(delivery(request()), "MaxDeliveryCountExceeded", None)
    assert result.outcome is Outcome.DEAD_LETTERED
    stored = await handler.store.get("req-1")
    assert stored is not None and stored.outcome is Outcome.DEAD_LETTERED


async def test_a_canceled_queued_request_never_starts(
    handler: StartHandler, durable: FakeDurable, sender: RecordingSender
) -> None:
    durable.put("job-1", S.RUNNING)
    await handler.handle(delivery(request(on_running=OnRunning.QUEUE)), durable)
    record = await handler.store.get("req-1")
    assert record is not None
    await handler.store.replace(record.evolve(outcome=Outcome.CANCELED))
    durable.set_status("job-1", S.COMPLETED)
    result = await handler.handle(delivery(sender.sent[-1]), durable)
    assert result.note == "duplicate-delivery" and len(durable.history) == 1


async def test_a_resubmitted_dead_letter_is_decided_again(
    handler: StartHandler, durable: FakeDurable
) -> None:
    await handler.handle_dead_letter(delivery(request()), "MaxDeliveryCountExceeded", None)
    out = OutgoingMessage.for_request(request())
    resubmitted = IncomingMessage(
        out.body, out.session_id, "req-1:r7", application_properties={"resubmission": 7}
    )
    result = await handler.handle(resubmitted, durable)
    assert result.outcome is Outcome.STARTED and len(durable.history) == 1
    plain_redelivery = await handler.handle(delivery(request(), delivery_count=2), durable)
    assert plain_redelivery.note == "duplicate-delivery"


async def test_the_record_keeps_a_bounded_list_of_its_attempts(
    handler: StartHandler, durable: FakeDurable, sender: RecordingSender
) -> None:
    durable.fail("get_status", 100)
    req = request()
    await handler.handle(delivery(req), durable)
    durable.fail("get_status", 0)
    (copy,) = sender.sent
    assert (await handler.handle(delivery(copy, delivery_count=2), durable)).outcome is (
        Outcome.STARTED
    )
    stored = await handler.store.get("req-1")
    assert stored is not None
    whats = [a.what for a in stored.attempts]
    assert len(whats) == 2 and whats[0].startswith("rescheduled: ") and whats[1] == "started"
    assert [a.delivery_count for a in stored.attempts] == [1, 2]
    assert stored.to_public()["attempts"][1]["what"] == "started"
    many = stored
    for n in range(20):
        many = many.evolve(attempts=many.noting(many.received_at, f"n{n}"))
    assert len(many.attempts) == 10 and many.attempts[-1].what == "n19"
