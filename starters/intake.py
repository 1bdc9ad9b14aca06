"""The one way a start request enters the queue from this app: record it `pending`, send it,
roll the record back if the send failed.

The HTTP API, the events API and the keep-alive timer all take this path, so a request that
is answered 202 has both its record and its message, and one that is answered 503 (or a
timer tick that failed) leaves nothing behind that would block the producer's retry.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from .clock import Clock
from .contract import StartRequest
from .messages import OutgoingMessage
from .outcomes import Outcome, OutcomeRecord, RecordExists, pending_record
from .ports import OutcomeStore, QueueSender
from .stores.round_trips import phase

logger = logging.getLogger("starters.intake")


@dataclass(frozen=True)
class Reservation:
    """A request's record: the `pending` one just written, or the one its ID already had."""

    request: StartRequest
    record: OutcomeRecord
    created: bool

    @property
    def needs_send(self) -> bool:
        """A retried request re-sends while it is pending: duplicate detection drops the
        copy if the first send got through, and it heals a send that did not."""
        return self.created or self.record.outcome is Outcome.PENDING


class QueueUnavailable(Exception):
    """The queue refused or could not take the requests; their new records were removed."""

    def __init__(self, cause: BaseException) -> None:
        self.cause = cause
        super().__init__(f"the queue could not take the request(s) ({type(cause).__name__})")


class Intake:
    def __init__(self, store: OutcomeStore, sender: QueueSender, clock: Clock) -> None:
        self.store = store
        self.sender = sender
        self.clock = clock

    async def reserve(self, request: StartRequest) -> Reservation:
        """Record the request `pending`, or find the record its request ID already has."""
        try:
            with phase("intake"):
                stored = await self.store.insert(pending_record(request, self.clock.now()))
        except RecordExists as exists:
            return Reservation(request, exists.existing, created=False)
        return Reservation(request, stored, created=True)

    async def enqueue(self, reservations: Sequence[Reservation]) -> None:
        """Send the requests in one call; on failure remove the records this call created
        and raise QueueUnavailable."""
        if not reservations:
            return
        try:
            await self.sender.send(
                [
                    OutgoingMessage.for_request(r.request, recorded_at=r.record.received_at)
                    for r in reservations
                ]
            )
        except Exception as error:
            logger.exception(
                "enqueueing %s failed", ", ".join(r.request.request_id for r in reservations)
            )
            for reservation in reservations:
                if reservation.created:
                    await self._roll_back(reservation.record)
            raise QueueUnavailable(error) from error

    async def _roll_back(self, record: OutcomeRecord) -> None:
        try:
            await self.store.delete(record)
        except Exception:
            # The record stays `pending` with no message: the producer's retry (the same
            # request ID) finds it pending and sends again.
            logger.warning("could not remove the record of %s", record.request_id, exc_info=True)
