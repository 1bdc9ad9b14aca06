"""The explicit registry of orchestrators a start request may name.

The HTTP API, the queue trigger, the producers and the published JSON Schema all read the
same registry, so a name or policy that one of them accepts, all of them accept.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .policies import OnFinished, OnRunning


class RegistryError(ValueError):
    """An orchestrator entry contradicts itself; raised when the app is built."""


@dataclass(frozen=True)
class OrchestratorSpec:
    """One orchestrator's entry: its name, default policies and what a request may ask for.

    `allowed_on_running` defaults to reject, use-existing and queue, plus forward when an
    `event_name` is declared. `replace` terminates live work, so it is never allowed unless
    the entry lists it.
    """

    name: str
    on_running: OnRunning = OnRunning.REJECT
    on_finished: OnFinished = OnFinished.RESTART
    allowed_on_running: frozenset[OnRunning] | None = None
    allowed_on_finished: frozenset[OnFinished] | None = None
    event_name: str | None = None
    # The orchestrator lists each forwarded request ID under `acknowledged` in its custom
    # status once it has read the event (starters/forwarding.py). The handler then waits
    # for that before it records `forwarded`, and decides again under onFinished when the
    # instance finished without it: exactly once instead of at most once.
    acknowledges_forwards: bool = False
    input_schema: Mapping[str, Any] | None = None
    queue_ttl: timedelta = timedelta(hours=1)
    description: str = ""
    # A keep-alive: a timer (six-field NCRONTAB, or %SETTING%) that enqueues a start request
    # for `keep_alive_instance_id` on every tick; with use-existing it is a no-op while the
    # instance runs and revives it when it has stopped.
    keep_alive_schedule: str | None = None
    keep_alive_instance_id: str | None = None
    keep_alive_input: Any = None
    _running: frozenset[OnRunning] = field(init=False, repr=False, compare=False)
    _finished: frozenset[OnFinished] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name or not self.name.isidentifier():
            raise RegistryError(f"orchestrator name {self.name!r} is not a valid function name")
        running = self.allowed_on_running
        if running is None:
            running = frozenset({OnRunning.REJECT, OnRunning.USE_EXISTING, OnRunning.QUEUE})
            if self.event_name:
                running |= {OnRunning.FORWARD}
        finished = self.allowed_on_finished
        if finished is None:
            finished = frozenset(OnFinished)
        if OnRunning.FORWARD in running and not self.event_name:
            raise RegistryError(f"{self.name}: forward needs an event_name")
        if self.on_running not in running:
            raise RegistryError(
                f"{self.name}: default onRunning {self.on_running.value} is not allowed"
            )
        if self.on_finished not in finished:
            raise RegistryError(
                f"{self.name}: default onFinished {self.on_finished.value} is not allowed"
            )
        if self.acknowledges_forwards and not self.event_name:
            raise RegistryError(f"{self.name}: acknowledges_forwards needs an event_name")
        if self.keep_alive_schedule and not self.keep_alive_instance_id:
            raise RegistryError(f"{self.name}: a keep-alive needs keep_alive_instance_id")
        if self.queue_ttl <= timedelta(0):
            raise RegistryError(f"{self.name}: queue_ttl must be positive")
        object.__setattr__(self, "_running", running)
        object.__setattr__(self, "_finished", finished)

    @property
    def running_policies(self) -> frozenset[OnRunning]:
        return self._running

    @property
    def finished_policies(self) -> frozenset[OnFinished]:
        return self._finished


class Registry:
    """Orchestrator entries, looked up case-insensitively as the Functions host matches names."""

    def __init__(self, specs: Iterable[OrchestratorSpec]) -> None:
        self._by_key: dict[str, OrchestratorSpec] = {}
        for spec in specs:
            key = spec.name.casefold()
            if key in self._by_key:
                raise RegistryError(f"orchestrator {spec.name!r} is registered twice")
            self._by_key[key] = spec

    def get(self, name: str) -> OrchestratorSpec | None:
        return self._by_key.get(name.casefold())

    def __iter__(self) -> Iterator[OrchestratorSpec]:
        return iter(sorted(self._by_key.values(), key=lambda s: s.name))

    def __len__(self) -> int:
        return len(self._by_key)

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self]
