"""`forward` end to end on the local host, through the real Durable SDK: HTTP -> embedded
session queue -> session trigger -> handler -> embedded Durable runtime -> the SDK
replaying tests/apps/forward_app's orchestrator. Service Bus is the embedded queue (the
real one cannot run here).

20 forwards in bursts of 1 to 5 reach an orchestrator that calls an activity after each
input, so inputs arrive while it is not waiting. The strict-xfail twin runs the same on
the SDK as released (the early-event fix taken out after the app was built): it shows the
defect, and turns into a failure the day upstream fixes it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from embedded_functions.testing import EmbeddedRuntime
from starters import _sdk_event_fifo as sdk_event_fifo
from tests.embedded_app import app_settings

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "tests" / "apps" / "forward_app"
SETTINGS = app_settings(START_QUEUE_NAME="start-requests", TASKHUB_NAME="ForwardHub")
BURSTS = [1, 5, 2, 4, 3, 5]  # 20 forwards
INSTANCE = "burst-1"

pytestmark = pytest.mark.filterwarnings("ignore:Potential duplicate Task completion")


@pytest.fixture
async def app() -> AsyncIterator[EmbeddedRuntime]:
    async with EmbeddedRuntime(
        APP, settings=SETTINGS, queue_config=ROOT / "servicebus-emulator" / "Config.json"
    ) as runtime:
        yield runtime
    sdk_event_fifo.install()


async def post(session: aiohttp.ClientSession, base: str, body: Any) -> str:
    async with session.post(f"{base}/api/orchestrators/burst_worker/{INSTANCE}", json=body) as r:
        assert r.status == 202, await r.text()
        answer: dict[str, Any] = await r.json()
        return str(answer["requestId"])


async def decided(
    session: aiohttp.ClientSession, base: str, request_id: str, timeout: float = 40
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        async with session.get(f"{base}/api/requests/{request_id}?wait=5") as r:
            if r.status == 200:
                record: dict[str, Any] = await r.json()
                return record
    raise TimeoutError(f"request {request_id} was not decided in {timeout:g} s")


async def forward_in_bursts(app: EmbeddedRuntime) -> tuple[list[str], list[dict[str, Any]]]:
    """Start the worker, then forward inputs 1..20 in bursts; each burst is enqueued back to
    back and decided before the next one is sent."""
    base = app.base_url
    async with aiohttp.ClientSession() as session:
        first = await post(session, base, {"n": 0, "window_s": 4, "work_s": 0.3})
        records = [await decided(session, base, first)]
        forwarded: list[str] = []
        n = 0
        for size in BURSTS:
            burst = []
            for _ in range(size):
                n += 1
                burst.append(await post(session, base, {"n": n}))
            forwarded += burst
            records += [await decided(session, base, request_id) for request_id in burst]
    return forwarded, records


async def test_twenty_forwards_in_bursts_are_each_received_once_in_order(
    app: EmbeddedRuntime,
) -> None:
    assert sdk_event_fifo.is_installed()  # building the app's blueprint installed it
    forwarded, records = await forward_in_bursts(app)
    assert records[0]["outcome"] == "started"
    for record in records[1:]:
        assert record["outcome"] == "forwarded", record
        assert "acknowledged" in record["reason"], record
    status = await app.wait_for(INSTANCE, timeout=60)  # finishes once the work stops
    assert status["runtimeStatus"] == "Completed"
    output = status["output"]
    assert output["received"] == list(range(21))  # each input once, in order
    assert output["acknowledged"] == forwarded


@pytest.mark.xfail(
    strict=True,
    reason="azure-functions-durable as released repeats and drops early events "
    "(Azure/azure-functions-durable-python#507); an XPASS means upstream fixed it",
)
async def test_without_the_fix_forwarded_inputs_are_repeated(app: EmbeddedRuntime) -> None:
    sdk_event_fifo.uninstall()
    try:
        await forward_in_bursts(app)
        status = await _finished_or_repeating(app)
        received = (status.get("customStatus") or {}).get("received") or []
        assert received == list(range(21)), f"received {len(received)} inputs: {received[:40]}"
        assert status["runtimeStatus"] == "Completed"
    finally:
        await app.client().terminate(INSTANCE, "end of the test")


async def _finished_or_repeating(app: EmbeddedRuntime, timeout: float = 15) -> dict[str, Any]:
    """The status once the worker finished, or as soon as it read more inputs than sent."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status = app.runtime.get_status(INSTANCE)
        assert status is not None
        received = (status.get("customStatus") or {}).get("received") or []
        if status["runtimeStatus"] == "Completed" or len(received) > 21:
            return status
        if loop.time() > deadline:
            return status
        await asyncio.sleep(0.1)
