"""When a queue's messages fall due: bulk expiry and the earliest scheduled enqueue time.

Expiry runs lazily in bulk: the queue keeps the earliest expiry time of its active messages
and runs the expiry query only once the clock has passed it, so an accept or a receive
costs no expiry query (it was 12% of the host's CPU under load). The earliest scheduled
enqueue time is kept the same way for the dispatcher's waits. Both rely on SessionQueues
being the queue's only writer (one host per data directory).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime

from ..durable.history import parse_time
from .config import QueueSettings


class DueTimes:
    """SessionQueues' due-time bookkeeping: what it uses of the queues is declared here."""

    _conn: sqlite3.Connection
    _now: Callable[[], tuple[datetime, str]]
    _dead_letter: Callable[[int, str, str | None], None]

    def _init_due_times(self) -> None:
        # Per queue: the earliest expires_at of an active message, and the earliest
        # visible_at still in the future ("" = none); absent = not yet read.
        self._next_expiry: dict[str, str] = {}
        self._next_visible: dict[str, str] = {}

    def _note_sent(self, queue: str, now_s: str, visible_s: str, expires_s: str) -> None:
        """Lower the known due times for a message just inserted."""
        self._lower(self._next_expiry, queue, expires_s)
        if visible_s > now_s:
            self._lower(self._next_visible, queue, visible_s)

    def _forget_due_times(self, queue: str) -> None:
        """After a rollback the cached times may name rows that are gone: read again."""
        self._next_expiry.pop(queue, None)
        self._next_visible.pop(queue, None)

    @staticmethod
    def _lower(cache: dict[str, str], queue: str, moment: str) -> None:
        # Only a known value is lowered: an unread one is read in full when first needed.
        known = cache.get(queue)
        if known is not None and (known == "" or moment < known):
            cache[queue] = moment

    def _expire(self, queue: QueueSettings, now_s: str) -> None:
        """Expire what is due, in bulk; no query until the earliest expiry has passed."""
        due = self._next_expiry.get(queue.name)
        if due is not None and (due == "" or due > now_s):
            return
        expired = self._conn.execute(
            "SELECT seq FROM messages WHERE queue = ? AND state = 'active' AND expires_at <= ?",
            (queue.name, now_s),
        ).fetchall()
        for (seq,) in expired:
            if queue.dead_lettering_on_expiration:
                self._dead_letter(
                    seq, "TTLExpiredException", "The message expired and was dead lettered."
                )
            else:
                self._conn.execute("DELETE FROM messages WHERE seq = ?", (seq,))
        row = self._conn.execute(
            "SELECT MIN(expires_at) FROM messages WHERE queue = ? AND state = 'active'",
            (queue.name,),
        ).fetchone()
        self._next_expiry[queue.name] = row[0] if row and row[0] else ""

    def next_visible_after(self, queue_name: str) -> datetime | None:
        """When the earliest scheduled (not yet visible) message becomes visible."""
        _, now_s = self._now()
        due = self._next_visible.get(queue_name)
        if due is None or (due != "" and due <= now_s):
            row = self._conn.execute(
                "SELECT MIN(visible_at) FROM messages WHERE queue = ? AND state = 'active'"
                " AND visible_at > ?",
                (queue_name, now_s),
            ).fetchone()
            due = row[0] if row and row[0] else ""
            self._next_visible[queue_name] = due
        return parse_time(due) if due else None
