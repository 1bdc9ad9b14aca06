"""The runtime's host: loads the app, owns the state, serves HTTP.

This is what `python -m embedded_functions serve` runs and what `embedded_functions.testing`
starts in a test.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from . import operation_counts
from .access_log import access_log
from .app_loader import FunctionIndex, FunctionInfo, load_app
from .clock import RuntimeClock
from .data_lock import DataDirectoryLock
from .durable.http_api import DurableHttpApi
from .durable.instances import StartMode
from .durable.runtime import DurableRuntime
from .durable.store import DurableStore
from .host_description import describe
from .host_json import option_error, read_host_json
from .host_settings import EMBEDDED_SERVICE_BUS, hub_name, resolve_setting_expression
from .http_limits import IDLE_TIMEOUT_S, MAX_BODY_BYTES, BoundedSockSite, bounded_requests
from .http_triggers import HttpTriggers
from .invoker import Invoker
from .keys import HostKeys, check_listen_address, guarded_routes
from .local_settings import apply_local_settings, read_local_settings
from .runtime_signal import RuntimeSignal
from .sdk_session import reset_durable_sdk_session
from .servicebus.config import load_queue_config
from .servicebus.rest_api import ServiceBusRestApi
from .servicebus.session_queue import SessionQueues
from .servicebus.triggers import QueueSignals, ServiceBusOptions, ServiceBusTriggers
from .timer_triggers import TimerTriggers

logger = logging.getLogger("embedded_functions.host")


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


class HostNotStarted(RuntimeError):
    pass


@dataclass(frozen=True)
class HostParts:
    """Everything a started host holds, built together by `start`: never half-set."""

    functions: FunctionIndex
    store: DurableStore
    runtime: DurableRuntime
    api: DurableHttpApi
    queues: SessionQueues
    http: HttpTriggers
    service_bus: ServiceBusTriggers
    timers: TimerTriggers
    invoker: Invoker
    signal: RuntimeSignal


class FunctionsHost:
    """The embedded Functions host: `start` builds every part at once (or none: a failure
    undoes what it built), `stop` undoes them in reverse order."""

    def __init__(self, options: HostOptions) -> None:
        self.options = options
        self.script_root = options.script_root.resolve()
        self.clock = RuntimeClock(time_skipping=options.time_skipping)
        self.port = options.port
        self.keys = HostKeys(enforce=options.enforce_keys)
        self.injected: dict[str, str] = {}
        self.disabled: dict[str, str] = {}
        self.listening: list[str] = []
        self._saved_env: dict[str, str | None] = {}
        self._parts: HostParts | None = None
        self._teardown: contextlib.AsyncExitStack | None = None

    @property
    def parts(self) -> HostParts:
        if self._parts is None:
            raise HostNotStarted("the host is not started (or has stopped)")
        return self._parts

    @property
    def started(self) -> bool:
        return self._parts is not None

    # The parts by name: each raises HostNotStarted before `start` and after `stop`.
    @property
    def functions(self) -> FunctionIndex:
        return self.parts.functions

    @property
    def store(self) -> DurableStore:
        return self.parts.store

    @property
    def runtime(self) -> DurableRuntime:
        return self.parts.runtime

    @property
    def api(self) -> DurableHttpApi:
        return self.parts.api

    @property
    def queues(self) -> SessionQueues:
        return self.parts.queues

    @property
    def http(self) -> HttpTriggers:
        return self.parts.http

    @property
    def service_bus(self) -> ServiceBusTriggers:
        return self.parts.service_bus

    @property
    def timers(self) -> TimerTriggers:
        return self.parts.timers

    @property
    def invoker(self) -> Invoker:
        return self.parts.invoker

    @property
    def signal(self) -> RuntimeSignal:
        return self.parts.signal

    @property
    def base_url(self) -> str:
        return f"http://{self.options.host}:{self.port}"

    @property
    def local_url(self) -> str:
        """Where callers on this machine reach it (any-address binds answer on loopback)."""
        if self.options.host in ("0.0.0.0", "::", ""):
            return f"http://127.0.0.1:{self.port}"
        return self.base_url

    def describe(self) -> list[str]:
        return describe(self)

    def _inject(self, name: str, value: str) -> None:
        self._saved_env.setdefault(name, os.environ.get(name))
        os.environ[name] = value
        self.injected[name] = value

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    async def start(self) -> None:
        if self._parts is not None:
            raise RuntimeError("the host is already started")
        check_listen_address(self.options.host, self.options.enforce_keys)
        teardown = contextlib.AsyncExitStack()
        try:
            self._parts = await self._build(teardown)
        except BaseException:
            await teardown.aclose()
            raise
        self._teardown = teardown

    async def stop(self) -> None:
        teardown, self._teardown = self._teardown, None
        if teardown is not None:
            await teardown.aclose()
        self._parts = None

    async def _build(self, teardown: contextlib.AsyncExitStack) -> HostParts:
        """Each part registers its own undo as it is made: `teardown` runs them in reverse."""
        options = self.options
        teardown.callback(self._restore_env)
        for name, value in options.settings.items():
            self._inject(name, value)
        if options.load_local_settings:
            apply_local_settings(read_local_settings(self.script_root))
        data_dir: Path | None = None
        if options.data_dir is not None:
            data_dir = options.data_dir
            if not data_dir.is_absolute():
                data_dir = self.script_root / data_dir
            lock = DataDirectoryLock(data_dir)
            lock.acquire()
            teardown.callback(lock.release)
        # Bound before the app loads, so the settings it reads name the real port.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        teardown.callback(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((options.host, options.port))
        self.port = int(sock.getsockname()[1])

        signal = RuntimeSignal(
            self.local_url,
            data_dir,
            queue_key=self.keys.queue if options.enforce_keys else None,
        )
        for name, value in signal.settings().items():
            self._inject(name, value)
        host_json = read_host_json(self.script_root, os.environ)
        try:
            service_bus_options = ServiceBusOptions.from_host_json(host_json)
        except (TypeError, ValueError) as error:
            problem = f"extensions.serviceBus: {error}"
            raise option_error(self.script_root, "serviceBus", problem) from None
        _, _, functions = load_app(self.script_root)
        self._disable_unsupported(functions)
        self._check_connections(functions)

        store = DurableStore(data_dir / "durable.sqlite3" if data_dir else None)
        teardown.callback(store.close)
        runtime = DurableRuntime(
            functions,
            store,
            self.clock,
            start_mode=options.start_mode,
            hub_name=hub_name(host_json),
        )
        # The SDK client reaches the runtime on loopback, as the host's own listener.
        api = DurableHttpApi(
            runtime,
            self.local_url,
            rpc_base_url=self.local_url,
            system_key=self.keys.system if options.enforce_keys else None,
        )
        runtime.client_binding = api.client_binding
        invoker = Invoker(api.client_binding)
        teardown.callback(invoker.close)
        teardown.push_async_callback(reset_durable_sdk_session)  # the app's client used it
        signals = QueueSignals()
        queue_config = options.queue_config
        if queue_config is not None and not queue_config.is_absolute():
            queue_config = self.script_root / queue_config
        queues = SessionQueues(
            data_dir / "servicebus.sqlite3" if data_dir else None,
            self.clock,
            load_queue_config(queue_config),
            on_send=signals.notify,
        )
        teardown.callback(queues.close)
        prefix = ((host_json.get("extensions") or {}).get("http") or {}).get("routePrefix", "api")
        http = HttpTriggers(
            self._usable(functions, "httpTrigger"),
            invoker,
            route_prefix=prefix,
            enforce_keys=options.enforce_keys,
        )
        http.function_key, http.master_key = self.keys.function, self.keys.master

        runner = web.AppRunner(
            self._application(api, http, queues), access_log=None, keepalive_timeout=IDLE_TIMEOUT_S
        )
        await runner.setup()
        teardown.push_async_callback(runner.cleanup)
        await BoundedSockSite(runner, sock).start()
        await runtime.start()
        teardown.push_async_callback(runtime.stop)

        service_bus = ServiceBusTriggers(queues, signals, invoker.invoke, service_bus_options)
        teardown.push_async_callback(service_bus.stop, options.drain_seconds)
        for info in self._usable(functions, "serviceBusTrigger"):
            try:
                queue = resolve_setting_expression(str(info.trigger.get("queueName")))
            except KeyError as missing:
                self.disabled[info.name] = str(missing).strip("'\"")
                continue
            service_bus.start(info, queue)
            self.listening.append(f"{info.name}: queue {queue}")
        timers = TimerTriggers(self.clock, invoker.invoke)
        teardown.push_async_callback(timers.stop)
        for info in self._usable(functions, "timerTrigger"):
            try:
                schedule = timers.start(
                    info, resolve_setting_expression(str(info.trigger.get("schedule")))
                )
            except (KeyError, ValueError) as problem:
                self.disabled[info.name] = str(problem).strip("'\"")
                continue
            self.listening.append(f"{info.name}: timer {schedule.expression}")

        signal.queues = {name: f"{self.local_url}/{name}/messages" for name in queues.queues}
        signal.publish()
        teardown.callback(signal.withdraw)  # first undone: callers stop finding a stopping host
        return HostParts(
            functions=functions,
            store=store,
            runtime=runtime,
            api=api,
            queues=queues,
            http=http,
            service_bus=service_bus,
            timers=timers,
            invoker=invoker,
            signal=signal,
        )

    def _application(
        self, api: DurableHttpApi, http: HttpTriggers, queues: SessionQueues
    ) -> web.Application:
        """One table of doors, each behind the key that opens it."""
        keys = self.keys
        app = web.Application(
            client_max_size=MAX_BODY_BYTES, middlewares=[access_log, bounded_requests]
        )
        app.add_routes(guarded_routes(api.routes(), lambda h: keys.guard(h, keys.management)))
        app.add_routes(guarded_routes(api.rpc_routes(), keys.loopback_only))
        app.add_routes(guarded_routes(operation_counts.routes(), keys.loopback_only))
        app.add_routes(http.aiohttp_routes())
        app.add_routes(
            guarded_routes(
                ServiceBusRestApi(queues).routes(), lambda h: keys.guard(h, keys.queue_keys)
            )
        )
        return app

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

    def _usable(self, functions: FunctionIndex, trigger_type: str) -> list[FunctionInfo]:
        usable = []
        for info in functions.of_type(trigger_type):
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


# The name before the runtime had one name: kept so existing scripts keep importing it.
EmulatorHost = FunctionsHost
