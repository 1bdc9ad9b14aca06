"""`python -m embedded_functions serve` as a real process: SIGKILL mid-orchestration and restart.

After the restart every instance finishes; activities whose completion was committed
before the kill do not run again (the one running at the kill may: at-least-once, as on
the real host); the pending timer still fires.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from embedded_functions.testing import free_port, start_serve, wait_listening
from tests.runtime.conftest import APPS

ROOT = Path(__file__).resolve().parents[2]
APP = APPS / "kill_resume"


def serve(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    settings = {"STEP_LOG": str(log), "STEP_SECONDS": "0.15"}
    process, _ = start_serve(
        APP, port=port, data_dir=data_dir, settings=settings, output=subprocess.PIPE
    )
    return process


async def call(method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(method, url, **kwargs) as r:
        body = await r.read()
        return r.status, json.loads(body) if body else None


def runs(log: Path) -> Counter[str]:
    return Counter(log.read_text().splitlines()) if log.exists() else Counter()


@pytest.mark.parametrize("kills", [1])
async def test_sigkill_and_restart_resume_every_instance(tmp_path: Path, kills: int) -> None:
    await _kill_and_resume(tmp_path, kills)


@pytest.mark.slow
async def test_sigkill_many_times(tmp_path: Path) -> None:
    await _kill_and_resume(tmp_path, 5)


async def _kill_and_resume(tmp_path: Path, kills: int) -> None:
    data, log, port = tmp_path / "state", tmp_path / "steps.log", free_port()
    base = f"http://127.0.0.1:{port}/runtime/webhooks/durabletask"
    process = serve(data, port, log)
    try:
        await wait_listening(port, process)
        job = {"steps": 8, "timer_after": 5, "timer_s": 1.0}
        for n in range(3):
            status, _ = await call(
                "POST", f"{base}/orchestrators/steps/job-{n}", json=json.dumps(dict(job, run=n))
            )
            assert status == 202
        committed: set[str] = set()
        for _ in range(kills):
            deadline = time.monotonic() + 20
            # Polls a file another process writes: there is no event to wait on.
            while sum(runs(log).values()) < 4 + len(committed) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            for n in range(3):
                _, status = await call("GET", f"{base}/instances/job-{n}?showHistory=true")
                done = [e for e in status["historyEvents"] if e["EventType"] == "TaskCompleted"]
                committed |= {f"{n} {i}" for i in range(len(done))}
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            process = serve(data, port, log)
            await wait_listening(port, process)
        deadline = time.monotonic() + 60
        finals: dict[int, Any] = {}
        while len(finals) < 3 and time.monotonic() < deadline:
            for n in range(3):
                code, status = await call("GET", f"{base}/instances/job-{n}")
                if code == 200:
                    finals[n] = status
            await asyncio.sleep(0.1)
        assert {n: s["runtimeStatus"] for n, s in finals.items()} == {
            0: "Completed",
            1: "Completed",
            2: "Completed",
        }
        assert all(s["output"] == list(range(8)) for s in finals.values())
        counts = runs(log)
        assert set(counts) == {f"{n} {i}" for n in range(3) for i in range(8)}
        assert all(counts[step] == 1 for step in committed)  # committed: never run again
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


async def test_a_second_process_on_the_same_data_directory_is_refused(tmp_path: Path) -> None:
    port = free_port()
    first = serve(tmp_path / "state", port, tmp_path / "log")
    try:
        await wait_listening(port, first)
        second = serve(tmp_path / "state", free_port(), tmp_path / "log")
        output, _ = second.communicate(timeout=30)
        assert second.returncode == 4
        assert b"is in use by process" in output
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=10)
    assert first.returncode == 0
