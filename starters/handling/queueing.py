"""Queueing and rescheduling: copies of a request scheduled on the session queue.

A `queue` decision waits its turn as a scheduled copy of itself with a growing backoff; a
delivery that hit a transient failure re-schedules a copy instead of failing, because
Functions retry policies do not apply to Service Bus triggers and an abandoned message
comes back at once (a short outage would burn the delivery count).
"""

from __future__ import annotations

import logging

from ..clock import Clock
from ..contract import StartRequest
from ..functions.settings import HandlerSettings
from ..instances import InstanceSnapshot
from ..messages import TRANSIENT_PROPERTY, IncomingMessage, OutgoingMessage
from ..outcomes import Outcome, OutcomeRecord
from ..policies import Decision, OnRunning, QueuePosition
from ..ports import OutcomeStore, QueueSender
from ..registry import OrchestratorSpec
from .claims import Claims
from .results import HandlingResult, Note
from .retry import Retry, TransientFailure

logger = logging.getLogger("starters.handler")


def _int_property(message: IncomingMessage, name: str) -> int:
    try:
        return max(0, int(message.application_properties.get(name, 0)))
    except (TypeError, ValueError):
        return 0


class Queueing:
    def __init__(
        self,
        store: OutcomeStore,
        sender: QueueSender,
        claims: Claims,
        retry: Retry,
        clock: Clock,
        settings: HandlerSettings,
    ) -> None:
        self.store = store
        self.sender = sender
        self.claims = claims
        self.retry = retry
        self.clock = clock
        self.settings = settings

    async def position(
        self,
        request: StartRequest,
        spec: OrchestratorSpec,
        record: OutcomeRecord,
        on_running: OnRunning,
    ) -> QueuePosition:
        """How many live queued requests for the instance are ahead of this one."""
        if on_running is not OnRunning.QUEUE:
            return QueuePosition()
        now = self.clock.now()
        expired = record.outcome is Outcome.QUEUED and now - record.received_at > spec.queue_ttl
        queued = await self.retry(lambda: self.store.queued_for(request.instance_id))
        mine = (record.received_at, record.request_id)
        ahead = sum(
            1
            for other in queued
            if other.request_id != record.request_id
            and (other.received_at, other.request_id) < mine
            and now - other.received_at <= spec.queue_ttl
        )
        return QueuePosition(ahead=ahead, expired=expired)

    async def queue(
        self,
        request: StartRequest,
        message: IncomingMessage,
        record: OutcomeRecord,
        decision: Decision,
        status: InstanceSnapshot | None,
    ) -> HandlingResult:
        attempt = max(message.attempt, record.attempt) + 1
        delay = min(
            self.settings.queue_backoff_base * (2 ** min(attempt - 1, 16)),
            self.settings.queue_backoff_max,
        )
        copy = OutgoingMessage.for_request(
            request,
            attempt=attempt,
            scheduled_enqueue_time=self.clock.now() + delay,
            reason="queued",
        )
        await self.retry(lambda: self.sender.send([copy]))
        stored = await self.claims.store_decision(
            record,
            outcome=Outcome.QUEUED,
            reason=decision.reason,
            existing_status=status.runtime_status.value if status else None,
            attempt=attempt,
        )
        return HandlingResult(
            request.request_id,
            request.instance_id,
            Outcome.QUEUED,
            Note.QUEUED,
            decision.reason,
            stored,
        )

    async def reschedule_after_failure(
        self, request: StartRequest, message: IncomingMessage, failure: BaseException
    ) -> HandlingResult:
        """Re-schedule a copy instead of failing the delivery (up to `max_reschedules`)."""
        failures = _int_property(message, TRANSIENT_PROPERTY) + 1
        reason = f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
        if failures > self.settings.max_reschedules:
            logger.error(
                "request %s failed %d times in a row; handing it back to Service Bus (%s)",
                request.request_id,
                failures,
                reason,
            )
            raise TransientFailure(reason) from failure
        current = None
        try:
            current = await self.store.get(request.request_id)
        except Exception:
            logger.warning("outcome store unreachable while re-scheduling", exc_info=True)
        attempt = max(message.attempt, current.attempt if current else 0) + 1
        delay = self.settings.reschedule_backoff_base * failures
        copy = OutgoingMessage.for_request(
            request,
            attempt=attempt,
            scheduled_enqueue_time=self.clock.now() + delay,
            reason="transient-failure",
            transient_failures=failures,
        )
        await self.retry(lambda: self.sender.send([copy]))
        if current is not None and not current.outcome.is_final:
            # Free the claim so the copy can take it at once; supersede older copies.
            released = current.evolve(attempt=attempt, claim_token=None, claim_until=None)
            try:
                await self.store.replace(released)
            except Exception:
                logger.warning(
                    "could not release the claim on %s", request.request_id, exc_info=True
                )
        return HandlingResult(
            request.request_id,
            request.instance_id,
            None,
            Note.RESCHEDULED,
            f"{reason}; copy {attempt} scheduled in {delay.total_seconds():g} s",
        )
