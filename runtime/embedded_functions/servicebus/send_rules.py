"""What a send must satisfy: a SessionId on a session queue, ids within Service Bus' length
limit, and no MessageId seen within the queue's duplicate detection window."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ..durable.history import timestamp
from .config import QueueSettings
from .messages import MAX_ID_LENGTH, NewMessage, QueueError


def check_sendable(queue: QueueSettings, message: NewMessage) -> None:
    if queue.requires_session and not message.session_id:
        raise QueueError(f"queue {queue.name} requires sessions: the message must have a SessionId")
    for name, value in (("SessionId", message.session_id), ("MessageId", message.message_id)):
        if value is not None and len(value) > MAX_ID_LENGTH:
            raise QueueError(f"{name} is longer than {MAX_ID_LENGTH} characters")


def is_duplicate(
    conn: sqlite3.Connection, queue: QueueSettings, message_id: str, now: datetime, now_s: str
) -> bool:
    """Whether the MessageId was sent within the window; if not, it is remembered from now."""
    row = conn.execute(
        "SELECT until FROM duplicates WHERE queue = ? AND message_id = ?",
        (queue.name, message_id),
    ).fetchone()
    if row is not None and row[0] > now_s:
        return True
    conn.execute(
        "INSERT OR REPLACE INTO duplicates VALUES (?, ?, ?)",
        (queue.name, message_id, timestamp(now + queue.duplicate_detection_window)),
    )
    return False
