"""`GET /api/health`, the refusal log and the runtime's access log, on the real host
(in-process embedded runtime; the outcome store is SQLite, the queue the embedded one)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from embedded_functions.testing import EmbeddedRuntime
from starters.functions.settings import StarterSettings
from starters.senders.probe import SenderUnavailable, probe_sender
from tests.embedded_app import app_settings

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = app_settings(
    START_QUEUE_NAME="start-requests", TASKHUB_NAME="HealthHub", EVENT_INBOX_QUEUE="event-inbox"
)


@pytest.fixture
async def app() -> AsyncIterator[EmbeddedRuntime]:
    async with EmbeddedRuntime(ROOT, settings=SETTINGS) as runtime:
        yield runtime


async def _get(url: str, **params: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url, params=params) as response:
        return response.status, await response.json(content_type=None)


async def test_healthy_when_every_part_answers(app: EmbeddedRuntime) -> None:
    status, body = await _get(f"{app.base_url}/api/health")
    assert status == 200, body
    assert body["status"] == "healthy"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "outcomeStore": "ok",
        "durable": "ok",
        "sender": "ok",
    }


async def test_an_unreachable_store_is_a_503_naming_it(tmp_path: Path) -> None:
    # The store's file is under a regular file: it cannot be opened. The rest is fine.
    (tmp_path / "not-a-folder").write_text("")
    settings = {**SETTINGS, "OUTCOME_STORE": f"sqlite:{tmp_path / 'not-a-folder' / 'x.db'}"}
    async with EmbeddedRuntime(ROOT, settings=settings) as runtime:
        status, body = await _get(f"{runtime.base_url}/api/health")
    assert status == 503, body
    assert body["type"].endswith(":unhealthy") and "outcomeStore" in body["detail"]
    checks = body["checks"]
    assert checks["outcomeStore"]["status"] == "failed" and checks["outcomeStore"]["detail"]
    assert checks["durable"]["status"] == checks["sender"]["status"] == "ok"


async def test_the_sender_probe_names_what_is_wrong(app: EmbeddedRuntime) -> None:
    def settings(**values: str) -> StarterSettings:
        return StarterSettings.from_env({**SETTINGS, **values})

    await probe_sender(settings(EMBEDDED_RUNTIME_URL=app.base_url))  # reachable: no error
    with pytest.raises(SenderUnavailable, match="does not exist"):
        await probe_sender(
            settings(EMBEDDED_RUNTIME_URL=app.base_url, START_QUEUE_NAME="no-such-queue")
        )
    with pytest.raises(SenderUnavailable, match="not set"):
        await probe_sender(StarterSettings.from_env({"START_QUEUE_NAME": "start-requests"}))
    with pytest.raises(OSError):
        await probe_sender(settings(EMBEDDED_RUNTIME_URL="http://127.0.0.1:9"))
    assert (app.queues.counts("start-requests")) == {"active": 0, "dead": 0}  # nothing sent


async def test_refusals_and_requests_are_logged_without_bodies_or_keys(
    app: EmbeddedRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url = f"{app.base_url}/api/orchestrators/long_job/bad%20id"
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url,
            params={"code": "secret-key-123"},
            json={"duration_s": "secret-input"},
            headers={"Idempotency-Key": "req-logged-1"},
        ) as response,
    ):
        assert response.status == 422
    refusals = [r.getMessage() for r in caplog.records if r.name == "starters.http.refusals"]
    assert refusals == ["refused requestId=req-logged-1 status=422 type=contract-violation"]
    access = [r.getMessage() for r in caplog.records if r.name == "embedded_functions.access"]
    line = next(m for m in access if m.startswith("POST /api/orchestrators/long_job/bad%20id?"))
    assert "?code=… 422 " in line and line.endswith("ms")
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert "secret-key-123" not in everything and "secret-input" not in everything
