"""What the HTTP API reads as JSON (415 otherwise), CloudEvents in binary content mode,
plain-language refusals (an empty body, a `wait` that is not a number) and what a repeated
Idempotency-Key answers: on the real host (in-process embedded runtime)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from embedded_functions.testing import EmbeddedRuntime
from starters.contract import request_id_for
from tests.embedded_app import app_settings, settled

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = app_settings(
    START_QUEUE_NAME="start-requests", TASKHUB_NAME="MediaHub", EVENT_INBOX_QUEUE="event-inbox"
)


@pytest.fixture
async def app() -> AsyncIterator[EmbeddedRuntime]:
    async with EmbeddedRuntime(ROOT, settings=SETTINGS) as runtime:
        yield runtime


async def post(url: str, body: bytes, **headers: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(skip_auto_headers=["Content-Type"]) as session,
        session.post(url, data=body, headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None)


async def test_only_json_bodies_are_read(app: EmbeddedRuntime) -> None:
    start = f"{app.base_url}/api/orchestrators/long_job"
    body = b'{"duration_s": 60}'
    for number, content_type in enumerate(("text/plain", "application/x-www-form-urlencoded")):
        status, problem = await post(
            f"{start}/media-{number}", body, **{"Content-Type": content_type}
        )
        assert status == 415, problem
        assert problem["type"].endswith(":unsupported-media-type")
        assert content_type in problem["detail"]
    status, problem = await post(
        f"{app.base_url}/api/events", b"{}", **{"Content-Type": "text/plain"}
    )
    assert status == 415, problem
    accepted = [
        ("json", {"Content-Type": "application/json; charset=utf-8"}),
        ("vendor", {"Content-Type": "application/vnd.contoso+json"}),
        ("none", {}),
    ]
    for name, headers in accepted:
        status, answer = await post(f"{start}/media-{name}", body, **headers)
        assert status == 202, (name, answer)
    await settled(app)
    assert app.runtime.get_status("media-0") is None  # a refused body started nothing


async def test_a_cloudevent_in_binary_content_mode(app: EmbeddedRuntime) -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "bin-1",
        "ce-source": "/contoso/reports",
        "ce-type": "Contoso.Reports.ReportRequested",
        "ce-subject": "reports/90",
        "Content-Type": "application/json",
    }
    body = b'{"reportId": "90", "duration_s": 60}'
    status, answer = await post(f"{app.base_url}/api/events", body, **headers)
    assert status == 202, answer
    (accepted,) = answer["accepted"]
    assert accepted["instanceId"] == "report-90" and accepted["eventId"] == "bin-1"
    assert accepted["requestId"] == request_id_for("/contoso/reports", "bin-1")
    await settled(app)
    assert app.runtime.get_status("report-90")["runtimeStatus"] == "Running"
    missing = {k: v for k, v in headers.items() if k != "ce-type"}
    status, problem = await post(f"{app.base_url}/api/events", body, **missing)
    assert status == 400 and "type" in str(problem), problem


async def test_plain_language_refusals(app: EmbeddedRuntime) -> None:
    start = f"{app.base_url}/api/orchestrators/long_job/plain-1"
    status, problem = await post(start, b"")
    assert status == 422, problem
    assert "the request body is empty" in problem["detail"]
    assert "None is not" not in problem["detail"]
    for value in ("nan", "inf", "soon"):
        status, problem = await post(f"{start}?wait={value}", b'{"duration_s": 1}')
        assert status == 400, problem
        assert "must be a number of seconds" in problem["detail"], problem


async def test_a_repeated_idempotency_key_answers_the_requests_state_now(
    app: EmbeddedRuntime,
) -> None:
    start = f"{app.base_url}/api/orchestrators/long_job/idem-1"
    body = b'{"duration_s": 60}'
    key = {"Idempotency-Key": "idem-key-1"}
    status, first = await post(start, body, **key)
    assert status == 202 and first["outcome"] == "pending", first
    await settled(app)
    # Decided since: the repeat answers with the decision's status, as ?wait would.
    for _ in range(3):
        status, again = await post(start, body, **key)
        assert status == 201 and again["outcome"] == "started", again
        assert again["requestId"] == first["requestId"]
    history = app.runtime.get_status("idem-1", show_history=True)["historyEvents"]
    assert sum(e["EventType"] == "ExecutionStarted" for e in history) == 1
