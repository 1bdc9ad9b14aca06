"""The emulator host: loads the app, owns the state, serves HTTP.

This is what `python -m emulator serve` runs and what `emulator.testing` starts in a test.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from . import operation_counts
from .app_loader import FunctionIndex, FunctionInfo, load_app
from .clock import RuntimeClock
from .data_lock import DataDirectoryLock
from .durable.http_api import WEBHOOK_PATH, DurableHttpApi
from .durable.runtime import DurableRuntime, StartMode
from .durable.store import DurableStore
from .host_json import option_error, read_host_json
from .http_limits import IDLE_TIMEOUT_S, MAX_BODY_BYTES, BoundedSockSite, bounded_requests
from .http_triggers import HttpTriggers
from .invoker import Invoker
from .keys import HostKeys, check_listen_address, guarded_routes
from .local_settings import apply_local_settings, read_local_settings
from .runtime_signal import SIGNAL_FILE, RuntimeSignal
from .sdk_session import reset_durable_sdk_session
from .servicebus.config import load_queue_config
from .servicebus.rest_api import ServiceBusRestApi
from .servicebus.session_queue import DEAD_LETTER_SUFFIX, SessionQueues
from .servicebus.triggers import QueueSignals, ServiceBusOptions, ServiceBusTriggers
from .timer_triggers import TimerTriggers

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
    queue_config: Path | None = Path("servicebus-emulator/Config.json")
    enforce_keys: bool = False
    drain_seconds: float = 30.0
    # App settings for this host only (restored when it stops): tests use them.
    settings: dict[str, str] = field(default_factory=dict)


# The connection value that selects the embedded Service Bus, as UseDevelopmentStorage=true
# selects Azurite; the endpoint is the published EMBEDDED_RUNTIME_URL (runtime_signal.py).
EMBEDDED_SERVICE_BUS = "UseEmbeddedServiceBus=true"


def resolve_setting_expression(value: str, env: dict[str, str] | None = None) -> str:
    """`%NAME%` binding expressions resolved from app settings, as the host does."""
    settings = dict(os.environ) if env is None else env

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in settings:
            raise KeyError(f"the app setting {name} (used as %{name}%) is not set")
        return settings[name]

    return re.sub(r"%([^%]+)%", replace, value)


def hub_name(config: dict[str, Any]) -> str:
    name = (config.get("extensions") or {}).get("durableTask", {}).get("hubName")
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
        self._saved_env: dict[str, str | None] = {}
        self.functions: FunctionIndex | None = None
        self.runtime: DurableRuntime | None = None
        self.api: DurableHttpApi | None = None
        self.store: DurableStore | None = None
        self.queues: SessionQueues | None = None
        self.http: HttpTriggers | None = None
        self.service_bus: ServiceBusTriggers | None = None
        self.timers: TimerTriggers | None = None
        self.invoker: Invoker | None = None
        self.injected: dict[str, str] = {}
        self.signal: RuntimeSignal | None = None
        self.disabled: dict[str, str] = {}
        self.listening: list[str] = []
        self.port = options.port
        self.keys = HostKeys(enforce=options.enforce_keys)

    @property
    def base_url(self) -> str:
        return f"http://{self.options.host}:{self.port}"

    @property
    def local_url(self) -> str:
        """Where callers on this machine reach it (any-address binds answer on loopback)."""
        if self.options.host in ("0.0.0.0", "::", ""):
            return f"http://127.0.0.1:{self.port}"
        return self.base_url

    def _inject(self, name: str, value: str) -> None:
        self._saved_env.setdefault(name, os.environ.get(name))
        os.environ[name] = value
        self.injected[name] = value

    async def start(self) -> None:
        options = self.options
        check_listen_address(options.host, options.enforce_keys)
        for name, value in options.settings.items():
            self._inject(name, value)
        if options.load_local_settings:
            apply_local_settings(read_local_settings(self.script_root))
        data_dir: Path | None = None
        if options.data_dir is not None:
            data_dir = options.data_dir
            if not data_dir.is_absolute():
                data_dir = self.script_root / data_dir
            self._lock = DataDirectoryLock(data_dir)
            self._lock.acquire()
        # Bound before the app loads, so the settings it reads name the real port.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((options.host, options.port))
            self.port = int(sock.getsockname()[1])
            await self._start(sock, data_dir)
        except BaseException:
            sock.close()
            await self.stop()
            raise

    async def _start(self, sock: socket.socket, data_dir: Path | None) -> None:
        options = self.options
        self.signal = RuntimeSignal(
            self.local_url,
            data_dir,
            queue_key=self.keys.queue if options.enforce_keys else None,
        )
        for name, value in self.signal.settings().items():
            self._inject(name, value)
        host_json = read_host_json(self.script_root, os.environ)
        try:
            service_bus_options = ServiceBusOptions.from_host_json(host_json)
        except (TypeError, ValueError) as error:
            problem = f"extensions.serviceBus: {error}"
            raise option_error(self.script_root, "serviceBus", problem) from None
        _, _, self.functions = load_app(self.script_root)
        self._disable_unsupported(self.functions)
        self._check_connections(self.functions)
        self.store = DurableStore(data_dir / "durable.sqlite3" if data_dir else None)
        self.runtime = DurableRuntime(
            self.functions,
            self.store,
            self.clock,
            start_mode=options.start_mode,
            hub_name=hub_name(host_json),
        )
        # The SDK client reaches the runtime on loopback, as the host's own listener.
        self.api = DurableHttpApi(
            self.runtime,
            self.local_url,
            rpc_base_url=self.local_url,
            system_key=self.keys.system if options.enforce_keys else None,
        )
        self.runtime.client_binding = self.api.client_binding
        self.invoker = Invoker(self.api.client_binding)
        signals = QueueSignals()
        queue_config = options.queue_config
        if queue_config is not None and not queue_config.is_absolute():
            queue_config = self.script_root / queue_config
        self.queues = SessionQueues(
            data_dir / "servicebus.sqlite3" if data_dir else None,
            self.clock,
            load_queue_config(queue_config),
            on_send=signals.notify,
        )
        http_functions = [f for f in self._usable("httpTrigger")]
        prefix = ((host_json.get("extensions") or {}).get("http") or {}).get("routePrefix", "api")
        self.http = HttpTriggers(
            http_functions, self.invoker, route_prefix=prefix, enforce_keys=options.enforce_keys
        )
        self.http.function_key, self.http.master_key = self.keys.function, self.keys.master
        keys = self.keys
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[bounded_requests])
        app.add_routes(guarded_routes(self.api.routes(), lambda h: keys.guard(h, keys.management)))
        app.add_routes(guarded_routes(self.api.rpc_routes(), keys.loopback_only))
        app.add_routes(guarded_routes(operation_counts.routes(), keys.loopback_only))
        app.add_routes(self.http.aiohttp_routes())
        app.add_routes(
            guarded_routes(
                ServiceBusRestApi(self.queues).routes(), lambda h: keys.guard(h, keys.queue_keys)
            )
        )
        runner = web.AppRunner(app, access_log=None, keepalive_timeout=IDLE_TIMEOUT_S)
        await runner.setup()
        self._runner = runner
        await BoundedSockSite(runner, sock).start()
        await self.runtime.start()
        self.service_bus = ServiceBusTriggers(
            self.queues,
            signals,
            self.invoker.invoke,
            service_bus_options,
        )
        for info in self._usable("serviceBusTrigger"):
            try:
                queue = resolve_setting_expression(str(info.trigger.get("queueName")))
            except KeyError as missing:
                self.disabled[info.name] = str(missing).strip("'\"")
                continue
            self.service_bus.start(info, queue)
            self.listening.append(f"{info.name}: queue {queue}")
        self.timers = TimerTriggers(self.clock, self.invoker.invoke)
        for info in self._usable("timerTrigger"):
            try:
                schedule = self.timers.start(
                    info, resolve_setting_expression(str(info.trigger.get("schedule")))
                )
            except (KeyError, ValueError) as problem:
                self.disabled[info.name] = str(problem).strip("'\"")
                continue
            self.listening.append(f"{info.name}: timer {schedule.expression}")
        self.signal.queues = {
            name: f"{self.local_url}/{name}/messages" for name in self.queues.queues
        }
        self.signal.publish()

    def _disable_unsupported(self, functions: FunctionIndex) -> None:
        """A function whose trigger or bindings this runtime cannot provide is DISABLED
        (listed, never called: to the Durable runtime it does not exist); the rest run."""
        kept = []
        for info in functions.functions:
            missing = [
                f"{b.get('type')} {'trigger' if b is info.trigger else 'binding'} '{b.get('name')}'"
                for b in info.bindings
                if str(b.get("type")) in Invoker.unsupported(info)
            ]
            if missing:
                self.disabled[info.name] = "this runtime cannot provide the " + ", ".join(missing)
            else:
                kept.append(info)
        functions.functions = kept

    def _usable(self, trigger_type: str) -> list[FunctionInfo]:
        assert self.functions is not None and self.invoker is not None
        usable = []
        for info in self.functions.of_type(trigger_type):
            unsupported = Invoker.unsupported(info)
            if unsupported:
                self.disabled[info.name] = "unsupported bindings: " + ", ".join(unsupported)
                continue
            usable.append(info)
        return usable

    def _check_connections(self, functions: FunctionIndex) -> None:
        """Service Bus triggers read the embedded queues whatever their connection names;
        say so when the setting points at a real namespace (the app's senders would not)."""
        names = {str(f.trigger.get("connection")) for f in functions.of_type("serviceBusTrigger")}
        for name in sorted(n for n in names if n and n != "None"):
            current = os.environ.get(name, "")
            if current and EMBEDDED_SERVICE_BUS not in current:
                logger.warning(
                    "%s points at another Service Bus; the embedded host's triggers read the "
                    "embedded queues, so set it to %s to send there",
                    name,
                    EMBEDDED_SERVICE_BUS,
                )

    async def stop(self) -> None:
        if self.service_bus is not None:
            await self.service_bus.stop(self.options.drain_seconds)
            self.service_bus = None
        if self.timers is not None:
            await self.timers.stop()
            self.timers = None
        if self.runtime is not None:
            await self.runtime.stop()
        if self.signal is not None:
            self.signal.withdraw()
            self.signal = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.invoker is not None:
            self.invoker.close()
        await reset_durable_sdk_session()  # the app's client calls used it on this loop
        for store in (self.store, self.queues):
            if store is not None:
                store.close()
        self.store = None
        self.queues = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    def describe(self) -> list[str]:
        assert self.functions is not None and self.http is not None
        lines = [f"Embedded runtime for {self.script_root}", "", "Functions:"]
        for route in self.http.routes:
            methods = ",".join(sorted(route.methods)) if route.methods else "*"
            url = f"{self.base_url}/{self.http.prefix}/{route.template}".replace("//", "/")
            lines.append(f"  {route.function.name}: [{methods}] {url.replace(':/', '://')}")
        for line in self.listening:
            lines.append(f"  {line}")
        for info in self.functions.of_type("orchestrationTrigger"):
            lines.append(f"  {info.name}: orchestrationTrigger")
        for info in self.functions.of_type("activityTrigger"):
            lines.append(f"  {info.name}: activityTrigger")
        for info in self.functions.of_type("entityTrigger"):
            lines.append(f"  {info.name}: entityTrigger")
        for name, why in self.disabled.items():
            lines.append(f"  {name}: DISABLED ({why})")
        hub = self.runtime.hub_name if self.runtime else "?"
        lines += ["", f"Durable API: {self.base_url}{WEBHOOK_PATH}/ (task hub {hub})"]
        if self.queues is not None:
            for queue in self.queues.queues.values():
                kind = "sessions" if queue.requires_session else "no sessions"
                lines.append(
                    f"Queue {queue.name} ({kind}): POST {self.base_url}/{queue.name}/messages;"
                    f" dead letters: GET {self.base_url}/{queue.name}{DEAD_LETTER_SUFFIX}/messages"
                )
        for name, value in self.injected.items():
            lines.append(f"Setting {name}={value}")
        if self.signal is not None and self.signal.data_dir is not None:
            lines.append(f"Published: {self.signal.data_dir / SIGNAL_FILE}")
        lines += self.keys.describe()
        state = self.store.path if self.store else "memory"
        lines.append(f"State: {state}; start mode {self.options.start_mode.value}")
        if self.options.time_skipping:
            lines.append("Time skipping: on (timers fire as soon as nothing else can run)")
        return lines
