"""An orchestration episode's state and its writes to the store."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from .history import EventType, event, timestamp
from .store import InboxItem, InstanceRow

if TYPE_CHECKING:
    from .runtime import DurableRuntime


class EpisodeBase:
    """One episode's state and its writes: shared by the episode's parts."""

    def __init__(
        self, runtime: DurableRuntime, row: InstanceRow, items: list[InboxItem], now: datetime
    ) -> None:
        self.rt = runtime
        self.store = runtime.store
        self.row = row
        self.items = items
        self.now = now
        self.consumed: list[int] = []
        self._unsupported: str | None = None

    def _consume(self, item: InboxItem) -> None:
        self.consumed.append(item.id)

    # -- persistence --------------------------------------------------------------

    def _marker(self, kind: EventType, **fields: Any) -> dict[str, Any]:
        return event(kind, self.now, **fields)

    def _append(self, events: list[dict[str, Any]]) -> None:
        self.store.append_history(self.row.instance_id, events)

    def _save(self) -> None:
        self.row.last_updated_time = timestamp(self.now)
        self.store.put_instance(self.row)
