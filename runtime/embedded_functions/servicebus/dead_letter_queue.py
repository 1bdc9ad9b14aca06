"""The dead-letter sub-queue of each queue: received, listed, read and deleted by number."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from datetime import datetime

from .config import QueueSettings
from .messages import COLUMNS, Message, message_from_row


class DeadLetterQueue:
    """SessionQueues' dead-letter half: what it uses of the queues is declared here."""

    _conn: sqlite3.Connection
    settings: Callable[[str], QueueSettings]
    _now: Callable[[], tuple[datetime, str]]
    _expire: Callable[[QueueSettings, str], None]
    _lock: Callable[[Message, str, datetime], Message]

    def receive_dead_letter(self, queue_name: str) -> Message | None:
        queue = self.settings(queue_name)
        now, now_s = self._now()
        self._expire(queue, now_s)
        row = self._conn.execute(
            f"SELECT {COLUMNS} FROM messages WHERE queue = ? AND state = 'dead'"
            " AND (locked_until IS NULL OR locked_until <= ?) ORDER BY seq LIMIT 1",
            (queue.name, now_s),
        ).fetchone()
        if row is None:
            return None
        message = message_from_row(row)
        token, until = uuid.uuid4().hex, now + queue.lock_duration
        return self._lock(message, token, until)

    def dead_letters(self, queue_name: str) -> list[Message]:
        queue = self.settings(queue_name)
        self._expire(queue, self._now()[1])
        rows = self._conn.execute(
            f"SELECT {COLUMNS} FROM messages WHERE queue = ? AND state = 'dead' ORDER BY seq",
            (queue.name,),
        ).fetchall()
        return [message_from_row(r) for r in rows]

    def dead_letter_by_number(self, queue_name: str, sequence_number: int) -> Message | None:
        row = self._conn.execute(
            f"SELECT {COLUMNS} FROM messages WHERE queue = ? AND state = 'dead' AND seq = ?",
            (queue_name, sequence_number),
        ).fetchone()
        return message_from_row(row) if row else None

    def delete_dead_letter(self, queue_name: str, sequence_number: int) -> bool:
        cursor = self._conn.execute(
            "DELETE FROM messages WHERE queue = ? AND state = 'dead' AND seq = ?",
            (queue_name, sequence_number),
        )
        return cursor.rowcount == 1
