"""The embedded Service Bus queue's semantics, with the runtime's clock moved by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest

from embedded_functions.clock import RuntimeClock
from embedded_functions.servicebus.config import QueueSettings, load_queue_config, parse_duration
from embedded_functions.servicebus.session_queue import (
    LockLost,
    NewMessage,
    QueueError,
    SessionQueues,
    UnknownQueue,
)
from tests.runtime.conftest import APPS

ROOT = APPS.parent.parent


def queues(**settings: object) -> tuple[SessionQueues, RuntimeClock]:
    clock = RuntimeClock()
    declared = {
        "s": QueueSettings(name="s", requires_session=True, **settings),  # type: ignore[arg-type]
        "p": QueueSettings(name="p", **settings),  # type: ignore[arg-type]
    }
    return SessionQueues(None, clock, declared), clock


def msg(session: str | None, body: str, message_id: str | None = None, **kw: object) -> NewMessage:
    return NewMessage(body=body.encode(), session_id=session, message_id=message_id, **kw)  # type: ignore[arg-type]


def test_fifo_per_session_and_one_lease_per_session() -> None:
    q, _ = queues()
    q.send("s", [msg("a", "a1"), msg("b", "b1"), msg("a", "a2")])
    lease_a = q.accept_session("s")
    assert lease_a is not None and lease_a.session_id == "a"
    lease_b = q.accept_session("s")
    assert lease_b is not None and lease_b.session_id == "b"
    assert q.accept_session("s") is None  # both sessions are held
    first = q.receive("s", lease_a)
    assert first is not None and first.body == b"a1"
    q.complete(first)
    second = q.receive("s", lease_a)
    assert second is not None and second.body == b"a2"
    assert q.receive("s", lease_a) is None  # a2 is in flight: nothing else in session a


def test_session_lock_expiry_lets_another_receiver_in() -> None:
    q, clock = queues(lock_duration=timedelta(seconds=30))
    q.send("s", [msg("a", "a1")])
    first = q.accept_session("s")
    assert first is not None
    message = q.receive("s", first)
    assert message is not None and message.delivery_count == 1
    assert q.accept_session("s") is None
    clock.skip_to(clock.now() + timedelta(seconds=31))
    second = q.accept_session("s")
    assert second is not None and second.session_id == "a" and second.token != first.token
    again = q.receive("s", second)
    assert again is not None and again.body == b"a1" and again.delivery_count == 2
    with pytest.raises(LockLost):
        q.complete(message)  # the first receiver's lock is gone
    q.complete(again)


def test_renewal_keeps_the_session() -> None:
    q, clock = queues(lock_duration=timedelta(seconds=30))
    q.send("s", [msg("a", "a1")])
    lease = q.accept_session("s")
    assert lease is not None
    message = q.receive("s", lease)
    assert message is not None
    clock.skip_to(clock.now() + timedelta(seconds=20))
    lease = q.renew_session(lease)
    clock.skip_to(clock.now() + timedelta(seconds=20))
    assert q.accept_session("s") is None
    q.complete(message)


def test_abandon_redelivers_and_max_delivery_count_dead_letters() -> None:
    q, _ = queues(max_delivery_count=3)
    q.send("p", [msg(None, "x", "m1")])
    for expected in (1, 2, 3):
        message = q.receive("p")
        assert message is not None and message.delivery_count == expected
        q.abandon(message)
    assert q.receive("p") is None
    (dead,) = q.dead_letters("p")
    assert dead.message_id == "m1" and dead.dead_letter_reason == "MaxDeliveryCountExceeded"
    assert "3 delivery attempts" in (dead.dead_letter_description or "")
    received = q.receive_dead_letter("p")
    assert received is not None and received.body == b"x"


def test_peek_lock_expiry_on_a_plain_queue() -> None:
    q, clock = queues(lock_duration=timedelta(seconds=10))
    q.send("p", [msg(None, "x")])
    first = q.receive("p")
    assert first is not None and q.receive("p") is None
    clock.skip_to(clock.now() + timedelta(seconds=11))
    second = q.receive("p")
    assert second is not None and second.delivery_count == 2
    with pytest.raises(LockLost):
        q.complete(first)


def test_duplicate_detection_within_the_window() -> None:
    q, clock = queues(
        requires_duplicate_detection=True, duplicate_detection_window=timedelta(minutes=10)
    )
    assert q.send("p", [msg(None, "1", "same")])[0] is not None
    assert q.send("p", [msg(None, "2", "same")]) == [None]
    clock.skip_to(clock.now() + timedelta(minutes=11))
    assert q.send("p", [msg(None, "3", "same")])[0] is not None
    bodies = []
    while (m := q.receive("p")) is not None:
        bodies.append(m.body)
        q.complete(m)
    assert bodies == [b"1", b"3"]


def test_time_to_live_dead_letters_on_expiry() -> None:
    q, clock = queues(dead_lettering_on_expiration=True, default_message_ttl=timedelta(hours=1))
    q.send("p", [msg(None, "short", time_to_live=timedelta(seconds=5)), msg(None, "long")])
    clock.skip_to(clock.now() + timedelta(seconds=6))
    message = q.receive("p")
    assert message is not None and message.body == b"long"
    (dead,) = q.dead_letters("p")
    assert dead.body == b"short" and dead.dead_letter_reason == "TTLExpiredException"


def test_expired_messages_are_dropped_without_dead_lettering() -> None:
    q, clock = queues(default_message_ttl=timedelta(seconds=5))
    q.send("p", [msg(None, "x")])
    clock.skip_to(clock.now() + timedelta(seconds=6))
    assert q.receive("p") is None and q.dead_letters("p") == []


def test_scheduled_enqueue_time() -> None:
    q, clock = queues()
    later = clock.now() + timedelta(minutes=5)
    q.send("s", [msg("a", "later", scheduled_enqueue_time=later), msg("a", "now")])
    lease = q.accept_session("s")
    assert lease is not None
    first = q.receive("s", lease)
    assert first is not None and first.body == b"now"
    q.complete(first)
    assert q.receive("s", lease) is None
    assert q.next_visible_after("s") == later
    clock.skip_to(later)  # the first lease has run out by now
    lease = q.accept_session("s")
    assert lease is not None
    due = q.receive("s", lease)
    assert due is not None and due.body == b"later"


def test_sends_that_service_bus_refuses() -> None:
    q, _ = queues()
    with pytest.raises(QueueError, match="requires sessions"):
        q.send("s", [msg(None, "x")])
    with pytest.raises(QueueError, match="longer than 128"):
        q.send("s", [msg("a" * 129, "x")])
    with pytest.raises(UnknownQueue):
        q.send("nope", [msg(None, "x")])


def test_undeclared_queues_get_service_bus_defaults() -> None:
    q, _ = queues()
    created = q.ensure_queue("other", requires_session=True)
    assert created.requires_session and not created.declared
    assert created.lock_duration == timedelta(minutes=1) and created.max_delivery_count == 10


def test_the_projects_config_json() -> None:
    declared = load_queue_config(ROOT / "servicebus-emulator" / "Config.json")
    start = declared["start-requests"]
    assert start.requires_session and start.requires_duplicate_detection
    assert start.lock_duration == timedelta(minutes=1) and start.max_delivery_count == 10
    assert start.dead_lettering_on_expiration
    assert not declared["event-inbox"].requires_session
    assert load_queue_config(ROOT / "no-such-file.json") == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT1M", timedelta(minutes=1)),
        ("P14D", timedelta(days=14)),
        ("PT0.2S", timedelta(seconds=0.2)),
        ("00:00:00.2000000", timedelta(seconds=0.2)),
        ("1.02:00:00", timedelta(days=1, hours=2)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
