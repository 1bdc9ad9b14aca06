"""Hostile input against a real host: the REST send API, the HTTP routes, the host's own
limits, and poison messages on the real queue with the real triggers.

- Property tests (hypothesis) against `python -m embedded_functions serve` in a process of its own:
  no 5xx, every refusal a problem document naming its class, the host serving afterwards.
- Poison messages, one test per class, on the embedded runtime in this process: each
  message ends in exactly one record, the dead-letter queue is left empty (nothing there is
  retried for ever), and nothing is delivered again.
- The limits: 413 as a problem document, a bounded number of connections, incomplete
  request heads and slow bodies closed after a bounded time.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import string
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedded_functions import http_limits
from embedded_functions.servicebus.rest_api import MAX_SEQUENCE_NUMBER, MAX_TIME_TO_LIVE_S
from embedded_functions.servicebus.session_queue import NewMessage
from embedded_functions.testing import EmbeddedRuntime, start_serve, stop_serve, wait_listening
from starters.unusable_messages import record_id_for_message
from tests.embedded_app import app_settings, drained
from tests.hostile import CASES, Hostile, cloudevent_with, hostile_documents, start_request_with

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {
    "START_QUEUE_NAME": "start-requests",
    "TASKHUB_NAME": "HostileHub",
    "EVENT_INBOX_QUEUE": "event-inbox",
}
BATCH = "application/vnd.microsoft.servicebus.json"
cases = settings(max_examples=CASES, suppress_health_check=[HealthCheck.too_slow], deadline=None)


@pytest.fixture(scope="module")
def host_url() -> Iterator[str]:
    process, port = start_serve(
        ROOT, settings=app_settings(**SETTINGS), args=("--log-level", "ERROR")
    )
    url = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(wait_listening(port, process))
        yield url
        # The host keeps serving after everything it was sent.
        assert requests.get(f"{url}/api/openapi.json", timeout=5).status_code == 200
        assert process.poll() is None
    finally:
        stop_serve(process)


def assert_problem(response: requests.Response, *, status: int | None = None) -> dict[str, Any]:
    assert response.status_code < 500, response.text
    if status is not None:
        assert response.status_code == status, response.text
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json"), response.text
    problem: dict[str, Any] = response.json()
    assert problem["status"] == response.status_code and problem["detail"] and problem["type"]
    return problem


def broker(**properties: Any) -> dict[str, str]:
    return {"BrokerProperties": json.dumps({"MessageId": uuid.uuid4().hex, **properties})}


# -- hostile JSON at each HTTP entry point ------------------------------------------------


@cases
@given(hostile_documents(), st.sampled_from(["start", "events", "broker", "batch"]))
def test_every_http_entry_point_names_the_class(
    host_url: str, hostile: Hostile, entry: str
) -> None:
    if entry == "start":
        response = requests.post(
            f"{host_url}/api/orchestrators/long_job/job-1", data=hostile.raw, timeout=30
        )
    elif entry == "events":
        response = requests.post(
            f"{host_url}/api/events",
            data=cloudevent_with(hostile).raw,
            headers={"Content-Type": "application/cloudevents+json"},
            timeout=30,
        )
    elif entry == "broker":
        response = requests.post(
            f"{host_url}/event-inbox/messages",
            data=b"{}",
            headers={"BrokerProperties": hostile.raw},  # type: ignore[dict-item]
            timeout=30,
        )
        if len(hostile.raw) > 8190:
            # Over the HTTP server's header limit: refused before the JSON is read.
            assert "8190" in assert_problem(response, status=400)["detail"]
            return
    else:
        response = requests.post(
            f"{host_url}/event-inbox/messages",
            data=b'[{"Body": "x", "UserProperties": ' + hostile.raw + b"}]",
            headers={"Content-Type": BATCH},
            timeout=30,
        )
    problem = assert_problem(response, status=400)
    assert f"({hostile.refusal})" in problem["detail"], problem


@cases
@given(
    st.text(alphabet=string.ascii_letters + string.digits + "-_ ;=", max_size=12).map(str.encode),
    st.sampled_from([b"\xff", b"\xed\xa0\x80", b"\xc3\x28", b"\x80"]),
)
def test_a_custom_header_that_is_not_text_is_refused(
    host_url: str, head: bytes, invalid: bytes
) -> None:
    value = head.strip() + invalid
    response = requests.post(
        f"{host_url}/event-inbox/messages",
        data=b"x",
        headers={**broker(), "X-Note": value},  # type: ignore[dict-item]
        timeout=30,
    )
    problem = assert_problem(response, status=400)
    assert "(encoding)" in problem["detail"]


def test_repeated_query_parameters_are_refused(host_url: str) -> None:
    response = requests.post(
        f"{host_url}/api/orchestrators/long_job/job-1?onRunning=queue&onRunning=replace",
        json={"hours": 1},
        timeout=30,
    )
    problem = assert_problem(response, status=400)
    assert "onRunning" in problem["detail"] and "more than once" in problem["detail"]
    response = requests.get(f"{host_url}/api/requests/r-1?wait=1&wait=2", timeout=30)
    assert "wait" in assert_problem(response, status=400)["detail"]


# -- broker properties and sequence numbers ----------------------------------------------

out_of_range_ttl = st.one_of(
    st.floats(max_value=0, allow_nan=False),
    st.floats(min_value=MAX_TIME_TO_LIVE_S * 1.0001, allow_infinity=False),
    st.integers(min_value=int(MAX_TIME_TO_LIVE_S) + 1, max_value=10**60),
    st.integers(max_value=0),
    st.sampled_from(["", "soon", "1e999", "nan", "-5", "inf"]),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.none().map(lambda _: {"seconds": 1}),
)
bad_dates = st.one_of(
    st.integers(),
    st.text(max_size=30).filter(lambda t: not t.strip()[:1].isdigit()),
    st.sampled_from(["9999-12-31T23:59:59-05:00", "10000-01-01T00:00:00Z", "2026-13-01", "0"]),
)


@cases
@given(
    st.one_of(
        out_of_range_ttl.map(lambda v: ("TimeToLive", v)),
        bad_dates.map(lambda v: ("ScheduledEnqueueTimeUtc", v)),
        st.sampled_from(
            ["SessionId", "MessageId", "Label", "CorrelationId", "ContentType"]
        ).flatmap(
            lambda name: st.one_of(st.integers(), st.booleans(), st.lists(st.integers())).map(
                lambda v, name=name: (name, v)
            )
        ),
    )
)
def test_broker_properties_out_of_range_are_refused(host_url: str, prop: tuple[str, Any]) -> None:
    name, value = prop
    properties = {"MessageId": uuid.uuid4().hex, name: value}
    response = requests.post(
        f"{host_url}/event-inbox/messages",
        data=b"{}",
        headers={"BrokerProperties": json.dumps(properties)},
        timeout=30,
    )
    problem = assert_problem(response, status=400)
    assert name in problem["detail"] or "(number)" in problem["detail"], problem


@cases
@given(
    st.floats(min_value=0.001, max_value=MAX_TIME_TO_LIVE_S),
    st.sampled_from(
        ["Fri, 31 Dec 9999 23:59:59 GMT", "9999-12-31T23:59:59Z", "2000-01-01T00:00:00Z"]
    ),
)
def test_broker_properties_in_range_are_taken(host_url: str, ttl: float, when: str) -> None:
    headers = broker(TimeToLive=ttl, ScheduledEnqueueTimeUtc=when)
    response = requests.post(
        f"{host_url}/event-inbox/messages", data=b"{}", headers=headers, timeout=30
    )
    assert response.status_code == 201, response.text


@cases
@given(
    st.one_of(
        st.integers(min_value=MAX_SEQUENCE_NUMBER + 1, max_value=10**40).map(str),
        st.integers(max_value=-1).map(str),
        st.text(alphabet="0123456789abc.+-e ", min_size=1, max_size=30),
    ),
    st.sampled_from(["GET", "DELETE"]),
)
def test_sequence_numbers_beyond_64_bits_are_refused(
    host_url: str, number: str, method: str
) -> None:
    url = f"{host_url}/event-inbox/$DeadLetterQueue/messages/{requests.utils.quote(number)}"
    response = requests.request(method, url, timeout=30)
    assert_problem(response)
    assert response.status_code in (400, 404)
    if response.status_code == 400:
        assert "sequence number" in response.json()["detail"]


# -- poison messages on the real queue ----------------------------------------------------

POISON = {
    "depth": Hostile(b"[" * 2000 + b"]" * 2000, "depth"),
    "integer": Hostile(b"9" * 5000, "number"),
    "double": Hostile(b"1e999", "number"),
    "surrogate-value": Hostile(b'"\\ud800"', "encoding"),
    "surrogate-key": Hostile(b'{"\\udc00": 1}', "encoding"),
    "invalid-utf8": Hostile(b'"\xff\xfe"', "encoding"),
    "duplicate-key": Hostile(b'{"a": 1, "a": 2}', "duplicate-key"),
    "syntax": Hostile(b"\x00\x01 not json", "syntax"),
}


def records(data_dir: Path, request_id: str) -> list[dict[str, Any]]:
    with sqlite3.connect(data_dir / "outcomes.sqlite3") as db:
        rows = db.execute(
            "SELECT data FROM outcomes WHERE request_id = ? OR request_id LIKE ?",
            (request_id, request_id + ":%"),
        ).fetchall()
    return [json.loads(row[0]) for row in rows]


async def recorded(data_dir: Path, request_id: str, outcome: str) -> dict[str, Any]:
    for _ in range(400):
        found = [r for r in records(data_dir, request_id) if r["outcome"] == outcome]
        if found:
            return found[0]
        await asyncio.sleep(0.025)
    raise TimeoutError(f"no {outcome} record {request_id}: {records(data_dir, request_id)}")


def dead_letter_now(runtime: EmbeddedRuntime, queue: str, message: NewMessage) -> None:
    """Put a message straight into the dead-letter queue, as after MaxDeliveryCount.

    No await between send and dead-letter: the triggers (on this loop) cannot take it.
    """
    queues = runtime.host.queues
    assert queues is not None
    queues.send(queue, [message])
    lease = queues.accept_session(queue) if message.session_id else None
    assert lease is None or lease.session_id == message.session_id
    received = queues.receive(queue, lease)
    assert received is not None and received.message_id == message.message_id
    queues.dead_letter(received, "MaxDeliveryCountExceeded", "delivered 10 times")
    if lease is not None:
        queues.release_session(lease)


@pytest.mark.parametrize("case", sorted(POISON))
async def test_a_poison_message_ends_in_exactly_one_record(case: str, tmp_path: Path) -> None:
    poison = POISON[case]
    async with EmbeddedRuntime(
        ROOT, settings=app_settings(tmp_path, **SETTINGS), data_dir=tmp_path
    ) as runtime:
        session = f"poison-{case}"
        # 1. The start queue, through the REST API: a MessageId that is a request ID, and
        #    a body whose requestId the strict reader cannot trust.
        body = start_request_with(poison, session, "inner-id").raw
        message_id = f"mid-{case}"
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{runtime.base_url}/start-requests/messages",
                data=body,
                headers={
                    "BrokerProperties": json.dumps({"SessionId": session, "MessageId": message_id})
                },
            ) as sent,
        ):
            assert sent.status == 201
        record = await recorded(tmp_path, message_id, "invalid")
        assert f"({poison.refusal})" in record["reason"] and record["deliveryCount"] == 1
        await drained(runtime, "start-requests")
        # 2. The start queue's dead-letter queue, a MessageId that is no request ID.
        odd_id = f"odd id {case}"
        dead_letter_now(
            runtime,
            "start-requests",
            NewMessage(body=poison.raw, session_id=f"{session}-dlq", message_id=odd_id),
        )
        dead = await recorded(tmp_path, record_id_for_message(odd_id), "dead-lettered")
        assert "MaxDeliveryCountExceeded" in dead["reason"]
        await drained(runtime, "start-requests")
        # 3. The inbox, and 4. its dead-letter queue.
        inbox_id = f"inbox-{case}"
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{runtime.base_url}/event-inbox/messages",
                data=cloudevent_with(poison).raw,
                headers={"BrokerProperties": json.dumps({"MessageId": inbox_id})},
            ) as sent,
        ):
            assert sent.status == 201
        invalid = await recorded(tmp_path, inbox_id, "invalid")
        assert f"({poison.refusal})" in invalid["reason"]
        await drained(runtime, "event-inbox")
        dead_inbox = f"dead-inbox-{case}"
        dead_letter_now(runtime, "event-inbox", NewMessage(body=poison.raw, message_id=dead_inbox))
        inbox_dead = await recorded(tmp_path, dead_inbox, "dead-lettered")
        assert "MaxDeliveryCountExceeded" in inbox_dead["reason"]
        await drained(runtime, "event-inbox")
        # Exactly one record for each; nothing was started.
        for request_id in (message_id, record_id_for_message(odd_id), inbox_id, dead_inbox):
            assert len(records(tmp_path, request_id)) == 1, request_id
        assert runtime.host.runtime is not None
        assert runtime.host.runtime.get_status(session) is None


# -- the host's own limits ----------------------------------------------------------------


async def test_a_body_over_the_limit_gets_a_problem_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http_limits, "MAX_BODY_BYTES", 1024 * 1024)
    monkeypatch.setattr("embedded_functions.host.MAX_BODY_BYTES", 1024 * 1024)
    async with (
        EmbeddedRuntime(ROOT, settings=app_settings(**SETTINGS)) as runtime,
        aiohttp.ClientSession() as http,
    ):
        for path in ("/api/orchestrators/long_job/job-1", "/event-inbox/messages"):
            async with http.post(runtime.base_url + path, data=b"x" * (2 * 1024 * 1024)) as r:
                assert r.status == 413
                assert r.content_type == "application/problem+json"
                assert "limit" in (await r.json())["detail"]
        async with http.get(f"{runtime.base_url}/api/openapi.json") as r:
            assert r.status == 200


async def test_connections_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_limits, "MAX_CONNECTIONS", 4)
    async with EmbeddedRuntime(ROOT, settings=app_settings(**SETTINGS)) as runtime:
        port = runtime.host.port
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(4)]
        try:
            for _ in range(200):  # until the four are counted (one loop step after accept)
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"GET /api/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = await asyncio.wait_for(reader.read(), 10)
                writer.close()
                if answer.startswith(b"HTTP/1.1 503"):
                    break
                await asyncio.sleep(0.01)
            assert answer.startswith(b"HTTP/1.1 503") and b"application/problem+json" in answer
        finally:
            for _, writer in held:
                writer.close()
        async with aiohttp.ClientSession() as http:
            for _ in range(200):  # the held connections close; the host serves again
                async with http.get(f"{runtime.base_url}/api/openapi.json") as r:
                    if r.status == 200:
                        break
                await asyncio.sleep(0.02)
            assert r.status == 200


async def test_incomplete_requests_are_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("embedded_functions.host.IDLE_TIMEOUT_S", 0.5)
    monkeypatch.setattr(http_limits, "BODY_TIMEOUT_S", 0.5)
    async with EmbeddedRuntime(ROOT, settings=app_settings(**SETTINGS)) as runtime:
        port = runtime.host.port
        # A request head that never ends: closed, without an answer.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /api/events HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        # A body that never arrives: 408, as a problem document.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /event-inbox/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        writer.close()
        assert head.startswith(b"HTTP/1.1 408") and b"application/problem+json" in head
