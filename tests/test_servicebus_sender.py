"""The azure-servicebus adapter: SessionId/MessageId mapping and batching.

Service Bus itself cannot run here; the SDK's queue sender is replaced by a recorder that
hands out the SDK's real ServiceBusMessageBatch (a small one), so sizing is the SDK's own.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from azure.servicebus import ServiceBusMessageBatch
from azure.servicebus.exceptions import MessageSizeExceededError

from starters.contract import StartRequest
from starters.messages import OutgoingMessage
from starters.senders.servicebus import ServiceBusQueueSender, to_service_bus_message


class QueueSenderRecorder:
    def __init__(self, max_batch_bytes: int) -> None:
        self.max_batch_bytes = max_batch_bytes
        self.batches: list[list[Any]] = []
        self.closed = False

    async def create_message_batch(self) -> ServiceBusMessageBatch:
        return ServiceBusMessageBatch(max_size_in_bytes=self.max_batch_bytes)

    async def send_messages(self, batch: ServiceBusMessageBatch) -> None:
        self.batches.append(list(batch._messages))

    async def close(self) -> None:
        self.closed = True


def message(instance: str, request_id: str, size: int = 10, attempt: int = 0) -> OutgoingMessage:
    req = StartRequest("collector", instance, request_id, {"pad": "x" * size})
    return OutgoingMessage.for_request(req, attempt=attempt)


def test_first_send_and_resend_mapping() -> None:
    req = StartRequest("long_job", "job-1", "req-1", {"duration_s": 1})
    first = to_service_bus_message(OutgoingMessage.for_request(req))
    assert (first.session_id, first.message_id) == ("job-1", "req-1")
    assert first.content_type == "application/json"
    assert first.application_properties is None
    when = datetime(2026, 1, 1, 0, 0, 5, tzinfo=timezone.utc)
    resend = to_service_bus_message(
        OutgoingMessage.for_request(req, attempt=3, scheduled_enqueue_time=when, reason="queued")
    )
    assert (resend.session_id, resend.message_id) == ("job-1", "req-1:3")
    assert resend.scheduled_enqueue_time_utc == when
    assert resend.application_properties == {"attempt": 3, "rescheduledBecause": "queued"}
    assert b"".join(resend.body) == req.to_bytes()


async def test_batches_hold_one_session_each_in_order() -> None:
    recorder = QueueSenderRecorder(max_batch_bytes=256 * 1024)
    sender = ServiceBusQueueSender(lambda: recorder)
    await sender.send(
        [message("a", "a1"), message("b", "b1"), message("a", "a2"), message("b", "b2")]
    )
    assert [[m.message_id for m in batch] for batch in recorder.batches] == [
        ["a1", "a2"],
        ["b1", "b2"],
    ]
    assert all(len({m.session_id for m in batch}) == 1 for batch in recorder.batches)


async def test_a_full_batch_is_sent_and_a_new_one_begun() -> None:
    recorder = QueueSenderRecorder(max_batch_bytes=2000)
    sender = ServiceBusQueueSender(lambda: recorder)
    await sender.send([message("a", f"a{i}", size=600) for i in range(7)])
    sizes = [len(batch) for batch in recorder.batches]
    assert sum(sizes) == 7 and len(sizes) > 1 and max(sizes) < 7
    flat = [m.message_id for batch in recorder.batches for m in batch]
    assert flat == [f"a{i}" for i in range(7)]


async def test_a_message_larger_than_a_batch_raises() -> None:
    sender = ServiceBusQueueSender(lambda: QueueSenderRecorder(max_batch_bytes=500))
    with pytest.raises(MessageSizeExceededError):
        await sender.send([message("a", "big", size=2000)])


async def test_close_closes_the_queue_sender_once_opened() -> None:
    recorder = QueueSenderRecorder(max_batch_bytes=10_000)
    sender = ServiceBusQueueSender(lambda: recorder)
    await sender.send([message("a", "a1")])
    await sender.close()
    assert recorder.closed
