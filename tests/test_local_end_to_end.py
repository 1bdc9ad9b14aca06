"""End to end on the local host: HTTP -> embedded session queue -> session trigger ->
handler -> embedded Durable runtime, with this project's app unchanged.

The Durable runtime runs in its default `azure-storage` start mode, where a naive
check-then-start would lose inputs; Service Bus is the embedded queue (the real one cannot
run here)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from embedded_functions.testing import EmbeddedRuntime
from starters.contract import StartRequest
from tests.embedded_app import app_settings, settled

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = app_settings(START_QUEUE_NAME="start-requests", TASKHUB_NAME="TestHub")
IDS, PER_ID = 20, 25


@pytest.fixture
async def app() -> AsyncIterator[EmbeddedRuntime]:
    async with EmbeddedRuntime(ROOT, settings=SETTINGS) as runtime:
        yield runtime


async def post(
    session: aiohttp.ClientSession, base: str, instance: str, body: Any, **kw: Any
) -> tuple[int, Any]:
    async with session.post(f"{base}/api/orchestrators/long_job/{instance}", json=body, **kw) as r:
        return r.status, await r.json(content_type=None)


async def outcome(session: aiohttp.ClientSession, base: str, request_id: str) -> dict[str, Any]:
    for _ in range(600):
        async with session.get(f"{base}/api/requests/{request_id}") as r:
            if r.status == 200:
                result: dict[str, Any] = await r.json()
                return result
        await asyncio.sleep(0.05)
    raise TimeoutError(request_id)


async def test_the_race_one_instance_per_id_and_a_truthful_answer_each(
    app: EmbeddedRuntime,
) -> None:
    base = app.base_url
    instance_ids = [f"race-{n}" for n in range(IDS)]
    async with aiohttp.ClientSession() as session:
        # Every ID gets 25 concurrent requests while long_job runs (duration 60 s).
        answers = await asyncio.gather(
            *(
                post(session, base, instance, {"duration_s": 60, "caller": k})
                for instance in instance_ids
                for k in range(PER_ID)
            )
        )
        assert all(status == 202 for status, _ in answers)
        records = await asyncio.gather(
            *(outcome(session, base, a["requestId"]) for _, a in answers)
        )
    runtime = app.runtime
    for instance in instance_ids:
        mine = [r for r in records if r["instanceId"] == instance]
        assert len(mine) == PER_ID
        started = [r for r in mine if r["outcome"] == "started"]
        rejected = [r for r in mine if r["outcome"] == "rejected"]
        assert len(started) == 1 and len(rejected) == PER_ID - 1
        assert started[0]["existingStatus"] is None
        assert all(r["existingStatus"] in ("Pending", "Running") for r in rejected)
        status = runtime.get_status(instance, show_history=True, show_history_output=True)
        assert status["runtimeStatus"] == "Running"
        history_starts = [
            e for e in status["historyEvents"] if e["EventType"] == "ExecutionStarted"
        ]
        assert len(history_starts) == 1
        # The input that runs is the started request's own, not another caller's.
        # The history shows the stored input: the SDK's JSON-encoded input, serialized again.
        ran = json.loads(json.loads(history_starts[0]["Input"]))
        own = StartRequest("long_job", instance, started[0]["requestId"], ran)
        assert own.fingerprint == started[0]["fingerprint"]
    # createdTime never changed: one execution per ID, started once.
    created = {i: runtime.get_status(i)["createdTime"] for i in instance_ids}
    await settled(app)  # every request handled: nothing left that could start another
    assert created == {i: runtime.get_status(i)["createdTime"] for i in instance_ids}


async def test_bad_input_over_http_is_refused_and_the_host_keeps_serving(
    app: EmbeddedRuntime,
) -> None:
    base = app.base_url
    async with aiohttp.ClientSession() as session:
        for path, body, expected, needle in [
            ("long_job/ok-1", b"{nope", 400, "not valid JSON"),
            ("long_job/a%20b", b'{"duration_s": 1}', 422, "not a valid instance ID"),
            ("nope/x-1", b"{}", 422, "not a registered orchestrator"),
            ("long_job/x-2", b'{"duration_s": "soon"}', 422, "input/duration_s"),
        ]:
            async with session.post(
                f"{base}/api/orchestrators/{path}",
                data=body,
                headers={"Content-Type": "application/json"},
            ) as r:
                assert r.status == expected, path
                assert r.content_type == "application/problem+json"
                assert needle in (await r.json())["detail"]
        status, answer = await post(session, base, "still-serving", {"duration_s": 1})
        assert status == 202
        assert (await outcome(session, base, answer["requestId"]))["outcome"] == "started"


async def test_bad_messages_on_the_rest_send_path_are_recorded_invalid(
    app: EmbeddedRuntime,
) -> None:
    base = app.base_url
    bodies = {
        "bad-json": (b"{not json", "job-9"),
        "bad-session": (
            json.dumps(
                {
                    "schemaVersion": 1,
                    "orchestrator": "long_job",
                    "instanceId": "job-1",
                    "requestId": "bad-session",
                    "input": {"duration_s": 1},
                }
            ).encode(),
            "job-2",
        ),
        "bad-orch": (
            json.dumps(
                {
                    "schemaVersion": 1,
                    "orchestrator": "nope",
                    "instanceId": "job-3",
                    "requestId": "bad-orch",
                }
            ).encode(),
            "job-3",
        ),
    }
    async with aiohttp.ClientSession() as session:
        for message_id, (body, session_id) in bodies.items():
            broker = json.dumps({"SessionId": session_id, "MessageId": message_id})
            async with session.post(
                f"{base}/start-requests/messages",
                data=body,
                headers={"BrokerProperties": broker, "Content-Type": "application/json"},
            ) as r:
                assert r.status == 201
        for message_id, (body, _) in bodies.items():
            record = await outcome(session, base, message_id)
            assert record["outcome"] == "invalid"
            assert record["body"] == body.decode()
            assert record["reason"]


async def test_post_with_wait_gives_the_seeds_answers_end_to_end(app: EmbeddedRuntime) -> None:
    base = app.base_url
    url = f"{base}/api/orchestrators/long_job/waited?wait=10"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"duration_s": 60}) as first:
            assert first.status == 201
            assert first.headers["Location"].endswith("/api/instances/waited")
        async with session.post(url, json={"duration_s": 60}) as second:
            assert second.status == 409
            body = await second.json(content_type=None)
            assert body["outcome"] == "rejected"
            assert body["instance"]["runtimeStatus"] == "Running"
        queued = f"{base}/api/orchestrators/long_job/waited?wait=10&onRunning=queue"
        async with session.post(queued, json={"duration_s": 1}) as third:
            assert third.status == 202
            request_id = (await third.json())["requestId"]
        async with session.delete(f"{base}/api/requests/{request_id}") as cancel:
            assert cancel.status == 200
            assert (await cancel.json())["outcome"] == "canceled"
