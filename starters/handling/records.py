"""One factory for the records of requests that are not acted on, and one way to store them.

`invalid` (the message breaks the contract, or its request ID was used for another
request) and `dead-lettered` (Service Bus gave up on it) records are decided at once and
keep the body, so nothing a producer sent is lost. The session handler and the events
API both build them here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from ..contract import StartRequest, fingerprint
from ..messages import IncomingMessage
from ..outcomes import Outcome, OutcomeRecord, RecordExists, VersionConflict
from ..ports import OutcomeStore
from ..unusable_messages import KeptBody, keep_body, lenient_fields, printable

T = TypeVar("T")
Call = Callable[[Callable[[], Awaitable[T]]], Awaitable[T]]


def refusal_record(
    outcome: Outcome,
    *,
    request_id: str,
    body: KeptBody,
    reason: str,
    now: datetime,
    instance_id: str = "",
    orchestrator: str = "",
    body_fingerprint: str | None = None,
    received_at: datetime | None = None,
    delivery_count: int = 0,
) -> OutcomeRecord:
    """A decided `invalid` or `dead-lettered` record that keeps the body it refused."""
    return OutcomeRecord(
        request_id=request_id,
        instance_id=instance_id,
        orchestrator=orchestrator,
        outcome=outcome,
        received_at=received_at or now,
        fingerprint=body_fingerprint if body_fingerprint is not None else fingerprint(body.text),
        reason=printable(reason),
        decided_at=now,
        delivery_count=delivery_count,
        body=body.text,
        body_encoding=body.encoding,
    )


def message_record(
    outcome: Outcome,
    message: IncomingMessage,
    reason: str,
    now: datetime,
    body_fingerprint: str | None = None,
) -> OutcomeRecord:
    """The record of a start-queue message, under whatever identifying fields it carries."""
    fields = lenient_fields(message)
    return refusal_record(
        outcome,
        request_id=fields.request_id,
        instance_id=fields.instance_id,
        orchestrator=fields.orchestrator,
        body=fields.body,
        reason=reason,
        now=now,
        body_fingerprint=body_fingerprint,
        received_at=message.enqueued_time,
        delivery_count=message.delivery_count,
    )


def conflict_record(
    request: StartRequest, message: IncomingMessage, existing: OutcomeRecord, now: datetime
) -> OutcomeRecord:
    """`invalid` for a request whose request ID another request already holds."""
    return refusal_record(
        Outcome.INVALID,
        request_id=request.request_id,
        instance_id=request.instance_id,
        orchestrator=request.orchestrator,
        body=keep_body(message.body),
        reason=(
            f"request ID {request.request_id} was already used for another request "
            f"(instance {existing.instance_id}); this one was not acted on"
        ),
        now=now,
        body_fingerprint=request.fingerprint,
        received_at=message.enqueued_time,
        delivery_count=message.delivery_count,
    )


async def _once(operation: Callable[[], Awaitable[T]]) -> T:
    return await operation()


async def insert_decided(
    store: OutcomeStore, record: OutcomeRecord, call: Call[OutcomeRecord] = _once
) -> OutcomeRecord:
    """Insert a decided record; never overwrite another request's decision.

    A `pending` record under the same ID (written by the HTTP path) takes the decision;
    a decided one keeps its own, and this record goes under `{requestId}:{fingerprint}`
    (`:` cannot occur in a request ID, so the key cannot collide). `call` wraps each store
    call (the handler's retry).
    """
    try:
        return await call(lambda: store.insert(record))
    except RecordExists as exists:
        existing = exists.existing
        if existing.fingerprint == record.fingerprint and existing.outcome.is_final:
            return existing  # a redelivery of the same message: already recorded
        if not existing.outcome.is_final and existing.fingerprint == record.fingerprint:
            changed = record.evolve(version=existing.version, received_at=existing.received_at)
            try:
                return await call(lambda: store.replace(changed))
            except VersionConflict:
                pass
        aside = record.evolve(request_id=f"{record.request_id}:{record.fingerprint[:12]}")
        try:
            return await call(lambda: store.insert(aside))
        except RecordExists as again:
            return again.existing
