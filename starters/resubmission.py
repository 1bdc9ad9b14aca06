"""Resubmitting a dead-lettered request from its record, which keeps the body.

The record is reopened (`pending`, its send attempt raised by one, "resubmitted" in its
attempts) and the body goes back on the start queue under the request's own ID, as the
copy `{requestId}:{attempt}` carrying the `resubmission` property, so the handler decides
it again under its policy. Whether the message is still on the dead-letter queue does not
matter: nothing is read from there.

Safe to repeat: while the record is `pending` from a resubmission, a repeat sends the same
copy again (duplicate detection, or the handler's claim, drops the second one) and changes
nothing else; once the handler has decided it, a repeat is refused as not dead-lettered.
A send that fails puts the record back as it was.
"""

from __future__ import annotations

import base64
import logging

from .clock import Clock
from .contract import message_id_for
from .messages import ATTEMPT_PROPERTY, RESUBMISSION_PROPERTY, OutgoingMessage
from .outcomes import Outcome, OutcomeRecord, VersionConflict
from .ports import OutcomeStore, QueueSender
from .unusable_messages import BASE64

logger = logging.getLogger("starters.resubmission")

RESUBMITTED = "resubmitted"
_ATTEMPTS = 3


class NotResubmittable(Exception):
    def __init__(self, record: OutcomeRecord, why: str) -> None:
        self.record = record
        super().__init__(why)


class ResubmitFailed(Exception):
    """The queue did not take the copy; the record is back as it was (or, if even that
    failed, pending from the resubmission, which a repeat sends again)."""


def resubmitting(record: OutcomeRecord) -> bool:
    """Reopened by a resubmission that the handler has not decided yet."""
    return (
        record.outcome is Outcome.PENDING
        and bool(record.attempts)
        and record.attempts[-1].what == RESUBMITTED
    )


def resubmission_message(record: OutcomeRecord) -> OutgoingMessage:
    assert record.body is not None
    body = (
        base64.b64decode(record.body)
        if record.body_encoding == BASE64
        else record.body.encode("utf-8")
    )
    return OutgoingMessage(
        body=body,
        session_id=record.instance_id,
        message_id=message_id_for(record.request_id, record.attempt),
        application_properties={
            ATTEMPT_PROPERTY: record.attempt,
            RESUBMISSION_PROPERTY: record.attempt,
        },
    )


def _refusal(record: OutcomeRecord) -> str | None:
    if record.outcome is not Outcome.DEAD_LETTERED:
        return f"request {record.request_id} is {record.outcome.value}, not dead-lettered"
    if record.body is None:
        return f"request {record.request_id} kept no body to resubmit"
    if not record.instance_id:
        return f"request {record.request_id} has no instance ID to resubmit into"
    return None


async def resubmit(
    store: OutcomeStore, sender: QueueSender, clock: Clock, request_id: str
) -> OutcomeRecord | None:
    """Reopen and resend the dead-lettered request; its record (None: unknown ID).
    NotResubmittable when it is not dead-lettered (or cannot be sent again)."""
    for _ in range(_ATTEMPTS):
        record = await store.get(request_id)
        if record is None:
            return None
        if resubmitting(record):
            await _send(sender, record)
            return record
        why = _refusal(record)
        if why is not None:
            raise NotResubmittable(record, why)
        reopened = record.evolve(
            outcome=Outcome.PENDING,
            reason=None,
            decided_at=None,
            attempt=record.attempt + 1,
            claim_token=None,
            claim_until=None,
            attempts=record.noting(clock.now(), RESUBMITTED),
        )
        try:
            stored = await store.replace(reopened)
        except VersionConflict:
            continue
        try:
            await _send(sender, stored)
        except ResubmitFailed:
            try:
                await store.replace(
                    record.evolve(
                        version=stored.version, etag=stored.etag, stored_in=stored.stored_in
                    )
                )
            except Exception:
                logger.warning("could not put %s back as dead-lettered", request_id, exc_info=True)
            raise
        return stored
    raise VersionConflict(request_id)


async def _send(sender: QueueSender, record: OutcomeRecord) -> None:
    try:
        await sender.send([resubmission_message(record)])
    except Exception as error:
        logger.exception("resubmitting %s failed", record.request_id)
        raise ResubmitFailed(
            f"the queue could not take the copy ({type(error).__name__})"
        ) from error
