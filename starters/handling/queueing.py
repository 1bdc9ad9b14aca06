"""Queueing and rescheduling: copies of a request scheduled on the session queue.

A `queue` decision waits its turn as a scheduled copy of itself. Only the head of an
instance's backlog (its oldest live queued request) checks often, every `queue_wakeup`:
one scheduled copy per running ID, whatever the backlog's length. The others wait with a
doubling backoff (capped, and never past their `queue_ttl`), as a backstop: when the head
starts (or expires) it hands its turn on by scheduling the next request's copy at once,
from the message that request's record keeps, and a request behind a head whose check is
long overdue (a lost copy) re-arms it the same way. A
delivery that hit a transient failure re-schedules a copy instead of failing, because
Functions retry policies do not apply to Service Bus triggers and an abandoned message
comes back at once (a short outage would burn the delivery count).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ..clock import Clock
from ..contract import StartRequest, message_id_for
from ..functions.settings import HandlerSettings
from ..instances import InstanceSnapshot
from ..messages import (
    ATTEMPT_PROPERTY,
    REASON_PROPERTY,
    TRANSIENT_PROPERTY,
    IncomingMessage,
    OutgoingMessage,
)
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
        before = [
            other
            for other in queued
            if other.request_id != record.request_id
            and (other.received_at, other.request_id) < mine
            and now - other.received_at <= spec.queue_ttl
        ]
        if before:
            await self._rearm_if_overdue(before[0], now)
        return QueuePosition(ahead=len(before), expired=expired)

    async def _rearm_if_overdue(self, head: OutcomeRecord, now: datetime) -> None:
        """The head's check is long overdue (its copy was lost): schedule another."""
        overdue = head.wake_at is not None and now > head.wake_at + self.settings.queue_backoff_max
        if overdue:
            await self._wake(head, now)

    async def hand_off(self, instance_id: str, after: str, spec: OrchestratorSpec) -> None:
        """`after` left the backlog (started or expired): wake the next one at once, so it
        starts within one `queue_wakeup` of the instance finishing."""
        now = self.clock.now()
        try:
            queued = await self.retry(lambda: self.store.queued_for(instance_id))
            live = [
                r for r in queued if r.request_id != after and now - r.received_at <= spec.queue_ttl
            ]
            if live:
                await self._wake(live[0], now)
        except Exception:  # the next one's own backstop copy still comes
            logger.warning("could not hand the turn on for %s", instance_id, exc_info=True)

    async def _wake(self, record: OutcomeRecord, now: datetime) -> None:
        if record.body is None:  # queued by an earlier version, without its message
            return
        attempt = record.attempt + 1
        # The same message ID for the same attempt: Service Bus drops a second hand-off.
        copy = OutgoingMessage(
            body=record.body.encode("utf-8"),
            session_id=record.instance_id,
            message_id=message_id_for(record.request_id, attempt),
            application_properties={ATTEMPT_PROPERTY: attempt, REASON_PROPERTY: "queued"},
            scheduled_enqueue_time=now + self.settings.queue_wakeup,
        )
        await self.retry(lambda: self.sender.send([copy]))

    async def queue(
        self,
        request: StartRequest,
        message: IncomingMessage,
        record: OutcomeRecord,
        decision: Decision,
        status: InstanceSnapshot | None,
        position: QueuePosition | None = None,
        queue_ttl: timedelta | None = None,
    ) -> HandlingResult:
        attempt = max(message.attempt, record.attempt) + 1
        now = self.clock.now()
        if position is not None and position.ahead == 0:
            delay = self.settings.queue_wakeup  # the head: the one frequent check
        else:
            delay = min(
                self.settings.queue_backoff_base * (2 ** min(attempt - 1, 16)),
                self.settings.queue_backoff_max,
            )
            if queue_ttl is not None:  # checked again when it expires, not much later
                until_expiry = record.received_at + queue_ttl - now
                delay = max(self.settings.queue_wakeup, min(delay, until_expiry))
        copy = OutgoingMessage.for_request(
            request,
            attempt=attempt,
            scheduled_enqueue_time=now + delay,
            reason="queued",
        )
        await self.retry(lambda: self.sender.send([copy]))
        stored = await self.claims.store_decision(
            record,
            outcome=Outcome.QUEUED,
            reason=decision.reason,
            existing_status=status.runtime_status.value if status else None,
            attempt=attempt,
            wake_at=now + delay,
            # Kept so that the request ahead can hand its turn on (valid bodies are JSON).
            body=message.body.decode("utf-8"),
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
            released = current.evolve(
                attempt=attempt,
                claim_token=None,
                claim_until=None,
                attempts=current.noting(self.clock.now(), f"rescheduled: {reason}"),
            )
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
