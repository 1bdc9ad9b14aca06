"""Durable state in SQLite: instances, their history, their inbox and pending activities.

Every episode commits in one transaction (history appended, inbox consumed, activities and
timers scheduled), so a process killed at any point resumes from the last commit: an
activity whose completion was committed never runs again, a timer still in the inbox
still fires.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .entity_store import EntityStateStore
from .statuses import RuntimeStatus

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id        TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    execution_id       TEXT NOT NULL,
    status             TEXT NOT NULL,
    input              TEXT,
    output             TEXT,
    custom_status      TEXT,
    created_time       TEXT NOT NULL,
    last_updated_time  TEXT NOT NULL,
    parent_instance_id TEXT,
    parent_execution_id TEXT,
    parent_task_id     INTEGER,
    next_event_id      INTEGER NOT NULL DEFAULT 0,
    scheduled_actions  INTEGER NOT NULL DEFAULT 0,
    version            TEXT NOT NULL DEFAULT '',
    parent_retry       TEXT
);
CREATE INDEX IF NOT EXISTS instances_by_created ON instances (created_time);
CREATE TABLE IF NOT EXISTS history (
    instance_id  TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    event        TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
);
CREATE TABLE IF NOT EXISTS inbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id  TEXT NOT NULL,
    execution_id TEXT,
    kind         TEXT NOT NULL,
    event        TEXT NOT NULL,
    visible_at   TEXT NOT NULL,
    meta         TEXT
);
CREATE INDEX IF NOT EXISTS inbox_by_visible ON inbox (visible_at);
CREATE INDEX IF NOT EXISTS inbox_by_instance ON inbox (instance_id, id);
CREATE TABLE IF NOT EXISTS activities (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id  TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id      INTEGER NOT NULL,
    name         TEXT NOT NULL,
    input        TEXT,
    meta         TEXT
);
"""


@dataclass
class InstanceRow:
    instance_id: str
    name: str
    execution_id: str
    status: RuntimeStatus
    input: str | None
    output: str | None
    custom_status: str | None
    created_time: str
    last_updated_time: str
    parent_instance_id: str | None = None
    parent_execution_id: str | None = None
    parent_task_id: int | None = None
    next_event_id: int = 0
    scheduled_actions: int = 0
    version: str = ""
    # The retry state a parent keeps for this child (JSON), returned with its failure.
    parent_retry: str | None = None

    def __post_init__(self) -> None:
        self.status = RuntimeStatus(self.status)  # read back from SQLite as text

    COLUMNS = (
        "instance_id",
        "name",
        "execution_id",
        "status",
        "input",
        "output",
        "custom_status",
        "created_time",
        "last_updated_time",
        "parent_instance_id",
        "parent_execution_id",
        "parent_task_id",
        "next_event_id",
        "scheduled_actions",
        "version",
        "parent_retry",
    )

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, column) for column in self.COLUMNS)


@dataclass
class InboxItem:
    id: int
    instance_id: str
    execution_id: str | None
    kind: str
    event: dict[str, Any]
    visible_at: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ActivityItem:
    id: int
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None
    meta: dict[str, Any] = field(default_factory=dict)


class DurableStore:
    """One SQLite database (a file, or memory) holding one task hub's state."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = ":memory:" if path is None else str(path)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a commit survives a killed process; only an OS crash can lose the
            # last commits, which a local runtime may accept.
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self.entities = EntityStateStore(self._conn)
        self._depth = 0

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of work; nested calls join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")
        finally:
            self._depth = 0

    # -- instances --

    def get_instance(self, instance_id: str) -> InstanceRow | None:
        row = self._conn.execute(
            f"SELECT {', '.join(InstanceRow.COLUMNS)} FROM instances WHERE instance_id = ?",
            (instance_id,),
        ).fetchone()
        return InstanceRow(*row) if row else None

    def put_instance(self, row: InstanceRow) -> None:
        marks = ", ".join("?" for _ in InstanceRow.COLUMNS)
        self._conn.execute(
            f"INSERT OR REPLACE INTO instances ({', '.join(InstanceRow.COLUMNS)}) VALUES ({marks})",
            row.values(),
        )

    def list_instances(
        self,
        *,
        created_from: str | None = None,
        created_to: str | None = None,
        statuses: list[str] | None = None,
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[InstanceRow]:
        clauses: list[str] = []
        args: list[Any] = []
        if created_from:
            clauses.append("created_time >= ?")
            args.append(created_from)
        if created_to:
            clauses.append("created_time <= ?")
            args.append(created_to)
        if statuses:
            clauses.append(f"status IN ({', '.join('?' for _ in statuses)})")
            args.extend(statuses)
        if prefix:
            clauses.append("substr(instance_id, 1, ?) = ?")
            args.extend([len(prefix), prefix])
        if after:
            clauses.append("instance_id > ?")
            args.append(after)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = f" LIMIT {int(limit)}" if limit else ""
        rows = self._conn.execute(
            f"SELECT {', '.join(InstanceRow.COLUMNS)} FROM instances {where}"
            f" ORDER BY instance_id{tail}",
            args,
        ).fetchall()
        return [InstanceRow(*row) for row in rows]

    def delete_instance(self, instance_id: str) -> None:
        for table in ("instances", "history", "inbox", "activities"):
            self._conn.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))

    def future_inbox(self, now: str) -> list[tuple[str, str]]:
        """(instance_id, visible_at) of inbox items not visible yet: the pending timers."""
        rows = self._conn.execute(
            "SELECT instance_id, visible_at FROM inbox WHERE visible_at > ?", (now,)
        ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def delete_activities(self, instance_id: str, execution_id: str | None = None) -> None:
        if execution_id is None:
            self._conn.execute("DELETE FROM activities WHERE instance_id = ?", (instance_id,))
        else:
            self._conn.execute(
                "DELETE FROM activities WHERE instance_id = ? AND execution_id = ?",
                (instance_id, execution_id),
            )

    def delete_execution_inbox(self, instance_id: str) -> None:
        """Drop what was addressed to an execution (task results, timers), keep the rest."""
        self._conn.execute(
            "DELETE FROM inbox WHERE instance_id = ? AND execution_id IS NOT NULL", (instance_id,)
        )

    # -- history --

    def history(self, instance_id: str) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
        ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def append_history(self, instance_id: str, events: list[dict[str, Any]]) -> None:
        row = self._conn.execute(
            "SELECT COALESCE(MAX(seq), -1) FROM history WHERE instance_id = ?", (instance_id,)
        ).fetchone()
        start = int(row[0]) + 1
        self._conn.executemany(
            "INSERT INTO history VALUES (?, ?, ?)",
            [(instance_id, start + i, json.dumps(e)) for i, e in enumerate(events)],
        )

    def clear_history(self, instance_id: str) -> None:
        self._conn.execute("DELETE FROM history WHERE instance_id = ?", (instance_id,))

    # -- inbox --

    def enqueue(
        self,
        instance_id: str,
        kind: str,
        event: dict[str, Any],
        visible_at: str,
        *,
        execution_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self._conn.execute(
            "INSERT INTO inbox (instance_id, execution_id, kind, event, visible_at, meta)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                instance_id,
                execution_id,
                kind,
                json.dumps(event),
                visible_at,
                json.dumps(meta) if meta else None,
            ),
        )

    def inbox(self, instance_id: str, visible_by: str | None = None) -> list[InboxItem]:
        query = "SELECT id, instance_id, execution_id, kind, event, visible_at, meta FROM inbox"
        query += " WHERE instance_id = ?"
        args: list[Any] = [instance_id]
        if visible_by is not None:
            query += " AND visible_at <= ?"
            args.append(visible_by)
        rows = self._conn.execute(query + " ORDER BY id", args).fetchall()
        return [
            InboxItem(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], json.loads(r[6] or "{}"))
            for r in rows
        ]

    def delete_inbox(self, ids: list[int]) -> None:
        self._conn.executemany("DELETE FROM inbox WHERE id = ?", [(i,) for i in ids])

    def instances_with_visible_inbox(self, now: str) -> list[str]:
        rows = self._conn.execute(
            "SELECT DISTINCT instance_id FROM inbox WHERE visible_at <= ?", (now,)
        ).fetchall()
        return [row[0] for row in rows]

    def next_visible_at(self, after: str) -> str | None:
        row = self._conn.execute(
            "SELECT MIN(visible_at) FROM inbox WHERE visible_at > ?", (after,)
        ).fetchone()
        return row[0] if row and row[0] else None

    # -- activities --

    def add_activity(
        self,
        instance_id: str,
        execution_id: str,
        task_id: int,
        name: str,
        input: str | None,
        meta: dict[str, Any] | None = None,
    ) -> int:
        cursor = self._conn.execute(
            "INSERT INTO activities (instance_id, execution_id, task_id, name, input, meta)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (instance_id, execution_id, task_id, name, input, json.dumps(meta) if meta else None),
        )
        return int(cursor.lastrowid or 0)

    def activities(self) -> list[ActivityItem]:
        rows = self._conn.execute(
            "SELECT id, instance_id, execution_id, task_id, name, input, meta FROM activities"
            " ORDER BY id"
        ).fetchall()
        return [
            ActivityItem(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6] or "{}")) for r in rows
        ]

    def delete_activity(self, activity_id: int) -> bool:
        cursor = self._conn.execute("DELETE FROM activities WHERE id = ?", (activity_id,))
        return cursor.rowcount == 1
