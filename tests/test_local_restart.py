"""Kill the local host with SIGKILL while start requests are queued and locked; after a
restart every accepted request has exactly one decision and each ID at most one start.

Runs `python -m embedded_functions serve` as a real process on this project's app."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from embedded_functions.testing import free_port, start_serve, stop_serve, wait_listening
from tests.embedded_app import app_settings

ROOT = Path(__file__).resolve().parent.parent
IDS, PER_ID = 30, 5


def serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    settings = {
        **app_settings(data_dir),
        "START_QUEUE_NAME": "start-requests",
        "TASKHUB_NAME": "RestartHub",
        # A killed receiver's locks and claims run out before anyone else may act: short
        # ones keep the test short (the production values are a minute and 30 s).
        "STARTER_HANDLER_DEADLINE_S": "3",
        "STARTER_CLAIM_LEASE_S": "4",
    }
    config = str(ROOT / "tests" / "apps" / "short_locks.Config.json")
    process, _ = start_serve(
        ROOT,
        port=port,
        data_dir=data_dir,
        settings=settings,
        args=("--log-level", "WARNING", "--queue-config", config),
    )
    return process


async def accepted_requests(base: str, round_: int) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session:

        async def post(instance: str, k: int) -> dict[str, Any] | None:
            url = f"{base}/api/orchestrators/long_job/{instance}"
            try:
                async with session.post(url, json={"duration_s": 120, "k": k}) as r:
                    return await r.json() if r.status == 202 else None
            except aiohttp.ClientError:
                return None

        answers = await asyncio.gather(
            *(post(f"kill-{round_}-{n}", k) for n in range(IDS) for k in range(PER_ID))
        )
    return [a for a in answers if a is not None]


async def decided(base: str, request_ids: list[str]) -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            for request_id in [r for r in request_ids if r not in records]:
                async with session.get(f"{base}/api/requests/{request_id}") as r:
                    if r.status == 200:
                        records[request_id] = await r.json()
            if len(records) == len(request_ids):
                return records
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{len(request_ids) - len(records)} requests undecided")


async def history_starts(base: str, instance: str) -> int:
    url = f"{base}/runtime/webhooks/durabletask/instances/{instance}?showHistory=true"
    async with aiohttp.ClientSession() as session, session.get(url) as r:
        status = await r.json()
    return sum(1 for e in status["historyEvents"] if e["EventType"] == "ExecutionStarted")


async def _kill_rounds(tmp_path: Path, rounds: int, seed: int = 0) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = serve(tmp_path / "state", port)
    accepted: list[dict[str, Any]] = []
    chance = random.Random(seed)
    try:
        for round_ in range(rounds):
            await wait_listening(port, process)
            sending = asyncio.create_task(accepted_requests(base, round_))
            # A random point of the run: while requests arrive, or while they are handled.
            await asyncio.sleep(chance.uniform(0.0, 0.6))
            process.send_signal(signal.SIGKILL)  # requests still queued and locked
            accepted += await sending
            process.wait(timeout=10)
            process = serve(tmp_path / "state", port)
        await wait_listening(port, process)
        records = await decided(base, [a["requestId"] for a in accepted])
        by_instance: dict[str, list[dict[str, Any]]] = {}
        for record in records.values():
            by_instance.setdefault(record["instanceId"], []).append(record)
        for instance, mine in by_instance.items():
            outcomes = sorted(r["outcome"] for r in mine)
            assert outcomes.count("started") == 1, (instance, outcomes)
            assert set(outcomes) <= {"started", "rejected"}
            assert await history_starts(base, instance) == 1
    finally:
        stop_serve(process)


async def test_sigkill_with_requests_in_flight(tmp_path: Path) -> None:
    await _kill_rounds(tmp_path, 1)


@pytest.mark.slow
async def test_sigkill_twenty_times_at_random_points(tmp_path: Path) -> None:
    await _kill_rounds(tmp_path, 20, seed=2026)
