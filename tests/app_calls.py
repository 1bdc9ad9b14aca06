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

from embedded_functions.servicebus.session_queue import NewMessage
from embedded_functions.testing import EmbeddedRuntime
from starters.contract import StartRequest
from tests.embedded_app import app_settings

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD_APP = ROOT / "tests" / "apps" / "dashboard_standin"
BEING_DECIDED = "urn:singleton-starters:problem:being-decided"
START_QUEUE = "start-requests"


def dashboard_app(hub: str) -> EmbeddedRuntime:
    """The app the dashboard's browser test and screenshot run, in this process (outcomes
    in memory), with the queues of servicebus-emulator/Config.json."""
    settings = app_settings(
        START_QUEUE_NAME=START_QUEUE, TASKHUB_NAME=hub, EVENT_INBOX_QUEUE="event-inbox"
    )
    config = ROOT / "servicebus-emulator" / "Config.json"
    return EmbeddedRuntime(DASHBOARD_APP, settings=settings, queue_config=config)


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
    queues = runtime.queues
    request = StartRequest("long_job", instance_id, request_id, {"duration_s": 60})
    # A few seconds of skipped time: the Durable instances share the clock, and their
    # times should stay close to the records' (which keep the wall clock's).
    later = queues.clock.now() + timedelta(seconds=2)
    message = NewMessage(
        body=request.to_bytes(),
        message_id=request_id,
        session_id=instance_id,
        scheduled_enqueue_time=later,
        time_to_live=timedelta(seconds=1),
    )
    queues.send(START_QUEUE, [message])
    queues.clock.skip_to(later + timedelta(seconds=2))
    await until_outcome(runtime.base_url, request_id, "dead-lettered")
