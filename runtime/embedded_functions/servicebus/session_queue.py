"""Service Bus queues in SQLite, with the semantics the starter depends on.

- FIFO per session (by enqueue time); one session lease at a time, with lock duration,
  renewal and expiry: once a lease has expired another receiver may take the session,
  and messages locked under the old lease are delivered again;
- peek-lock: receive locks and counts a delivery; complete removes; abandon unlocks;
- `MaxDeliveryCount`: a message delivered that often is dead-lettered
  (`MaxDeliveryCountExceeded`) instead of being delivered again;
- time-to-live: an expired message is dead-lettered (`TTLExpiredException`) when the
  queue dead-letters on expiration, dropped otherwise;
- duplicate detection on MessageId within the queue's window (send side);
- scheduled enqueue time.

Expiry runs lazily in bulk (`due_times.py`); the dead-letter sub-queue is
`dead_letter_queue.py`; the send rules and duplicate detection are `send_rules.py`; the
records, schema and errors are `messages.py`.

Time comes from the runtime's clock, so tests move past lock durations and TTLs at once.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ..clock import RuntimeClock
from ..durable.history import timestamp
from ..operation_counts import count
from .config import QueueSettings
from .dead_letter_queue import DeadLetterQueue
from .due_times import DueTimes
from .messages import (
    COLUMNS,
    DEAD_LETTER_SUFFIX,
    MAX_ID_LENGTH,
    SCHEMA,
    LockLost,
    Message,
    NewMessage,
    QueueError,
    SessionLease,
    UnknownQueue,
    message_from_row,
    saturating_add,
)
from .send_rules import check_sendable, is_duplicate

logger = logging.getLogger("embedded_functions.servicebus")


class SessionQueues(DueTimes, DeadLetterQueue):
    def __init__(
        self,
        path: str | Path | None,
        clock: RuntimeClock,
        declared: dict[str, QueueSettings] | None = None,
        on_send: Callable[[str, frozenset[str] | None], None] | None = None,
    ) -> None:
        self.clock = clock
        self.queues: dict[str, QueueSettings] = dict(declared or {})
        # Called with the queue and the sessions that got work (None: any receiver may have).
        self.on_send = on_send
        self._init_due_times()
        target = ":memory:" if path is None else str(path)
        self._conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        if target != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def _now(self) -> tuple[datetime, str]:
        now = self.clock.now()
        return now, timestamp(now)

    # -- queues -----------------------------------------------------------------------

    def ensure_queue(self, name: str, *, requires_session: bool | None = None) -> QueueSettings:
        """A declared queue, or one created with Service Bus defaults (and a warning)."""
        queue = self.queues.get(name)
        if queue is None:
            queue = QueueSettings(
                name=name, requires_session=bool(requires_session), declared=False
            )
            self.queues[name] = queue
            logger.warning(
                "queue %s is not declared in the queue configuration; created with Service Bus "
                "defaults (sessions %s)",
                name,
                "on" if queue.requires_session else "off",
            )
        elif requires_session is not None and queue.requires_session != requires_session:
            logger.warning(
                "queue %s: a trigger expects sessions %s, the configuration says %s",
                name,
                "on" if requires_session else "off",
                "on" if queue.requires_session else "off",
            )
        return queue

    def settings(self, name: str) -> QueueSettings:
        queue = self.queues.get(name)
        if queue is None:
            raise UnknownQueue(f"no queue named {name!r}")
        return queue

    # -- send -------------------------------------------------------------------------

    def send(self, queue_name: str, messages: list[NewMessage]) -> list[int | None]:
        """Enqueue; returns each message's sequence number (None: dropped as a duplicate)."""
        count("queue.send", len(messages))
        queue = self.settings(queue_name)
        now, now_s = self._now()
        for message in messages:
            check_sendable(queue, message)
        results: list[int | None] = []
        sessions: set[str] = set()
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for message in messages:
                message_id = message.message_id or uuid.uuid4().hex
                if queue.requires_duplicate_detection and is_duplicate(
                    self._conn, queue, message_id, now, now_s
                ):
                    results.append(None)
                    continue
                ttl = min(
                    message.time_to_live or queue.default_message_ttl, queue.default_message_ttl
                )
                visible = max(message.scheduled_enqueue_time or now, now)
                expires_s = timestamp(saturating_add(visible, ttl))
                visible_s = timestamp(visible)
                broker = {"label": message.label, "correlationId": message.correlation_id}
                if message.scheduled_enqueue_time:
                    broker["scheduledEnqueueTimeUtc"] = timestamp(message.scheduled_enqueue_time)
                cursor = self._conn.execute(
                    "INSERT INTO messages (queue, session_id, message_id, body, content_type,"
                    " properties, broker, enqueued_at, visible_at, expires_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        queue.name,
                        message.session_id,
                        message_id,
                        message.body,
                        message.content_type,
                        json.dumps(message.application_properties),
                        json.dumps(broker),
                        now_s,
                        visible_s,
                        expires_s,
                    ),
                )
                results.append(int(cursor.lastrowid or 0))
                self._note_sent(queue.name, now_s, visible_s, expires_s)
                if message.session_id is not None:
                    sessions.add(message.session_id)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            self._forget_due_times(queue.name)
            raise
        if self.on_send is not None:
            self.on_send(queue.name, frozenset(sessions) if queue.requires_session else None)
        return results

    # -- sessions ---------------------------------------------------------------------

    def accept_session(self, queue_name: str) -> SessionLease | None:
        """Lease the session whose oldest available message is oldest, if any."""
        queue = self.settings(queue_name)
        now, now_s = self._now()
        self._expire(queue, now_s)
        row = self._conn.execute(
            "SELECT m.session_id FROM messages m LEFT JOIN sessions s"
            " ON s.queue = m.queue AND s.session_id = m.session_id AND s.locked_until > ?"
            " WHERE m.queue = ? AND m.state = 'active' AND m.visible_at <= ?"
            " AND s.session_id IS NULL"
            " ORDER BY m.visible_at, m.seq LIMIT 1",
            (now_s, queue.name, now_s),
        ).fetchone()
        count("queue.accept_session" if row is not None else "queue.accept_session.empty")
        if row is None:
            return None
        lease = SessionLease(queue.name, row[0], uuid.uuid4().hex, now + queue.lock_duration)
        self._conn.execute(
            "INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?)",
            (queue.name, lease.session_id, lease.token, timestamp(lease.locked_until)),
        )
        return lease

    def _lease_valid(self, lease: SessionLease, now_s: str) -> bool:
        return self._holds(lease.queue, lease.session_id, lease.token, now_s)

    def _holds(self, queue: str, session_id: str, token: str, now_s: str) -> bool:
        row = self._conn.execute(
            "SELECT token, locked_until FROM sessions WHERE queue = ? AND session_id = ?",
            (queue, session_id),
        ).fetchone()
        return row is not None and row[0] == token and row[1] > now_s

    def renew_session(self, lease: SessionLease) -> SessionLease:
        queue = self.settings(lease.queue)
        now, now_s = self._now()
        if not self._lease_valid(lease, now_s):
            raise LockLost(f"the lock on session {lease.session_id} was lost")
        renewed = replace(lease, locked_until=now + queue.lock_duration)
        self._conn.execute(
            "UPDATE sessions SET locked_until = ? WHERE queue = ? AND session_id = ? AND token = ?",
            (timestamp(renewed.locked_until), lease.queue, lease.session_id, lease.token),
        )
        return renewed

    def release_session(self, lease: SessionLease) -> None:
        count("queue.release_session")
        self._conn.execute(
            "DELETE FROM sessions WHERE queue = ? AND session_id = ? AND token = ?",
            (lease.queue, lease.session_id, lease.token),
        )

    # -- receive and settle -------------------------------------------------------------

    def receive(self, queue_name: str, lease: SessionLease | None = None) -> Message | None:
        """Peek-lock the next message (of the lease's session, for a session queue)."""
        queue = self.settings(queue_name)
        now, now_s = self._now()
        if queue.requires_session and lease is None:
            raise QueueError(f"queue {queue.name} requires sessions: accept a session first")
        self._expire(queue, now_s)
        while True:
            if lease is not None:
                if not self._lease_valid(lease, now_s):
                    raise LockLost(f"the lock on session {lease.session_id} was lost")
                # Locked under this lease: in flight. Under any other token: a lease that
                # expired, so the message is due again.
                row = self._conn.execute(
                    f"SELECT {COLUMNS} FROM messages WHERE queue = ? AND state = 'active'"
                    " AND session_id = ? AND visible_at <= ?"
                    " AND (lock_token IS NULL OR lock_token != ?)"
                    " ORDER BY visible_at, seq LIMIT 1",
                    (queue.name, lease.session_id, now_s, lease.token),
                ).fetchone()
            else:
                row = self._conn.execute(
                    f"SELECT {COLUMNS} FROM messages WHERE queue = ? AND state = 'active'"
                    " AND visible_at <= ? AND (locked_until IS NULL OR locked_until <= ?)"
                    " ORDER BY visible_at, seq LIMIT 1",
                    (queue.name, now_s, now_s),
                ).fetchone()
            count("queue.receive" if row is not None else "queue.receive.empty")
            if row is None:
                return None
            message = message_from_row(row)
            if message.delivery_count >= queue.max_delivery_count:
                self._dead_letter(
                    message.sequence_number,
                    "MaxDeliveryCountExceeded",
                    f"Message could not be consumed after {message.delivery_count} delivery "
                    "attempts.",
                )
                continue
            token = lease.token if lease is not None else uuid.uuid4().hex
            until = lease.locked_until if lease is not None else now + queue.lock_duration
            return self._lock(message, token, until)

    def _lock(self, message: Message, token: str, until: datetime) -> Message:
        """Peek-lock: lock the message and count the delivery."""
        self._conn.execute(
            "UPDATE messages SET delivery_count = delivery_count + 1, lock_token = ?,"
            " locked_until = ? WHERE seq = ?",
            (token, timestamp(until), message.sequence_number),
        )
        message.delivery_count += 1
        message.lock_token, message.locked_until = token, until
        return message

    def _locked(self, message: Message, now_s: str) -> tuple[Any, ...]:
        row = self._conn.execute(
            "SELECT lock_token, locked_until, session_id FROM messages WHERE seq = ? AND state = ?",
            (message.sequence_number, message.state),
        ).fetchone()
        if row is None or row[0] != message.lock_token:
            raise LockLost(f"the lock on message {message.message_id} was lost")
        if self.settings(message.queue).requires_session and message.state == "active":
            token = message.lock_token or ""
            if not self._holds(message.queue, message.session_id or "", token, now_s):
                raise LockLost(f"the lock on session {message.session_id} was lost")
        elif row[1] is None or row[1] <= now_s:
            raise LockLost(f"the lock on message {message.message_id} expired")
        return tuple(row)

    def complete(self, message: Message) -> None:
        count("queue.complete")
        _, now_s = self._now()
        self._locked(message, now_s)
        self._conn.execute("DELETE FROM messages WHERE seq = ?", (message.sequence_number,))

    def abandon(self, message: Message) -> None:
        count("queue.abandon")
        _, now_s = self._now()
        self._locked(message, now_s)
        self._conn.execute(
            "UPDATE messages SET lock_token = NULL, locked_until = NULL WHERE seq = ?",
            (message.sequence_number,),
        )
        if self.on_send is not None:
            self.on_send(
                message.queue, frozenset({message.session_id}) if message.session_id else None
            )

    def renew_message_lock(self, message: Message) -> None:
        queue = self.settings(message.queue)
        now, now_s = self._now()
        self._locked(message, now_s)
        if not queue.requires_session or message.state != "active":
            until = now + queue.lock_duration
            self._conn.execute(
                "UPDATE messages SET locked_until = ? WHERE seq = ?",
                (timestamp(until), message.sequence_number),
            )
            message.locked_until = until

    def dead_letter(self, message: Message, reason: str, description: str | None = None) -> None:
        count("queue.dead_letter")
        _, now_s = self._now()
        self._locked(message, now_s)
        self._dead_letter(message.sequence_number, reason, description)

    def _dead_letter(self, seq: int, reason: str, description: str | None) -> None:
        self._conn.execute(
            "UPDATE messages SET state = 'dead', dl_reason = ?, dl_description = ?,"
            " lock_token = NULL, locked_until = NULL WHERE seq = ?",
            (reason, description, seq),
        )
        row = self._conn.execute("SELECT queue FROM messages WHERE seq = ?", (seq,)).fetchone()
        if row and self.on_send is not None:
            self.on_send(row[0] + DEAD_LETTER_SUFFIX, None)

    # -- for the dispatcher -----------------------------------------------------------

    def deliverable(self, queue_name: str) -> int:
        """Messages a receiver would get now: active, visible, not locked."""
        _, now_s = self._now()
        row = self._conn.execute(
            "SELECT COUNT(*) FROM messages WHERE queue = ? AND state = 'active'"
            " AND visible_at <= ? AND (locked_until IS NULL OR locked_until <= ?)",
            (queue_name, now_s, now_s),
        ).fetchone()
        return int(row[0])

    def counts(self, queue_name: str) -> dict[str, int]:
        rows = self._conn.execute(
            "SELECT state, COUNT(*) FROM messages WHERE queue = ? GROUP BY state", (queue_name,)
        ).fetchall()
        counts = {"active": 0, "dead": 0}
        counts.update({state: n for state, n in rows})
        return counts


# Imported from here before the records moved to messages.py.
__all__ = [
    "DEAD_LETTER_SUFFIX",
    "MAX_ID_LENGTH",
    "LockLost",
    "Message",
    "NewMessage",
    "QueueError",
    "SessionLease",
    "SessionQueues",
    "UnknownQueue",
]
