"""Calls on a running app for the browser and cross-site tests and the screenshot: the
HTTP API with crafted headers, waiting for an outcome, and a dead letter made the way the
queue makes one (a message that expires before its turn)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from embedded_functions.testing import EmbeddedRuntime
from starters.contract import StartRequest
from tests.embedded_app import app_settings, expire_into_dead_letters

ROOT = Path(__file__).resolve().parent.parent
BEING_DECIDED = "urn:singleton-starters:problem:being-decided"
START_QUEUE = "start-requests"


def app_in_process(hub: str) -> EmbeddedRuntime:
    """This app in this process for the browser, cross-site and screenshot runs (outcomes
    in memory), with the queues of servicebus-emulator/Config.json."""
    settings = app_settings(
        START_QUEUE_NAME=START_QUEUE, TASKHUB_NAME=hub, EVENT_INBOX_QUEUE="event-inbox"
    )
    config = ROOT / "servicebus-emulator" / "Config.json"
    return EmbeddedRuntime(ROOT, settings=settings, queue_config=config)


async def call(
    method: str, url: str, headers: dict[str, str] | None = None, body: Any = None
) -> tuple[int, str, Any]:
    """Status, content type and JSON body (None when the body is not JSON)."""
    data = json.dumps(body).encode() if body is not None else None
    sent = {"Content-Type": "application/json", **(headers or {})}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, headers=sent, data=data) as response,
    ):
        try:
            payload = await response.json(content_type=None)
        except ValueError:
            payload = None
        return response.status, response.headers.get("Content-Type", ""), payload


async def start(
    base: str,
    instance_id: str,
    duration_s: float,
    *,
    request_id: str | None = None,
    query: str = "",
) -> tuple[int, Any]:
    """POST a long_job start; `query` such as "?onRunning=queue" or "?wait=10"."""
    headers = {"Idempotency-Key": request_id} if request_id else None
    url = f"{base}/api/orchestrators/long_job/{instance_id}{query}"
    status, _, body = await call("POST", url, headers, {"duration_s": duration_s})
    return status, body


async def until_outcome(base: str, request_id: str, wanted: str, timeout: float = 15.0) -> None:
    """Until the record of `request_id` has the outcome `wanted`."""
    url = f"{base}/api/requests/{request_id}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    record: Any = None
    while loop.time() < deadline:
        status, _, record = await call("GET", url)
        if status in (200, 202) and record["outcome"] == wanted:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{request_id} never became {wanted}: {record}")


async def dead_letter(runtime: EmbeddedRuntime, instance_id: str, request_id: str) -> None:
    """A request whose message expires while scheduled: the queue dead-letters it and the
    app's dead-letter function records it `dead-lettered` (keeping its body)."""
    body = StartRequest("long_job", instance_id, request_id, {"duration_s": 60}).to_bytes()
    # A few seconds of skipped time: the Durable instances' times stay near the records'.
    expire_into_dead_letters(runtime, body, request_id, instance_id, after=timedelta(seconds=2))
    await until_outcome(runtime.base_url, request_id, "dead-lettered")
