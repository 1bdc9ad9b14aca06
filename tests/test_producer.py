"""The Python producer client against a recording sender (Service Bus cannot run here):
validation before send, the SessionId/MessageId mapping, batches per session, retries."""

from __future__ import annotations

import json

import pytest

from orchestrators import registry
from starters.client.producer import RetryOptions, StartRequestSender, StartSpec
from starters.contract import request_id_for
from tests.fakes import RecordingSender


class BatchRecorder(RecordingSender):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    async def send(self, messages):  # type: ignore[no-untyped-def]
        await super().send(messages)
        self.batches.append([m.session_id for m in messages])


async def test_send_maps_the_request_to_the_contract() -> None:
    sender = RecordingSender()
    async with StartRequestSender(registry, sender) as client:
        result = await client.send(
            "LONG_JOB", "job-1", {"duration_s": 5}, request_id="r-1", on_running="queue"
        )
    assert result.accepted and not result.invalid and result.request_id == "r-1"
    (message,) = sender.sent
    assert (message.session_id, message.message_id) == ("job-1", "r-1")
    body = json.loads(message.body)
    assert body == {
        "schemaVersion": 1,
        "orchestrator": "long_job",
        "instanceId": "job-1",
        "requestId": "r-1",
        "input": {"duration_s": 5},
        "onRunning": "queue",
    }
    assert sender.closed  # the context manager closes the sender


async def test_invalid_requests_are_reported_and_not_sent() -> None:
    sender = RecordingSender()
    client = StartRequestSender(registry, sender)
    results = await client.send_many(
        [
            StartSpec("long_job", "ok-1", {"duration_s": 1}),
            StartSpec("long_job", "a/b", {"duration_s": 1}),
            StartSpec("nope", "ok-2"),
            StartSpec("long_job", "ok-3", {"duration_s": 1}, on_running="forward"),
        ]
    )
    assert [r.accepted for r in results] == [True, False, False, False]
    assert [r.invalid for r in results] == [False, True, True, True]
    assert "not a valid instance ID" in (results[1].error or "")
    assert "not allowed for long_job" in (results[3].error or "")
    assert [m.session_id for m in sender.sent] == ["ok-1"]


async def test_send_many_batches_per_session_and_keeps_order() -> None:
    sender = BatchRecorder()
    client = StartRequestSender(registry, sender)
    specs = [StartSpec("collector", f"bag-{n % 3}", {"item": n}) for n in range(9)]
    results = await client.send_many(specs)
    assert all(r.accepted for r in results)
    assert [r.instance_id for r in results] == [s.instance_id for s in specs]
    assert sorted(sender.batches) == [["bag-0"] * 3, ["bag-1"] * 3, ["bag-2"] * 3]
    items = [json.loads(m.body)["input"]["item"] for m in sender.sent if m.session_id == "bag-1"]
    assert items == [1, 4, 7]


async def test_a_message_over_the_size_limit_is_refused_before_sending() -> None:
    sender = RecordingSender()
    client = StartRequestSender(registry, sender, max_message_bytes=2048)
    result = await client.send("collector", "big", {"item": "x" * 4000})
    assert result.invalid and "2048-byte" in (result.error or "")
    assert sender.sent == []


async def test_transient_send_failures_are_retried_with_the_same_message_id() -> None:
    sender = RecordingSender()
    sender.failures = 2
    client = StartRequestSender(registry, sender, retry=RetryOptions(attempts=3, backoff_s=0.01))
    result = await client.send("long_job", "job-1", {"duration_s": 1}, request_id="r-9")
    assert result.accepted and [m.message_id for m in sender.sent] == ["r-9"]
    sender.failures = 5
    failed = await client.send("long_job", "job-2", {"duration_s": 1})
    assert not failed.accepted and not failed.invalid and "ConnectionError" in (failed.error or "")


@pytest.mark.parametrize("parts", [("nightly", "2026-11-26"), ("orders", 42)])
def test_request_ids_derived_from_x_are_stable_and_valid(parts: tuple[object, ...]) -> None:
    first, again = request_id_for(*parts), request_id_for(*parts)
    assert first == again and first != request_id_for(*parts, "other")
    from starters.contract import is_request_id

    assert is_request_id(first)


async def test_random_request_ids_differ() -> None:
    sender = RecordingSender()
    client = StartRequestSender(registry, sender)
    one = await client.send("long_job", "job-1", {"duration_s": 1})
    two = await client.send("long_job", "job-1", {"duration_s": 1})
    assert one.request_id != two.request_id
