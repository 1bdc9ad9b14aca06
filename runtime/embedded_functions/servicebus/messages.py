"""The queue's records: messages as sent and as received, session leases, the SQLite schema
that holds them, and the errors a caller sees."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..durable.history import parse_time

DEAD_LETTER_SUFFIX = "/$DeadLetterQueue"
MAX_ID_LENGTH = 128

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    queue          TEXT NOT NULL,
    session_id     TEXT,
    message_id     TEXT NOT NULL,
    body           BLOB NOT NULL,
    content_type   TEXT,
    properties     TEXT NOT NULL,
    broker         TEXT NOT NULL,
    enqueued_at    TEXT NOT NULL,
    visible_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    lock_token     TEXT,
    locked_until   TEXT,
    state          TEXT NOT NULL DEFAULT 'active',
    dl_reason      TEXT,
    dl_description TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_session
    ON messages (queue, state, session_id, visible_at, seq);
CREATE INDEX IF NOT EXISTS messages_by_visible ON messages (queue, state, visible_at, seq);
CREATE INDEX IF NOT EXISTS messages_by_expiry ON messages (queue, state, expires_at);
CREATE TABLE IF NOT EXISTS sessions (
    queue        TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    token        TEXT NOT NULL,
    locked_until TEXT NOT NULL,
    PRIMARY KEY (queue, session_id)
);
CREATE TABLE IF NOT EXISTS duplicates (
    queue      TEXT NOT NULL,
    message_id TEXT NOT NULL,
    until      TEXT NOT NULL,
    PRIMARY KEY (queue, message_id)
);
"""

COLUMNS = (
    "seq, queue, session_id, message_id, body, content_type, properties, broker, enqueued_at,"
    " visible_at, expires_at, delivery_count, lock_token, locked_until, state, dl_reason,"
    " dl_description"
)


def saturating_add(moment: datetime, delta: timedelta) -> datetime:
    """`moment + delta`, or the last representable moment (a scheduled time in 9999 plus a
    long time-to-live means "never expires", as in Service Bus)."""
    try:
        return moment + delta
    except OverflowError:
        return datetime.max.replace(tzinfo=moment.tzinfo)


class QueueError(ValueError):
    """A send or settle that Service Bus would refuse; the message says why."""


class UnknownQueue(QueueError):
    pass


class LockLost(QueueError):
    """The message or session lock expired, or another receiver holds it now."""


@dataclass
class NewMessage:
    body: bytes
    message_id: str | None = None
    session_id: str | None = None
    content_type: str | None = None
    application_properties: dict[str, Any] = field(default_factory=dict)
    scheduled_enqueue_time: datetime | None = None
    time_to_live: timedelta | None = None
    label: str | None = None
    correlation_id: str | None = None


@dataclass
class Message:
    sequence_number: int
    queue: str
    session_id: str | None
    message_id: str
    body: bytes
    content_type: str | None
    application_properties: dict[str, Any]
    broker: dict[str, Any]
    enqueued_at: datetime
    visible_at: datetime
    expires_at: datetime
    delivery_count: int
    lock_token: str | None
    locked_until: datetime | None
    state: str
    dead_letter_reason: str | None
    dead_letter_description: str | None

    def to_json(self) -> dict[str, Any]:
        try:
            body: Any = self.body.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            import base64

            body, encoding = base64.b64encode(self.body).decode(), "base64"
        return {
            "sequenceNumber": self.sequence_number,
            "messageId": self.message_id,
            "sessionId": self.session_id,
            "contentType": self.content_type,
            "body": body,
            "bodyEncoding": encoding,
            "applicationProperties": self.application_properties,
            "enqueuedTimeUtc": self.enqueued_at.isoformat(),
            "expiresAtUtc": self.expires_at.isoformat(),
            "deliveryCount": self.delivery_count,
            "deadLetterReason": self.dead_letter_reason,
            "deadLetterErrorDescription": self.dead_letter_description,
        }


@dataclass(frozen=True)
class SessionLease:
    queue: str
    session_id: str
    token: str
    locked_until: datetime


def message_from_row(r: tuple[Any, ...]) -> Message:
    return Message(
        sequence_number=r[0],
        queue=r[1],
        session_id=r[2],
        message_id=r[3],
        body=bytes(r[4]),
        content_type=r[5],
        application_properties=json.loads(r[6]),
        broker=json.loads(r[7]),
        enqueued_at=parse_time(r[8]),
        visible_at=parse_time(r[9]),
        expires_at=parse_time(r[10]),
        delivery_count=r[11],
        lock_token=r[12],
        locked_until=parse_time(r[13]) if r[13] else None,
        state=r[14],
        dead_letter_reason=r[15],
        dead_letter_description=r[16],
    )
