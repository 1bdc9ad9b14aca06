"""The session handler: claim -> read status once -> decide -> act -> record.

Service Bus delivers each message at least once, so every effect here is made idempotent
by request ID:

- the request is *claimed* in the outcome store before anything happens (a conditional
  write with a lease), and a request whose record is already decided is never acted on
  again;
- before an effect the handler writes an *intent* holding the instance's createdTime as it
  was; a redelivered request compares it with the instance it finds, so it can tell its own
  start (a new createdTime and its own input) from someone else's instance;
- a per-instance lease, checked before start_new or terminate, keeps two handlers from
  acting on one ID when a session lock was lost and another receiver took the session.

The decision itself is `policies.decide`, a pure function.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from .clock import Clock, SystemClock
from .contract import (
    ContractValidator,
    ContractViolation,
    StartRequest,
    fingerprint,
)
from .forwarding import acknowledges, forward_payload
from .instances import InstanceClient, InstanceSnapshot
from .messages import (
    RESUBMISSION_PROPERTY,
    TRANSIENT_PROPERTY,
    IncomingMessage,
    OutgoingMessage,
    Sender,
)
from .outcomes import (
    Intent,
    Outcome,
    OutcomeRecord,
    OutcomeStore,
    RecordExists,
    VersionConflict,
)
from .policies import FINISHED_STATUSES, Action, Decision, OnRunning, QueuePosition, decide
from .registry import OrchestratorSpec
from .settings import HandlerSettings
from .unusable_messages import keep_body, lenient_fields, printable

logger = logging.getLogger("starters.handler")

T = TypeVar("T")

_OUTCOME_OF = {
    Action.START: Outcome.STARTED,
    Action.REJECT: Outcome.REJECTED,
    Action.USE_EXISTING: Outcome.USED_EXISTING,
    Action.FORWARD: Outcome.FORWARDED,
    Action.REPLACE: Outcome.REPLACED,
    Action.QUEUE: Outcome.QUEUED,
    Action.EXPIRE: Outcome.EXPIRED,
}


# The intent after the event was raised: a redelivery then waits for the acknowledgement
# instead of raising the event a second time.
FORWARD_RAISED = "forward-raised"
_ACK_POLL_S = 0.1


def _forward_raised_on(intent: Intent | None, status: InstanceSnapshot | None) -> bool:
    return (
        intent is not None
        and intent.action == FORWARD_RAISED
        and status is not None
        and status.created_time == intent.prior_created_time
    )


class TransientFailure(Exception):
    """A dependency kept failing through the retry budget of one delivery."""


class _Busy(Exception):
    """Another handler holds the claim on this request or instance."""


class _StatusChanged(Exception):
    """The instance changed under an action (someone else started it, or it finished)."""

    def __init__(self, status: InstanceSnapshot | None) -> None:
        self.status = status


@dataclass(frozen=True)
class HandlingResult:
    """What one delivery did. `outcome` is None when it decided nothing (see `note`)."""

    request_id: str | None
    instance_id: str | None
    outcome: Outcome | None
    note: str
    reason: str | None = None
    record: OutcomeRecord | None = None


class StartHandler:
    def __init__(
        self,
        validator: ContractValidator,
        store: OutcomeStore,
        sender: Sender,
        *,
        clock: Clock | None = None,
        settings: HandlerSettings | None = None,
        token_factory: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.validator = validator
        self.registry = validator.registry
        self.store = store
        self.sender = sender
        self.clock: Clock = clock or SystemClock()
        self.settings = settings or HandlerSettings()
        self._new_token = token_factory

    # -- entry points -------------------------------------------------------------------

    async def handle(self, message: IncomingMessage, client: InstanceClient) -> HandlingResult:
        """Handle one delivery. Raises only when the host should abandon the message."""
        started = time.perf_counter()
        try:
            request = self.validator.validate_bytes(
                message.body, session_id=message.session_id, admit_keep_alive=True
            )
        except ContractViolation as violation:
            result = await self._record_invalid(message, violation)
        else:
            try:
                result = await asyncio.wait_for(
                    self._handle_valid(request, message, client),
                    self.settings.deadline.total_seconds(),
                )
            except (TransientFailure, _Busy, asyncio.TimeoutError) as failure:
                result = await self._reschedule_after_failure(request, message, failure)
        self._log(message, result, time.perf_counter() - started)
        return result

    async def handle_dead_letter(
        self, message: IncomingMessage, reason: str | None, description: str | None
    ) -> HandlingResult:
        """Record `dead-lettered` for a message that ended in the dead-letter sub-queue."""
        now = self.clock.now()
        fields = lenient_fields(message)
        why = printable(
            "; ".join(p for p in (reason, description) if p) or "dead-lettered by Service Bus"
        )
        try:
            # A valid request keeps its request fingerprint, so a resubmission matches it.
            body_fingerprint = self.validator.validate_bytes(
                message.body, session_id=message.session_id, admit_keep_alive=True
            ).fingerprint
        except Exception:  # whatever the content, the dead-lettered message gets its record
            body_fingerprint = fingerprint(fields.body.text)
        record = OutcomeRecord(
            request_id=fields.request_id,
            instance_id=fields.instance_id,
            orchestrator=fields.orchestrator,
            outcome=Outcome.DEAD_LETTERED,
            received_at=message.enqueued_time or now,
            fingerprint=body_fingerprint,
            reason=why,
            decided_at=now,
            delivery_count=message.delivery_count,
            body=fields.body.text,
            body_encoding=fields.body.encoding,
        )
        result = await self._record_dead_letter(record, message.delivery_count)
        logger.error(
            json.dumps(
                {
                    "event": "start-request-dead-lettered",
                    "requestId": result.request_id,
                    "instanceId": result.instance_id,
                    "reason": why,
                    "deliveryCount": message.delivery_count,
                }
            )
        )
        return result

    async def _record_dead_letter(
        self, record: OutcomeRecord, delivery_count: int
    ) -> HandlingResult:
        """Record `dead-lettered`, unless the request was decided already."""
        for _ in range(5):
            try:
                stored = await self._retry(partial(self.store.insert, record))
            except RecordExists as exists:
                existing = exists.existing
                if existing.outcome.is_final:
                    return HandlingResult(
                        existing.request_id,
                        existing.instance_id,
                        None,
                        "already-decided",
                        f"dead-lettered copy of a request already {existing.outcome.value}",
                        existing,
                    )
                changed = record.evolve(
                    version=existing.version,
                    etag=existing.etag,
                    received_at=existing.received_at,
                    delivery_count=max(existing.delivery_count, delivery_count),
                )
                try:
                    stored = await self._retry(partial(self.store.replace, changed))
                except VersionConflict:
                    continue
            return HandlingResult(
                stored.request_id,
                stored.instance_id,
                Outcome.DEAD_LETTERED,
                "recorded",
                stored.reason,
                stored,
            )
        raise TransientFailure("the outcome record kept changing under the dead-letter handler")

    # -- the valid path -----------------------------------------------------------------

    async def _handle_valid(
        self, request: StartRequest, message: IncomingMessage, client: InstanceClient
    ) -> HandlingResult:
        spec = self.registry.get(request.orchestrator)
        assert spec is not None  # the validator only admits registered orchestrators
        token = self._new_token()
        claimed = await self._claim(request, message, token)
        if isinstance(claimed, HandlingResult):
            return claimed
        record = claimed
        lease = f"instance:{request.instance_id}"
        await self._wait_for(
            lambda: self.store.acquire_lease(
                lease, token, self.clock.now() + self.settings.claim_lease, self.clock.now()
            )
        )
        try:
            return await self._decide_and_act(request, spec, message, record, client)
        finally:
            try:
                await self.store.release_lease(lease, token)
            except Exception:  # the lease expires by itself
                logger.warning("could not release %s", lease, exc_info=True)

    async def _decide_and_act(
        self,
        request: StartRequest,
        spec: OrchestratorSpec,
        message: IncomingMessage,
        record: OutcomeRecord,
        client: InstanceClient,
    ) -> HandlingResult:
        status = await self._retry(lambda: client.get_status(request.instance_id))
        skip_terminate = False
        if record.intent is not None:
            done = self._reconcile(record.intent, status, request)
            if done is not None:
                return await self._finish(
                    record, done, "completed by an earlier delivery", record.existing_status
                )
            skip_terminate = (
                record.intent.action == "replace"
                and status is not None
                and status.created_time == record.intent.prior_created_time
                and status.runtime_status in FINISHED_STATUSES
            )
        policy = request.policy(spec)
        for _ in range(3):
            if skip_terminate:
                decision = Decision(Action.REPLACE, "finishing a replace an earlier delivery began")
            else:
                position = await self._queue_position(request, spec, record, policy.on_running)
                existing = status.runtime_status if status else None
                decision = decide(existing, policy, position)
            try:
                return await self._act(
                    decision, request, spec, message, record, status, client, skip_terminate
                )
            except _StatusChanged as changed:
                status, skip_terminate = changed.status, False
                record = await self._reload(record)
        raise TransientFailure("the instance kept changing while the request was being handled")

    async def _act(
        self,
        decision: Decision,
        request: StartRequest,
        spec: OrchestratorSpec,
        message: IncomingMessage,
        record: OutcomeRecord,
        status: InstanceSnapshot | None,
        client: InstanceClient,
        skip_terminate: bool,
    ) -> HandlingResult:
        action = decision.action
        if action is Action.START:
            record = await self._write_intent(record, "start", status)
            await self._start(request, client, record.intent)
        elif action is Action.REPLACE:
            if not skip_terminate:
                record = await self._write_intent(record, "replace", status)
                await self._terminate_and_wait(request, client)
            await self._start(request, client, record.intent)
        elif action is Action.FORWARD:
            assert spec.event_name is not None  # the registry refuses forward without one
            if not _forward_raised_on(record.intent, status):
                record = await self._write_intent(record, "forward", status)
                await self._forward(request, spec.event_name, client)
                if spec.acknowledges_forwards:
                    record = await self._write_intent(record, FORWARD_RAISED, status)
            if spec.acknowledges_forwards:
                await self._await_acknowledgement(request, client, status)
                decision = Decision(action, f"{decision.reason}; the instance acknowledged it")
        elif action is Action.QUEUE:
            return await self._queue(request, message, record, decision, status)
        if skip_terminate:  # the status before the replace is the one the intent kept
            existing = record.existing_status
        else:
            existing = status.runtime_status.value if status else None
        return await self._finish(record, _OUTCOME_OF[action], decision.reason, existing)

    # -- claims -------------------------------------------------------------------------

    async def _claim(
        self, request: StartRequest, message: IncomingMessage, token: str
    ) -> OutcomeRecord | HandlingResult:
        # Bounded by the handler deadline (asyncio.wait_for around the whole handling).
        while True:
            now = self.clock.now()
            existing = await self._retry(lambda: self.store.get(request.request_id))
            if existing is None:
                fresh = OutcomeRecord(
                    request_id=request.request_id,
                    instance_id=request.instance_id,
                    orchestrator=request.orchestrator,
                    outcome=Outcome.PENDING,
                    received_at=message.enqueued_time or now,
                    fingerprint=request.fingerprint,
                    delivery_count=message.delivery_count,
                    attempt=message.attempt,
                    claim_token=token,
                    claim_until=now + self.settings.claim_lease,
                )
                try:
                    return await self._retry(partial(self.store.insert, fresh))
                except RecordExists:
                    continue
            if existing.fingerprint != request.fingerprint:
                return await self._record_conflict(request, message, existing)
            if existing.outcome is Outcome.DEAD_LETTERED and message.application_properties.get(
                RESUBMISSION_PROPERTY
            ):
                # An operator resubmitted it: decide it again.
                reopened = existing.evolve(
                    outcome=Outcome.PENDING, reason=None, decided_at=None, attempt=message.attempt
                )
                with contextlib.suppress(VersionConflict):
                    await self._retry(partial(self.store.replace, reopened))
                continue
            if existing.outcome.is_final:
                return HandlingResult(
                    request.request_id,
                    request.instance_id,
                    None,
                    "duplicate-delivery",
                    f"already {existing.outcome.value}",
                    existing,
                )
            if message.attempt < existing.attempt:
                return HandlingResult(
                    request.request_id,
                    request.instance_id,
                    None,
                    "stale-copy",
                    f"copy {message.attempt} superseded by copy {existing.attempt}",
                    existing,
                )
            if (
                existing.claim_token not in (None, token)
                and existing.claim_until is not None
                and existing.claim_until > now
            ):
                # Another handler is on it (the session lock moved): wait for it to decide.
                await self.clock.sleep(0.05)
                continue
            claimed = existing.evolve(
                claim_token=token,
                claim_until=now + self.settings.claim_lease,
                delivery_count=max(existing.delivery_count, message.delivery_count),
                attempt=message.attempt,
            )
            try:
                return await self._retry(partial(self.store.replace, claimed))
            except VersionConflict:
                continue

    async def _wait_for(self, acquire: Callable[[], Awaitable[bool]]) -> None:
        # Bounded by the handler deadline (asyncio.wait_for around the whole handling).
        while not await self._retry(acquire):
            await self.clock.sleep(0.05)

    async def _reload(self, record: OutcomeRecord) -> OutcomeRecord:
        current = await self._retry(lambda: self.store.get(record.request_id))
        if current is None or current.claim_token != record.claim_token:
            raise _Busy(f"lost the claim on request {record.request_id}")
        return current

    async def _write_intent(
        self, record: OutcomeRecord, action: str, status: InstanceSnapshot | None
    ) -> OutcomeRecord:
        changed = record.evolve(
            intent=Intent(action, status.created_time if status else None),
            existing_status=status.runtime_status.value if status else None,
        )
        try:
            return await self._retry(lambda: self.store.replace(changed))
        except VersionConflict:
            raise _Busy(f"lost the claim on request {record.request_id}") from None

    # -- effects ------------------------------------------------------------------------

    def _reconcile(
        self, intent: Intent, status: InstanceSnapshot | None, request: StartRequest
    ) -> Outcome | None:
        """The outcome an earlier delivery already achieved, if its effect is visible."""
        if status is None:
            return None
        if intent.action in ("start", "replace") and self._is_own_start(status, request, intent):
            return Outcome.REPLACED if intent.action == "replace" else Outcome.STARTED
        if intent.action in ("forward", FORWARD_RAISED) and acknowledges(
            status.custom_status, request.request_id
        ):
            return Outcome.FORWARDED
        return None

    @staticmethod
    def _is_own_start(
        status: InstanceSnapshot, request: StartRequest, intent: Intent | None
    ) -> bool:
        prior = intent.prior_created_time if intent else None
        return (
            status.created_time != prior and fingerprint(status.input) == request.input_fingerprint
        )

    async def _start(
        self, request: StartRequest, client: InstanceClient, intent: Intent | None
    ) -> None:
        for attempt in range(self.settings.retry_attempts + 1):
            try:
                await client.start_new(request.orchestrator, request.instance_id, request.input)
                return
            except Exception as error:
                # Never parse the error text: read the status again and see what is there.
                fresh = await self._retry(lambda: client.get_status(request.instance_id))
                prior = intent.prior_created_time if intent else None
                if fresh is not None and fresh.created_time != prior:
                    if self._is_own_start(fresh, request, intent):
                        return
                    raise _StatusChanged(fresh) from error
                if attempt == self.settings.retry_attempts:
                    raise TransientFailure(f"start_new kept failing: {error}") from error
                await self._backoff(attempt)

    async def _terminate_and_wait(self, request: StartRequest, client: InstanceClient) -> None:
        reason = f"replaced by start request {request.request_id}"
        await self._retry(lambda: client.terminate(request.instance_id, reason))
        waited = 0.0
        limit = self.settings.replace_wait.total_seconds()
        while True:
            status = await self._retry(lambda: client.get_status(request.instance_id))
            if status is None or status.runtime_status in FINISHED_STATUSES:
                return
            if waited >= limit:
                raise TransientFailure(
                    f"instance {request.instance_id} did not stop within {limit:g} s of terminate"
                )
            await self.clock.sleep(0.1)
            waited += 0.1

    async def _forward(
        self, request: StartRequest, event_name: str, client: InstanceClient
    ) -> None:
        payload = forward_payload(request.request_id, request.input)
        for attempt in range(self.settings.retry_attempts + 1):
            try:
                await client.raise_event(request.instance_id, event_name, payload)
                return
            except Exception as error:
                fresh = await self._retry(lambda: client.get_status(request.instance_id))
                if fresh is None or fresh.runtime_status in FINISHED_STATUSES:
                    raise _StatusChanged(fresh) from error
                if attempt == self.settings.retry_attempts:
                    raise TransientFailure(f"raise_event kept failing: {error}") from error
                await self._backoff(attempt)

    async def _await_acknowledgement(
        self, request: StartRequest, client: InstanceClient, target: InstanceSnapshot | None
    ) -> None:
        """Wait until the instance the event was raised on lists the request as read.

        An instance that finished (or was replaced) without reading it never will: the
        request is decided again on what is there now, so its input is not lost.
        """
        created = target.created_time if target else None
        limit = self.settings.forward_ack_wait.total_seconds()
        waited = 0.0
        while True:
            fresh = await self._retry(lambda: client.get_status(request.instance_id))
            if fresh is not None and acknowledges(fresh.custom_status, request.request_id):
                return
            if (
                fresh is None
                or fresh.created_time != created
                or fresh.runtime_status in FINISHED_STATUSES
            ):
                raise _StatusChanged(fresh)
            if waited >= limit:
                raise TransientFailure(
                    f"instance {request.instance_id} has not acknowledged forwarded request "
                    f"{request.request_id} within {limit:g} s"
                )
            await self.clock.sleep(_ACK_POLL_S)
            waited += _ACK_POLL_S

    async def _queue_position(
        self,
        request: StartRequest,
        spec: OrchestratorSpec,
        record: OutcomeRecord,
        on_running: OnRunning,
    ) -> QueuePosition:
        if on_running is not OnRunning.QUEUE:
            return QueuePosition()
        now = self.clock.now()
        expired = record.outcome is Outcome.QUEUED and now - record.received_at > spec.queue_ttl
        queued = await self._retry(lambda: self.store.queued_for(request.instance_id))
        mine = (record.received_at, record.request_id)
        ahead = sum(
            1
            for other in queued
            if other.request_id != record.request_id
            and (other.received_at, other.request_id) < mine
            and now - other.received_at <= spec.queue_ttl
        )
        return QueuePosition(ahead=ahead, expired=expired)

    async def _queue(
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
        await self._retry(lambda: self.sender.send([copy]))
        queued = record.evolve(
            outcome=Outcome.QUEUED,
            reason=decision.reason,
            existing_status=status.runtime_status.value if status else None,
            attempt=attempt,
            claim_token=None,
            claim_until=None,
            intent=None,
        )
        stored = await self._store_decision(queued)
        return HandlingResult(
            request.request_id,
            request.instance_id,
            Outcome.QUEUED,
            "queued",
            decision.reason,
            stored,
        )

    async def _finish(
        self,
        record: OutcomeRecord,
        outcome: Outcome,
        reason: str,
        existing_status: str | None,
    ) -> HandlingResult:
        decided = record.evolve(
            outcome=outcome,
            reason=reason,
            existing_status=existing_status,
            decided_at=self.clock.now(),
            claim_token=None,
            claim_until=None,
            intent=None,
        )
        stored = await self._store_decision(decided)
        return HandlingResult(
            record.request_id, record.instance_id, stored.outcome, "decided", stored.reason, stored
        )

    async def _store_decision(self, record: OutcomeRecord) -> OutcomeRecord:
        try:
            return await self._retry(lambda: self.store.replace(record))
        except VersionConflict:
            # Someone else changed the record after our claim ran out. Their word stands.
            current = await self._retry(lambda: self.store.get(record.request_id))
            if current is not None and current.outcome.is_final:
                logger.warning(
                    "request %s was decided by another handler as %s",
                    record.request_id,
                    current.outcome.value,
                )
                return current
            raise _Busy(f"lost the claim on request {record.request_id}") from None

    # -- failures -----------------------------------------------------------------------

    async def _reschedule_after_failure(
        self, request: StartRequest, message: IncomingMessage, failure: BaseException
    ) -> HandlingResult:
        """Re-schedule a copy instead of failing the delivery.

        Functions retry policies do not apply to Service Bus triggers, and an abandoned
        message comes back at once: a short outage would burn the delivery count.
        """
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
        await self._retry(lambda: self.sender.send([copy]))
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
            "rescheduled",
            f"{reason}; copy {attempt} scheduled in {delay.total_seconds():g} s",
        )

    async def _retry(self, operation: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(self.settings.retry_attempts + 1):
            try:
                return await operation()
            except (RecordExists, VersionConflict, _Busy, _StatusChanged):
                raise
            except Exception as error:
                if attempt == self.settings.retry_attempts:
                    raise TransientFailure(str(error) or type(error).__name__) from error
                await self._backoff(attempt)
        raise AssertionError("unreachable")

    async def _backoff(self, attempt: int) -> None:
        await self.clock.sleep(self.settings.retry_base.total_seconds() * (2**attempt))

    # -- invalid requests ---------------------------------------------------------------

    async def _record_invalid(
        self, message: IncomingMessage, violation: ContractViolation
    ) -> HandlingResult:
        now = self.clock.now()
        fields = lenient_fields(message)
        record = OutcomeRecord(
            request_id=fields.request_id,
            instance_id=fields.instance_id,
            orchestrator=fields.orchestrator,
            outcome=Outcome.INVALID,
            received_at=message.enqueued_time or now,
            fingerprint=fingerprint(fields.body.text),
            reason=printable(str(violation)),
            decided_at=now,
            delivery_count=message.delivery_count,
            body=fields.body.text,
            body_encoding=fields.body.encoding,
        )
        stored = await self._insert_decided(record)
        logger.error(
            json.dumps(
                {
                    "event": "start-request-invalid",
                    "requestId": stored.request_id,
                    "instanceId": stored.instance_id,
                    "messageId": message.message_id,
                    "reason": stored.reason,
                }
            )
        )
        return HandlingResult(
            stored.request_id, stored.instance_id, stored.outcome, "invalid", stored.reason, stored
        )

    async def _record_conflict(
        self, request: StartRequest, message: IncomingMessage, existing: OutcomeRecord
    ) -> HandlingResult:
        now = self.clock.now()
        body = keep_body(message.body)
        record = OutcomeRecord(
            request_id=request.request_id,
            instance_id=request.instance_id,
            orchestrator=request.orchestrator,
            outcome=Outcome.INVALID,
            received_at=message.enqueued_time or now,
            fingerprint=request.fingerprint,
            reason=(
                f"request ID {request.request_id} was already used for another request "
                f"(instance {existing.instance_id}); this one was not acted on"
            ),
            decided_at=now,
            delivery_count=message.delivery_count,
            body=body.text,
            body_encoding=body.encoding,
        )
        stored = await self._insert_decided(record)
        return HandlingResult(
            stored.request_id, stored.instance_id, Outcome.INVALID, "invalid", stored.reason, stored
        )

    async def _insert_decided(self, record: OutcomeRecord) -> OutcomeRecord:
        """Insert a decided record; never overwrite another request's decision.

        A `pending` record under the same ID (written by the HTTP path) takes the decision;
        a decided one keeps its own, and this record goes under `{requestId}:{fingerprint}`
        (`:` cannot occur in a request ID, so the key cannot collide).
        """
        try:
            return await self._retry(lambda: self.store.insert(record))
        except RecordExists as exists:
            existing = exists.existing
            if existing.fingerprint == record.fingerprint and existing.outcome.is_final:
                return existing  # a redelivery of the same message: already recorded
            if not existing.outcome.is_final and existing.fingerprint == record.fingerprint:
                changed = record.evolve(version=existing.version, received_at=existing.received_at)
                try:
                    return await self._retry(lambda: self.store.replace(changed))
                except VersionConflict:
                    pass
            aside = record.evolve(request_id=f"{record.request_id}:{record.fingerprint[:12]}")
            try:
                return await self._retry(lambda: self.store.insert(aside))
            except RecordExists as again:
                return again.existing

    def _log(self, message: IncomingMessage, result: HandlingResult, elapsed: float) -> None:
        logger.info(
            json.dumps(
                {
                    "event": "start-request",
                    "instanceId": result.instance_id,
                    "requestId": result.request_id,
                    "decision": result.outcome.value if result.outcome else result.note,
                    "reason": result.reason,
                    "deliveryCount": message.delivery_count,
                    "attempt": message.attempt,
                    "ms": round(elapsed * 1000, 1),
                }
            )
        )


def _int_property(message: IncomingMessage, name: str) -> int:
    try:
        return max(0, int(message.application_properties.get(name, 0)))
    except (TypeError, ValueError):
        return 0
