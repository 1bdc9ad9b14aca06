"""Durable Entity state, in the task hub's SQLite database.

An entity's pending operations live in the shared inbox (addressed to its scheduler ID,
`@name@key`), so an orchestration episode that calls or signals an entity commits the
request in the same transaction as its history. This table holds what each entity has
kept: a row exists exactly while the entity exists.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    entity_id      TEXT PRIMARY KEY,
    state          TEXT,
    last_modified  TEXT NOT NULL
);
"""


@dataclass
class EntityRow:
    entity_id: str
    # The entity's state as the SDK serialized it (JSON text), None for a null state.
    state: str | None
    last_modified: str


class EntityStateStore:
    """Reads and writes entity state on the durable store's connection (its transactions)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        self._conn.executescript(_SCHEMA)

    def get(self, entity_id: str) -> EntityRow | None:
        row = self._conn.execute(
            "SELECT entity_id, state, last_modified FROM entities WHERE entity_id = ?",
            (entity_id,),
        ).fetchone()
        return EntityRow(row[0], row[1], row[2]) if row else None

    def put(self, entity_id: str, state: str | None, last_modified: str) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO entities (entity_id, state, last_modified) VALUES (?, ?, ?)",
            (entity_id, state, last_modified),
        )

    def delete(self, entity_id: str) -> None:
        self._conn.execute("DELETE FROM entities WHERE entity_id = ?", (entity_id,))
