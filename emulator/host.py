"""The emulator host: loads the app, owns the state, serves HTTP.

This is what `python -m emulator serve` runs and what `emulator.testing` starts in a test.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from .app_loader import FunctionIndex, load_app
from .clock import RuntimeClock
from .data_lock import DataDirectoryLock
from .durable.http_api import WEBHOOK_PATH, DurableHttpApi
from .durable.runtime import DurableRuntime, StartMode
from .durable.store import DurableStore
from .local_settings import apply_local_settings, read_local_settings

logger = logging.getLogger("emulator.host")

DEFAULT_HUB = "TestHubName"


@dataclass
class HostOptions:
    script_root: Path = Path(".")
    host: str = "127.0.0.1"
    port: int = 7071
    data_dir: Path | None = Path(".emulator")  # None: in memory
    start_mode: StartMode = StartMode.AZURE_STORAGE
    time_skipping: bool = False
    load_local_settings: bool = True


def resolve_setting_expression(value: str, env: dict[str, str] | None = None) -> str:
    """`%NAME%` binding expressions resolved from app settings, as the host does."""
    settings = dict(os.environ) if env is None else env

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in settings:
            raise KeyError(f"the app setting {name} (used as %{name}%) is not set")
        return settings[name]

    return re.sub(r"%([^%]+)%", replace, value)


def hub_name(script_root: Path) -> str:
    path = script_root / "host.json"
    if not path.is_file():
        return DEFAULT_HUB
    config: Any = json.loads(path.read_text())
    name = config.get("extensions", {}).get("durableTask", {}).get("hubName")
    if not name:
        return DEFAULT_HUB
    try:
        return resolve_setting_expression(str(name))
    except KeyError:
        logger.warning("hubName %s is not resolvable; using %s", name, DEFAULT_HUB)
        return DEFAULT_HUB


class EmulatorHost:
    def __init__(self, options: HostOptions) -> None:
        self.options = options
        self.script_root = options.script_root.resolve()
        self.clock = RuntimeClock(time_skipping=options.time_skipping)
        self._lock: DataDirectoryLock | None = None
        self._runner: web.AppRunner | None = None
        self.functions: FunctionIndex | None = None
        self.runtime: DurableRuntime | None = None
        self.api: DurableHttpApi | None = None
        self.store: DurableStore | None = None
        self.port = options.port

    @property
    def base_url(self) -> str:
        return f"http://{self.options.host}:{self.port}"

    async def start(self) -> None:
        options = self.options
        if options.load_local_settings:
            apply_local_settings(read_local_settings(self.script_root))
        if options.data_dir is not None:
            data_dir = (
                options.data_dir
                if options.data_dir.is_absolute()
                else self.script_root / options.data_dir
            )
            self._lock = DataDirectoryLock(data_dir)
            self._lock.acquire()
            database: Path | None = data_dir / "durable.sqlite3"
        else:
            database = None
        try:
            _, _, self.functions = load_app(self.script_root)
            self.store = DurableStore(database)
            self.runtime = DurableRuntime(
                self.functions,
                self.store,
                self.clock,
                start_mode=options.start_mode,
                hub_name=hub_name(self.script_root),
            )
            app = web.Application(client_max_size=16 * 1024 * 1024)
            runner = web.AppRunner(app, access_log=None)
            # Bind first so a port of 0 becomes a real one before the binding JSON is made.
            self.api = DurableHttpApi(self.runtime, self.base_url)
            app.add_routes(self.api.routes())
            await runner.setup()
            site = web.TCPSite(runner, options.host, options.port)
            await site.start()
            self._runner = runner
            sockets = getattr(site._server, "sockets", None) or []
            if sockets:
                self.port = sockets[0].getsockname()[1]
            self.api.base_url = self.base_url
            self.runtime.client_binding = self.api.client_binding
            await self.runtime.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if self.runtime is not None:
            await self.runtime.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.store is not None:
            self.store.close()
            self.store = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def describe(self) -> list[str]:
        assert self.functions is not None
        lines = [f"Embedded runtime for {self.script_root}", ""]
        hub = self.runtime.hub_name if self.runtime else "?"
        lines.append(f"Durable API: {self.base_url}{WEBHOOK_PATH}/  (task hub {hub})")
        for info in self.functions.functions:
            lines.append(f"  {info.name}: [{info.trigger_type}]")
        store = self.store.path if self.store else "memory"
        lines.append(f"State: {store}; start mode {self.options.start_mode.value}")
        if self.options.time_skipping:
            lines.append("Time skipping: on (timers fire as soon as nothing else can run)")
        return lines
