"""Start the embedded runtime inside a test, as Temporal's test environment is started.

    from emulator.testing import EmbeddedRuntime

    async def test_my_job():
        async with EmbeddedRuntime("path/to/app", time_skipping=True) as runtime:
            client = runtime.client()          # the SDK's real DurableOrchestrationClient
            await client.start_new("my_job", "job-1", {"hours": 1})
            status = await runtime.wait_for("job-1")
            assert status["runtimeStatus"] == "Completed"

or, with the pytest plugin (`pytest_plugins = ["emulator.testing"]` in conftest.py), the
`embedded_runtime` fixture, configured by the `embedded_runtime_options` fixture.

The Durable SDK keeps one module-wide aiohttp session, bound to the event loop that first
used it; pytest-asyncio gives every test a new loop. The runtime resets that session when
it starts and when it stops, so each test's client gets a session of its own loop.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from .durable.runtime import FINISHED, StartMode
from .host import EmulatorHost, HostOptions
from .runtime_signal import DATA_DIR_SETTING, QUEUE_KEY_SETTING, URL_SETTING
from .sdk_session import reset_durable_sdk_session


class EmbeddedRuntime:
    def __init__(
        self,
        script_root: str | Path = ".",
        *,
        data_dir: str | Path | None = None,
        time_skipping: bool = False,
        start_mode: StartMode | str = StartMode.AZURE_STORAGE,
        port: int = 0,
        load_local_settings: bool = False,
        settings: dict[str, str] | None = None,
        queue_config: str | Path | None = "servicebus-emulator/Config.json",
    ) -> None:
        self.host = EmulatorHost(
            HostOptions(
                script_root=Path(script_root),
                port=port,
                data_dir=Path(data_dir) if data_dir is not None else None,
                start_mode=StartMode(start_mode),
                time_skipping=time_skipping,
                load_local_settings=load_local_settings,
                settings=dict(settings or {}),
                queue_config=Path(queue_config) if queue_config is not None else None,
                drain_seconds=5.0,
            )
        )

    async def __aenter__(self) -> EmbeddedRuntime:
        await reset_durable_sdk_session()
        await self.host.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await reset_durable_sdk_session()
        await self.host.stop()

    @property
    def base_url(self) -> str:
        return self.host.base_url

    @property
    def runtime(self) -> Any:
        return self.host.runtime

    def client_binding(self) -> str:
        assert self.host.api is not None
        return self.host.api.client_binding()

    def client(self) -> Any:
        """The Durable SDK's own client, bound to this runtime."""
        from azure.durable_functions import DurableOrchestrationClient

        return DurableOrchestrationClient(self.client_binding())

    async def wait_for(
        self, instance_id: str, *, statuses: frozenset[str] = FINISHED, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Wait until the instance reaches one of `statuses` (by default: finished)."""
        assert self.host.runtime is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            status = self.host.runtime.get_status(instance_id, show_history=True)
            if status is not None and status["runtimeStatus"] in statuses:
                return status
            if loop.time() > deadline:
                raise TimeoutError(f"{instance_id} did not reach {sorted(statuses)}: {status}")
            await asyncio.sleep(0.01)


@pytest.fixture
def embedded_runtime_options() -> dict[str, Any]:
    """Override in a conftest.py to configure `embedded_runtime` (script_root, ...)."""
    return {"script_root": ".", "time_skipping": True}


@pytest.fixture
async def embedded_runtime(
    embedded_runtime_options: dict[str, Any],
) -> AsyncIterator[EmbeddedRuntime]:
    async with EmbeddedRuntime(**embedded_runtime_options) as runtime:
        yield runtime


# -- the runtime as a separate process (`python -m emulator serve`) ------------------------

# Settings the host publishes itself; inherited values would point at another host.
_PUBLISHED = (URL_SETTING, DATA_DIR_SETTING, QUEUE_KEY_SETTING)


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
    output: Any = subprocess.DEVNULL,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `python -m emulator serve` for `script_root`; returns the process and its port.

    In memory unless `data_dir` is given. The child can import this package (PYTHONPATH).
    """
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if k not in _PUBLISHED}
    env.update(settings or {})
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    where = ["--data-dir", str(data_dir)] if data_dir is not None else ["--in-memory"]
    command = [
        sys.executable,
        "-m",
        "emulator",
        "serve",
        "--script-root",
        str(script_root),
        "--port",
        str(port),
        *where,
        *args,
    ]
    process = subprocess.Popen(
        command, cwd=package_root, env=env, stdout=output, stderr=subprocess.STDOUT
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
            raise RuntimeError(f"the emulator exited ({process.returncode}): {output}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise TimeoutError("the emulator did not start listening")


def stop_serve(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM (the host drains and stops), then SIGKILL if it does not."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
