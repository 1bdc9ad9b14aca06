"""The starter's parts for one process, built from settings on first use.

Built lazily, inside the worker's event loop, because the Service Bus client and the
aiohttp sessions bind to the loop that creates them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..clock import Clock, SystemClock
from ..events.api import EventApi
from ..events.mapping import EventMapping, EventRouter
from ..handling.handler import StartHandler
from ..http.start_api import StartApi
from ..intake import Intake
from ..ports import OutcomeStore, QueueSender
from ..registry import Registry
from ..senders.from_settings import create_sender
from ..stores.from_settings import create_store
from ..validation import ContractValidator
from .settings import StarterSettings


@dataclass
class Components:
    registry: Registry
    settings: StarterSettings
    store: OutcomeStore
    sender: QueueSender
    clock: Clock
    event_mappings: Sequence[EventMapping] = ()
    validator: ContractValidator = field(init=False)
    handler: StartHandler = field(init=False)
    api: StartApi = field(init=False)
    intake: Intake = field(init=False)
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
        self.intake = self.api.intake
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
