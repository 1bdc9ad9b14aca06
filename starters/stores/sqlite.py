"""An outcome store in a SQLite file: the embedded runtime's store, shared by processes.

Conditional writes are single statements guarded by the version column, so they are
atomic across connections and processes without explicit transactions; `begin` and
`finish`, which write a record and the instance's fence together, are one transaction each.
`transactions` counts the store's round trips (one statement or one transaction each).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

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
from ._codec import record_from_storage, record_to_storage
from .round_trips import round_trip

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outcomes (
    request_id  TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    received_at TEXT NOT NULL,
    version     INTEGER NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outcomes_by_instance ON outcomes (instance_id, outcome, received_at);
-- Listing, newest first: globally, and by instance (created on existing databases too).
CREATE INDEX IF NOT EXISTS outcomes_newest ON outcomes (received_at, request_id);
CREATE INDEX IF NOT EXISTS outcomes_by_instance_newest
    ON outcomes (instance_id, received_at, request_id);
CREATE TABLE IF NOT EXISTS leases (
    name  TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until TEXT NOT NULL
);
"""


def _sortable(moment: datetime) -> str:
    # Fixed width, UTC: these columns are compared as text.
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _listing_filter(query: RecordQuery) -> tuple[list[str], list[str]]:
    """The WHERE terms and their values for `query`; the indexed columns carry all but the
    orchestrator, which only the record's JSON holds."""
    where: list[str] = []
    values: list[str] = []
    if query.instance_id is not None:
        where.append("instance_id = ?")
        values.append(query.instance_id)
    if query.outcomes:
        where.append("outcome IN (" + ", ".join("?" for _ in query.outcomes) + ")")
        values.extend(sorted(o.value for o in query.outcomes))
    if query.since is not None:
        where.append("received_at >= ?")
        values.append(_sortable(query.since))
    if query.until is not None:
        where.append("received_at < ?")
        values.append(_sortable(query.until))
    if query.after is not None:
        moment = _sortable(query.after.received_at)
        where.append("(received_at < ? OR (received_at = ? AND request_id < ?))")
        values.extend((moment, moment, query.after.request_id))
    if query.orchestrator is not None:
        where.append("json_extract(data, '$.orchestrator') = ?")
        values.append(query.orchestrator)
    return where, values


class SqliteOutcomeStore:
    # "database is locked" while another process writes.
    transient_errors: tuple[type[Exception], ...] = (sqlite3.OperationalError,)

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # One connection guarded by a lock: calls are short, and a single connection keeps
        # ":memory:" databases working too.
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")  # WAL: no fsync per commit
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self.transactions = 0

    def _counted(self) -> None:
        self.transactions += 1
        round_trip()

    def _row(self, request_id: str) -> OutcomeRecord | None:
        row = self._conn.execute(
            "SELECT data, version FROM outcomes WHERE request_id = ?", (request_id,)
        ).fetchone()
        return record_from_storage(json.loads(row[0]), row[1]) if row else None

    async def get(self, request_id: str) -> OutcomeRecord | None:
        with self._lock:
            self._counted()
            return self._row(request_id)

    async def insert(self, record: OutcomeRecord) -> OutcomeRecord:
        with self._lock:
            self._counted()
            try:
                self._conn.execute(
                    "INSERT INTO outcomes VALUES (?, ?, ?, ?, 1, ?)",
                    (
                        record.request_id,
                        record.instance_id,
                        record.outcome.value,
                        _sortable(record.received_at),
                        json.dumps(record_to_storage(record)),
                    ),
                )
            except sqlite3.IntegrityError:
                existing = self._row(record.request_id)
                assert existing is not None
                raise RecordExists(existing) from None
            return record.evolve(version=1)

    async def replace(self, record: OutcomeRecord) -> OutcomeRecord:
        with self._lock:
            self._counted()
            return self._replace(record)

    def _replace(self, record: OutcomeRecord) -> OutcomeRecord:
        cursor = self._conn.execute(
            "UPDATE outcomes SET outcome = ?, received_at = ?, data = ?, version = version + 1"
            " WHERE request_id = ? AND version = ?",
            (
                record.outcome.value,
                _sortable(record.received_at),
                json.dumps(record_to_storage(record)),
                record.request_id,
                record.version,
            ),
        )
        if cursor.rowcount != 1:
            raise VersionConflict(record.request_id)
        return record.evolve(version=record.version + 1)

    async def delete(self, record: OutcomeRecord) -> bool:
        with self._lock:
            self._counted()
            cursor = self._conn.execute(
                "DELETE FROM outcomes WHERE request_id = ? AND version = ?",
                (record.request_id, record.version),
            )
            return cursor.rowcount == 1

    async def begin(
        self, claim: OutcomeRecord, fence: Fence | None, *, recorded: bool = False
    ) -> OutcomeRecord | None:
        with self._lock:
            self._counted()
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                stored = self._row(claim.request_id)
                if not untouched_since_intake(stored, claim) or (
                    fence is not None and not self._take_fence(fence)
                ):
                    self._conn.execute("ROLLBACK")
                    return None
                begun = as_begun(stored, claim)
                version = stored.version + 1 if stored else 1
                self._conn.execute(
                    "INSERT INTO outcomes VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (request_id)"
                    " DO UPDATE SET outcome = excluded.outcome, received_at = excluded.received_at,"
                    " data = excluded.data, version = excluded.version",
                    (
                        begun.request_id,
                        begun.instance_id,
                        begun.outcome.value,
                        _sortable(begun.received_at),
                        version,
                        json.dumps(record_to_storage(begun)),
                    ),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            return begun.evolve(version=version)

    async def finish(self, record: OutcomeRecord, fence: Fence) -> OutcomeRecord:
        with self._lock:
            self._counted()
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                stored = self._replace(record)
                self._conn.execute(
                    "DELETE FROM leases WHERE name = ? AND owner = ?", (fence.name, fence.owner)
                )
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            return stored

    def _take_fence(self, fence: Fence) -> bool:
        cursor = self._conn.execute(
            "INSERT INTO leases VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE"
            " SET owner = excluded.owner, until = excluded.until"
            " WHERE leases.owner = excluded.owner OR leases.until <= ?",
            (fence.name, fence.owner, _sortable(fence.until), _sortable(fence.now)),
        )
        return cursor.rowcount == 1

    async def queued_for(self, instance_id: str) -> list[OutcomeRecord]:
        with self._lock:
            self._counted()
            rows = self._conn.execute(
                "SELECT data, version FROM outcomes WHERE instance_id = ? AND outcome = ?"
                " ORDER BY received_at, request_id",
                (instance_id, Outcome.QUEUED.value),
            ).fetchall()
        return [record_from_storage(json.loads(data), version) for data, version in rows]

    async def list_records(self, query: RecordQuery) -> list[OutcomeRecord]:
        where, values = _listing_filter(query)
        with self._lock:
            self._counted()
            rows = self._conn.execute(
                "SELECT data, version FROM outcomes"
                + (" WHERE " + " AND ".join(where) if where else "")
                + " ORDER BY received_at DESC, request_id DESC LIMIT ?",
                (*values, query.limit),
            ).fetchall()
        return [record_from_storage(json.loads(data), version) for data, version in rows]

    async def acquire_lease(self, name: str, owner: str, until: datetime, now: datetime) -> bool:
        with self._lock:
            self._counted()
            return self._take_fence(Fence(name, owner, until, now))

    async def release_lease(self, name: str, owner: str) -> None:
        with self._lock:
            self._counted()
            self._conn.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    async def purge_decided_before(self, cutoff: datetime) -> int:
        with self._lock:
            self._counted()
            cursor = self._conn.execute(
                "DELETE FROM outcomes WHERE received_at < ? AND outcome NOT IN (?, ?)",
                (_sortable(cutoff), Outcome.PENDING.value, Outcome.QUEUED.value),
            )
            return cursor.rowcount

    async def close(self) -> None:
        with self._lock:
            self._conn.close()
