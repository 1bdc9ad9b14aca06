"""The starter's parts for one process, built from settings on first use.

Built lazily, inside the worker's event loop, because the Service Bus client and the
aiohttp sessions bind to the loop that creates them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .clock import Clock, SystemClock
from .contract import ContractValidator
from .event_api import EventApi
from .events import EventMapping, EventRouter
from .handler import StartHandler
from .http_api import StartApi
from .memory_store import MemoryOutcomeStore
from .messages import Sender
from .outcomes import OutcomeStore
from .registry import Registry
from .rest_sender import RestQueueSender, embedded_endpoint, embedded_key
from .servicebus_sender import ServiceBusQueueSender
from .settings import SettingsError, StarterSettings
from .sqlite_store import SqliteOutcomeStore
from .table_store import DEFAULT_TABLE, TableOutcomeStore, table_client_from_settings


def create_store(spec: str, env: Mapping[str, str] | None = None) -> OutcomeStore:
    """An outcome store from the `OUTCOME_STORE` setting.

    `table` (the default: Azure Table storage in the app's storage account, table
    `OUTCOME_TABLE`), `sqlite:<path>` (the embedded runtime's), or `memory` (one process).
    """
    settings = os.environ if env is None else env
    if spec in ("", "table"):
        table = settings.get("OUTCOME_TABLE", "").strip() or DEFAULT_TABLE
        return TableOutcomeStore(table_client_from_settings(settings, table))
    if spec == "memory":
        return MemoryOutcomeStore()
    if spec.startswith("sqlite:"):
        path = spec.removeprefix("sqlite:").strip()
        if not path:
            raise SettingsError(
                "OUTCOME_STORE=sqlite: needs a file path, e.g. sqlite:.emulator/outcomes.db"
            )
        return SqliteOutcomeStore(path)
    raise SettingsError(f"OUTCOME_STORE must be 'table', 'sqlite:<path>' or 'memory', got {spec!r}")


def create_sender(settings: StarterSettings) -> Sender:
    """The embedded queue's REST sender for `UseEmbeddedServiceBus=true`, else Service Bus."""
    connection = settings.service_bus
    if connection.kind == "connection-string" and connection.connection_string:
        endpoint = embedded_endpoint(connection.connection_string)
        if endpoint is not None:
            key = embedded_key(connection.connection_string)
            return RestQueueSender(endpoint, settings.queue_name, key)
    return ServiceBusQueueSender.from_connection(connection, settings.queue_name)


@dataclass
class Components:
    registry: Registry
    settings: StarterSettings
    store: OutcomeStore
    sender: Sender
    clock: Clock
    event_mappings: Sequence[EventMapping] = ()
    validator: ContractValidator = field(init=False)
    handler: StartHandler = field(init=False)
    api: StartApi = field(init=False)
    events: EventApi = field(init=False)

    def __post_init__(self) -> None:
        self.validator = ContractValidator(self.registry, self.settings.max_message_bytes)
        self.handler = StartHandler(
            self.validator,
            self.store,
            self.sender,
            clock=self.clock,
            settings=self.settings.handler,
        )
        self.api = StartApi(self.validator, self.store, self.sender, self.clock)
        router = EventRouter(self.event_mappings, self.validator)
        self.events = EventApi(router, self.store, self.sender, self.clock)

    @classmethod
    def from_settings(
        cls,
        registry: Registry,
        settings: StarterSettings,
        env: Mapping[str, str] | None = None,
        event_mappings: Sequence[EventMapping] = (),
    ) -> Components:
        return cls(
            registry=registry,
            settings=settings,
            store=create_store(settings.outcome_store, env),
            sender=create_sender(settings),
            clock=SystemClock(),
            event_mappings=event_mappings,
        )

    async def close(self) -> None:
        await self.sender.close()
        await self.store.close()


class LazyComponents:
    """Builds Components once, on first use, from the app settings of that moment."""

    def __init__(
        self,
        registry: Registry,
        settings: StarterSettings | None = None,
        event_mappings: Sequence[EventMapping] = (),
    ) -> None:
        self._registry = registry
        self._settings = settings
        self._event_mappings = event_mappings
        self._components: Components | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Components:
        if self._components is None:
            async with self._lock:
                if self._components is None:
                    settings = self._settings or StarterSettings.from_env()
                    self._components = Components.from_settings(
                        self._registry, settings, event_mappings=self._event_mappings
                    )
        return self._components

    def use(self, components: Components) -> None:
        """Put ready-made components in place (an app that builds its own store or sender)."""
        self._components = components
