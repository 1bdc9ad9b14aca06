"""An outcome store in process memory: for unit tests and single-process experiments.

Each call counts as one round trip (`round_trips`), as one SQLite transaction or one Table
request would, so the handler's budget is checked on every store."""

from __future__ import annotations

from datetime import datetime

from ..outcomes import (
    Fence,
    Outcome,
    OutcomeRecord,
    RecordExists,
    VersionConflict,
    as_begun,
    untouched_since_intake,
)
from ..record_query import RecordQuery
from .round_trips import round_trip


class MemoryOutcomeStore:
    def __init__(self) -> None:
        self._records: dict[str, OutcomeRecord] = {}
        self._leases: dict[str, tuple[str, datetime]] = {}

    async def get(self, request_id: str) -> OutcomeRecord | None:
        round_trip()
        return self._records.get(request_id)

    async def insert(self, record: OutcomeRecord) -> OutcomeRecord:
        round_trip()
        existing = self._records.get(record.request_id)
        if existing is not None:
            raise RecordExists(existing)
        stored = record.evolve(version=1)
        self._records[record.request_id] = stored
        return stored

    async def replace(self, record: OutcomeRecord) -> OutcomeRecord:
        round_trip()
        current = self._records.get(record.request_id)
        if current is None or current.version != record.version:
            raise VersionConflict(record.request_id)
        stored = record.evolve(version=record.version + 1)
        self._records[record.request_id] = stored
        return stored

    async def delete(self, record: OutcomeRecord) -> bool:
        round_trip()
        current = self._records.get(record.request_id)
        if current is None or current.version != record.version:
            return False
        del self._records[record.request_id]
        return True

    async def begin(
        self, claim: OutcomeRecord, fence: Fence | None, *, recorded: bool = False
    ) -> OutcomeRecord | None:
        round_trip()
        stored = self._records.get(claim.request_id)
        if not untouched_since_intake(stored, claim):
            return None
        if fence is not None and not self._fence_free(fence):
            return None
        begun = as_begun(stored, claim).evolve(version=stored.version + 1 if stored else 1)
        self._records[claim.request_id] = begun
        if fence is not None:
            self._leases[fence.name] = (fence.owner, fence.until)
        return begun

    async def finish(self, record: OutcomeRecord, fence: Fence) -> OutcomeRecord:
        round_trip()
        current = self._records.get(record.request_id)
        if current is None or current.version != record.version:
            raise VersionConflict(record.request_id)
        stored = record.evolve(version=record.version + 1)
        self._records[record.request_id] = stored
        held = self._leases.get(fence.name)
        if held is not None and held[0] == fence.owner:
            del self._leases[fence.name]
        return stored

    def _fence_free(self, fence: Fence) -> bool:
        held = self._leases.get(fence.name)
        return held is None or held[0] == fence.owner or held[1] <= fence.now

    async def queued_for(self, instance_id: str) -> list[OutcomeRecord]:
        round_trip()
        queued = [
            r
            for r in self._records.values()
            if r.instance_id == instance_id and r.outcome is Outcome.QUEUED
        ]
        return sorted(queued, key=lambda r: (r.received_at, r.request_id))

    async def list_records(self, query: RecordQuery) -> list[OutcomeRecord]:
        round_trip()
        return query.page(list(self._records.values()))

    async def acquire_lease(self, name: str, owner: str, until: datetime, now: datetime) -> bool:
        round_trip()
        if not self._fence_free(Fence(name, owner, until, now)):
            return False
        self._leases[name] = (owner, until)
        return True

    async def release_lease(self, name: str, owner: str) -> None:
        round_trip()
        held = self._leases.get(name)
        if held is not None and held[0] == owner:
            del self._leases[name]

    async def purge_decided_before(self, cutoff: datetime) -> int:
        round_trip()
        old = [
            key
            for key, record in self._records.items()
            if record.outcome.is_final and record.received_at < cutoff
        ]
        for key in old:
            del self._records[key]
        return len(old)

    async def close(self) -> None:
        return None
