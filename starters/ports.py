"""The starter's ports: what it needs from the outcome store, the queue and Durable Functions.

Adapters: stores/ (memory, SQLite, Table storage), senders/ (Service Bus, the embedded
queue's REST API), instances.DurableInstanceClient (the Durable SDK's client).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from .instance_listing import InstancePage, InstanceQuery
from .instances import InstanceSnapshot
from .messages import OutgoingMessage
from .outcomes import Fence, OutcomeRecord
from .record_query import RecordQuery


class OutcomeStore(Protocol):
    """Where outcome records and per-instance leases live (memory, SQLite, Table storage)."""

    async def get(self, request_id: str) -> OutcomeRecord | None: ...

    async def insert(self, record: OutcomeRecord) -> OutcomeRecord:
        """Create the record; raise RecordExists (carrying the stored one) if it exists."""
        ...

    async def replace(self, record: OutcomeRecord) -> OutcomeRecord:
        """Write `record` if the stored version still equals `record.version`.

        Returns the record with its new version; raises VersionConflict otherwise.
        """
        ...

    async def delete(self, record: OutcomeRecord) -> bool:
        """Delete the record if its version is unchanged; False if it changed or is gone."""
        ...

    async def begin(
        self, claim: OutcomeRecord, fence: Fence | None, *, recorded: bool = False
    ) -> OutcomeRecord | None:
        """One round trip: write `claim` (a claimed record with its intent, or a decided one)
        if the stored record is untouched since intake (`untouched_since_intake`), and take
        `fence` unless another owner holds it; the stored record, or None with nothing
        written (the caller takes the step-by-step path). `recorded`: intake wrote the
        request's `pending` record (a store that cannot read it in the same round trip
        relies on that)."""
        ...

    async def finish(self, record: OutcomeRecord, fence: Fence) -> OutcomeRecord:
        """One round trip: `replace(record)` and release `fence`; VersionConflict (nothing
        written, the fence still held) if the record changed."""
        ...

    async def queued_for(self, instance_id: str) -> list[OutcomeRecord]:
        """The instance's `queued` records, oldest first."""
        ...

    async def list_records(self, query: RecordQuery) -> list[OutcomeRecord]:
        """The records `query` matches, newest first (record_query.py), at most its limit."""
        ...

    async def acquire_lease(self, name: str, owner: str, until: datetime, now: datetime) -> bool:
        """Take or renew the lease `name` for `owner` unless another owner holds it past `now`."""
        ...

    async def release_lease(self, name: str, owner: str) -> None: ...

    async def purge_decided_before(self, cutoff: datetime) -> int:
        """Delete decided records received before `cutoff`; returns how many."""
        ...

    async def close(self) -> None: ...


class QueueSender(Protocol):
    """Puts start-request messages on the start queue."""

    async def send(self, messages: Sequence[OutgoingMessage]) -> None:
        """Send all of them or raise; a partial send is safe to repeat (MessageIds dedupe)."""
        ...

    async def close(self) -> None: ...


# The name the queue port had before it had a module of its own.
Sender = QueueSender


class InstanceClient(Protocol):
    """What the starter needs from Durable Functions."""

    async def get_status(self, instance_id: str) -> InstanceSnapshot | None:
        """The instance with its input, or None when the ID is unknown."""
        ...

    async def start_new(self, orchestrator: str, instance_id: str, input: Any) -> None: ...

    async def list_instances(self, query: InstanceQuery) -> InstancePage:
        """A page of instances by ID prefix and status (for the listing API)."""
        ...

    async def terminate(self, instance_id: str, reason: str) -> None: ...

    async def raise_event(self, instance_id: str, event_name: str, data: Any) -> None: ...
