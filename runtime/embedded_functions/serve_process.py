"""The runtime as a process of its own (`python -m embedded_functions serve`), for tests and
benchmarks that need a real process: a kill, a restart, a second client."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO

from .runtime_signal import DATA_DIR_SETTING, QUEUE_KEY_SETTING, URL_SETTING

# Settings the host publishes itself; inherited values would point at another host.
_PUBLISHED = (URL_SETTING, DATA_DIR_SETTING, QUEUE_KEY_SETTING)
# Where this package is importable from: handed to the child, installed or not.
_IMPORT_ROOT = str(Path(__file__).resolve().parent.parent)

Output = int | IO[bytes] | None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_serve(
    script_root: str | Path,
    *,
    port: int | None = None,
    data_dir: str | Path | None = None,
    settings: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    output: Output = subprocess.DEVNULL,
    cwd: str | Path | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `python -m embedded_functions serve` for `script_root`: the process and its port.

    In memory unless `data_dir` is given; `args` are further serve flags (`--time-skipping`,
    `--enforce-keys`, ...). Relative paths are the child's, which runs in `cwd` (default:
    this process's working directory).
    """
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if k not in _PUBLISHED}
    env.update(settings or {})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_IMPORT_ROOT, env.get("PYTHONPATH")) if p)
    where = ["--data-dir", str(data_dir)] if data_dir is not None else ["--in-memory"]
    command = [
        sys.executable,
        "-m",
        "embedded_functions",
        "serve",
        "--script-root",
        str(script_root),
        "--port",
        str(port),
        *where,
        *args,
    ]
    process = subprocess.Popen(
        command, cwd=cwd or os.getcwd(), env=env, stdout=output, stderr=subprocess.STDOUT
    )
    return process, port


async def wait_listening(
    port: int, process: subprocess.Popen[bytes], timeout: float = 30.0
) -> None:
    """Until the process accepts connections on `port` (fails at once if it exits)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise RuntimeError(f"the runtime exited ({process.returncode}): {output}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise TimeoutError("the runtime did not start listening")


def stop_serve(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM (the host drains and stops), then SIGKILL if it does not."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


class RuntimeProcess:
    """A started `serve` process: its URL, and a stop that drains it."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    async def start(
        cls,
        script_root: str | Path,
        *,
        data_dir: str | Path | None = None,
        settings: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        output: Output = subprocess.DEVNULL,
        cwd: str | Path | None = None,
        timeout: float = 30.0,
    ) -> RuntimeProcess:
        process, port = start_serve(
            script_root, data_dir=data_dir, settings=settings, args=args, output=output, cwd=cwd
        )
        try:
            await wait_listening(port, process, timeout)
        except BaseException:
            stop_serve(process)
            raise
        return cls(process, port)

    async def shutdown(self, timeout: float = 30.0) -> int:
        """Stop it (SIGTERM, then SIGKILL after `timeout`); its exit status."""
        return await asyncio.to_thread(stop_serve, self.process, timeout)

    async def __aenter__(self) -> RuntimeProcess:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()
