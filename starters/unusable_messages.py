"""Messages that cannot be acted on (invalid or dead-lettered): what their record holds.

Every message the broker accepted ends in a record, whatever its content. So nothing here
may fail on a body: a body that is not UTF-8 text is kept as base64, a body the strict
reader refuses still yields a record ID, and identifying fields that are not valid are
replaced by ones derived from the message, never by an exception.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from .contract import fingerprint, is_instance_id, is_request_id
from .messages import IncomingMessage
from .strict_json import JsonRefused, read_json

BASE64 = "base64"
MESSAGE_RECORD_PREFIX = "msg-"


@dataclass(frozen=True)
class KeptBody:
    """A message body as a record keeps it: the text, or base64 when it is not UTF-8."""

    text: str
    encoding: str | None = None  # None: the body itself; "base64": its bytes, encoded


def keep_body(raw: bytes) -> KeptBody:
    try:
        return KeptBody(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return KeptBody(base64.b64encode(raw).decode("ascii"), BASE64)


def record_id_for_message(message_id: str) -> str:
    """The request ID a message without a usable one is recorded under.

    Its MessageId (without a copy's `:attempt` suffix) when that is a valid request ID,
    otherwise `msg-` and 32 hex digits of the MessageId's fingerprint (the SHA-256 of it as
    JSON text): deterministic, so a
    redelivery lands on the same record instead of piling up new ones.
    """
    base = message_id.split(":")[0]
    if is_request_id(base):
        return base
    return MESSAGE_RECORD_PREFIX + fingerprint(printable(message_id))[:32]


def printable(value: str) -> str:
    """`value` with anything that cannot be encoded as UTF-8 escaped, so stores take it."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True)
class LenientFields:
    """Whatever identifying fields an unusable message still carries."""

    request_id: str
    instance_id: str
    orchestrator: str
    body: KeptBody


def lenient_fields(message: IncomingMessage) -> LenientFields:
    try:
        document: Any = read_json(message.body)
    except JsonRefused:
        document = None
    body = document if isinstance(document, dict) else {}
    request_id = body.get("requestId")
    if not is_request_id(request_id):
        request_id = record_id_for_message(message.message_id)
    instance_id = body.get("instanceId")
    if not is_instance_id(instance_id):
        instance_id = printable(message.session_id or "")
    orchestrator = body.get("orchestrator")
    return LenientFields(
        request_id=str(request_id),
        instance_id=str(instance_id),
        orchestrator=orchestrator if isinstance(orchestrator, str) else "",
        body=keep_body(message.body),
    )
