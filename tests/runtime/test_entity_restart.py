"""Entity state and acknowledged entity operations survive a SIGKILL of the host.

Runs `python -m embedded_functions serve` as a real process on the v2 counter app: every signal the
host acknowledged (202) is applied exactly once, before or after the restart."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import aiohttp

from embedded_functions.testing import free_port, start_serve, stop_serve, wait_listening
from tests.runtime.conftest import APPS

APP = APPS / "entities_v2"


async def call(method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(method, url, **kwargs) as r:
        body = await r.read()
        return r.status, json.loads(body) if body else None


async def serve(data: Path, port: int) -> subprocess.Popen[bytes]:
    process, _ = start_serve(APP, port=port, data_dir=data, output=subprocess.PIPE)
    await wait_listening(port, process)
    return process


async def finished(base: str, instance_id: str) -> dict[str, Any]:
    for _ in range(600):
        status, body = await call("GET", f"{base}/instances/{instance_id}")
        if status == 200:
            return dict(body)
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{instance_id} did not finish")


async def test_entity_state_and_pending_signals_survive_sigkill(tmp_path: Path) -> None:
    data, port = tmp_path / "state", free_port()
    base = f"http://127.0.0.1:{port}/runtime/webhooks/durabletask"
    counter = f"{base}/entities/Counter/survivor"
    process = await serve(data, port)
    try:
        # As the SDK signals: the input JSON-encoded once more.
        for _ in range(10):
            status, _ = await call("POST", f"{counter}?op=add", json=json.dumps(1))
            assert status == 202
        # A call through an orchestration: it answers once all ten were applied.
        assert (
            await call(
                "POST",
                f"{base}/orchestrators/counter_orchestrator/before",
                json=json.dumps("survivor"),
            )
        )[0] == 202
        assert (await finished(base, "before"))["output"] == 13
        # Ten more, acknowledged, then the kill: some may still be in the inbox.
        for _ in range(10):
            assert (await call("POST", f"{counter}?op=add", json=json.dumps(1)))[0] == 202
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        process = await serve(data, port)
        assert (
            await call(
                "POST",
                f"{base}/orchestrators/counter_orchestrator/after",
                json=json.dumps("survivor"),
            )
        )[0] == 202
        # 13 before the kill, ten acknowledged signals and this orchestration's three.
        assert (await finished(base, "after"))["output"] == 26
        assert await call("GET", counter) == (200, 26)
    finally:
        if process.poll() is None:
            stop_serve(process)
