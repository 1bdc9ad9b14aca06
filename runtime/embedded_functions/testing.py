"""The embedded Functions runtime inside a test, as Temporal's `WorkflowEnvironment` is.

    from embedded_functions.testing import EmbeddedRuntime

    async def test_my_job() -> None:
        async with await EmbeddedRuntime.start_time_skipping("path/to/app") as runtime:
            client = runtime.client()          # the SDK's real DurableOrchestrationClient
            await client.start_new("my_job", "job-1", {"hours": 1})
            status = await runtime.wait_for("job-1")
            assert status["runtimeStatus"] == "Completed"

`EmbeddedRuntime.start_local` runs on the wall clock; `EmbeddedRuntime.start_process`
starts `python -m embedded_functions serve` as a process of its own. Time: `sleep`,
`get_current_time`, `supports_time_skipping`, `auto_time_skipping_disabled()`. Quiet:
`wait_idle` (no orchestration, activity or queue message runnable), to check that nothing
(more) happens without sleeping for a guessed time. This module imports no test framework;
the pytest fixtures are in `embedded_functions.pytest_plugin`.

The Durable SDK keeps one module-wide aiohttp session, bound to the event loop that first
used it; pytest-asyncio gives every test a new loop. The runtime resets that session when
it starts and when it stops, so each test's client gets a session of its own loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .durable.instances import StartMode
from .durable.runtime import DurableRuntime
from .durable.statuses import FINISHED, RuntimeStatus
from .host import FunctionsHost, HostOptions
from .sdk_session import reset_durable_sdk_session
from .serve_process import RuntimeProcess, free_port, start_serve, stop_serve, wait_listening
from .servicebus.session_queue import SessionQueues

if TYPE_CHECKING:
    from azure.durable_functions import DurableOrchestrationClient

# The status JSON of `GET instances/{id}`: name, instanceId, runtimeStatus, input, output,
# customStatus, createdTime, lastUpdatedTime (and historyEvents when asked for).
InstanceStatus = dict[str, Any]


class EmbeddedRuntime:
    """The runtime's host in this process, on this event loop. Use `async with` (or
    `start_*` and `shutdown`)."""

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
        self.host = FunctionsHost(
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

    # -- life cycle -------------------------------------------------------------------

    @classmethod
    async def start_local(cls, script_root: str | Path = ".", **options: Any) -> EmbeddedRuntime:
        """Started, on the wall clock (options: as the constructor's)."""
        runtime = cls(script_root, **{**options, "time_skipping": False})
        await runtime.start()
        return runtime

    @classmethod
    async def start_time_skipping(
        cls, script_root: str | Path = ".", **options: Any
    ) -> EmbeddedRuntime:
        """Started, with time skipping: a durable timer fires as soon as nothing else can
        run, so an orchestration that waits an hour finishes at once."""
        runtime = cls(script_root, **{**options, "time_skipping": True})
        await runtime.start()
        return runtime

    @staticmethod
    async def start_process(
        script_root: str | Path = ".",
        *,
        data_dir: str | Path | None = None,
        settings: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        timeout: float = 30.0,
    ) -> RuntimeProcess:
        """`python -m embedded_functions serve` as a process of its own, listening."""
        return await RuntimeProcess.start(
            script_root, data_dir=data_dir, settings=settings, args=args, timeout=timeout
        )

    async def start(self) -> None:
        await reset_durable_sdk_session()
        await self.host.start()

    async def shutdown(self) -> None:
        await reset_durable_sdk_session()
        await self.host.stop()

    async def __aenter__(self) -> EmbeddedRuntime:
        if not self.host.started:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    # -- what it serves -----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.host.base_url

    @property
    def runtime(self) -> DurableRuntime:
        return self.host.runtime

    @property
    def queues(self) -> SessionQueues:
        return self.host.queues

    def client_binding(self) -> str:
        """The `durableClient` binding's JSON, as the host hands it to a function."""
        return self.host.api.client_binding()

    def client(self) -> DurableOrchestrationClient:
        """The Durable SDK's own client, bound to this runtime."""
        from azure.durable_functions import DurableOrchestrationClient

        return DurableOrchestrationClient(self.client_binding())

    async def stop_dead_letter_triggers(self) -> None:
        """Stop the dead-letter queues' triggers: dead letters stay where they are."""
        await self.host.service_bus.stop_dead_letter_triggers()

    # -- time ---------------------------------------------------------------------------

    @property
    def supports_time_skipping(self) -> bool:
        return self.host.options.time_skipping

    async def get_current_time(self) -> datetime:
        """The runtime's time (ahead of the wall clock by what was skipped)."""
        return self.host.clock.now()

    async def sleep(self, duration: timedelta | float) -> None:
        """Let `duration` pass: skipped at once with time skipping, waited for without."""
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else duration
        if not self.supports_time_skipping:
            await asyncio.sleep(seconds)
            return
        self.host.clock.skip_to(self.host.clock.now() + timedelta(seconds=seconds))
        self.host.runtime.wake()
        await asyncio.sleep(0)  # the dispatcher sees the new time before the caller goes on

    @contextmanager
    def auto_time_skipping_disabled(self) -> Iterator[None]:
        """Inside it, durable timers wait for real time (or for `sleep`)."""
        clock = self.host.clock
        before, clock.time_skipping = clock.time_skipping, False
        try:
            yield
        finally:
            clock.time_skipping = before
            self.host.runtime.wake()

    # -- waiting ------------------------------------------------------------------------

    def is_idle(self) -> bool:
        """Nothing runnable: no orchestration episode, activity or due timer, no queue
        message deliverable or in a function, and (skipping time) no timer left to skip."""
        host = self.host
        durable_timers_pending = host.clock.time_skipping and host.runtime.has_timers()
        return host.runtime.is_idle() and host.service_bus.is_idle() and not durable_timers_pending

    async def wait_idle(self, timeout: float = 30.0, *, settle: float = 0.05) -> None:
        """Until the runtime is idle and stays so for `settle` seconds (a function's call to
        the runtime may be on its way); TimeoutError after `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet_since: float | None = None
        while True:
            now = loop.time()
            if self.is_idle():
                quiet_since = now if quiet_since is None else quiet_since
                if now - quiet_since >= settle:
                    return
            else:
                quiet_since = None
            if now > deadline:
                raise TimeoutError("the embedded runtime did not go idle")
            await asyncio.sleep(0.01)

    async def wait_for(
        self,
        instance_id: str,
        *,
        statuses: Iterable[RuntimeStatus | str] = FINISHED,
        timeout: float = 30.0,
    ) -> InstanceStatus:
        """Until the instance reaches one of `statuses` (by default: finished); its status
        with its history."""
        wanted = frozenset(RuntimeStatus(s) for s in statuses)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            status = self.host.runtime.get_status(instance_id, show_history=True)
            if status is not None and status["runtimeStatus"] in wanted:
                return status
            if loop.time() > deadline:
                names = sorted(s.value for s in wanted)
                raise TimeoutError(f"{instance_id} did not reach {names}: {status}")
            await asyncio.sleep(0.01)


__all__ = [
    "EmbeddedRuntime",
    "InstanceStatus",
    "RuntimeProcess",
    "RuntimeStatus",
    "StartMode",
    "free_port",
    "reset_durable_sdk_session",
    "start_serve",
    "stop_serve",
    "wait_listening",
]
