"""The session handler: claim -> read status once -> decide -> act -> record.

Service Bus delivers each message at least once, so every effect is made idempotent by
request ID: claims and fences in claims.py, the effects and how a redelivery recognises
its own in effects.py, queueing and re-scheduling in queueing.py, the records of requests
not acted on in records.py, and retries of declared transient errors in retry.py. The
decision itself is `policies.decide`, a pure function.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from ..clock import Clock, SystemClock
from ..contract import ContractViolation, StartRequest
from ..functions.settings import HandlerSettings
from ..instances import DurableInstanceClient, InstanceSnapshot
from ..messages import IncomingMessage
from ..outcomes import (
    Fence,
    IntentAction,
    Outcome,
    OutcomeRecord,
    RecordExists,
    VersionConflict,
)
from ..policies import FINISHED_STATUSES, Action, Decision, OnRunning, QueuePosition, decide
from ..ports import InstanceClient, OutcomeStore, QueueSender
from ..registry import OrchestratorSpec
from ..stores.round_trips import phase
from ..unusable_messages import printable
from ..validation import ContractValidator
from .claims import Busy, Claims, Conflict
from .effects import Effects, StatusChanged, forward_raised_on, reconcile
from .fresh import HeldFence, fresh_claim, one_round_trip_applies
from .queueing import Queueing
from .records import conflict_record, insert_decided, message_record
from .results import HandlingResult, Note
from .retry import Retry, TransientFailure, declared_transient_errors

logger = logging.getLogger("starters.handler")

# The intent after the event was raised (kept under its former name for callers).
FORWARD_RAISED = IntentAction.FORWARD_RAISED

_OUTCOME_OF = {
    Action.START: Outcome.STARTED,
    Action.REJECT: Outcome.REJECTED,
    Action.USE_EXISTING: Outcome.USED_EXISTING,
    Action.FORWARD: Outcome.FORWARDED,
    Action.REPLACE: Outcome.REPLACED,
    Action.QUEUE: Outcome.QUEUED,
    Action.EXPIRE: Outcome.EXPIRED,
}
_DECISION_ATTEMPTS = 3
_DEAD_LETTER_ATTEMPTS = 5


@dataclass(frozen=True)
class _Claimed:
    """One delivery's hold on its request: the claimed record and the claim's token."""

    request: StartRequest
    spec: OrchestratorSpec
    message: IncomingMessage
    client: InstanceClient


class StartHandler:
    def __init__(
        self,
        validator: ContractValidator,
        store: OutcomeStore,
        sender: QueueSender,
        *,
        clock: Clock | None = None,
        settings: HandlerSettings | None = None,
        token_factory: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.validator = validator
        self.registry = validator.registry
        self.store = store
        self.sender = sender
        self.settings = settings or HandlerSettings()
        self._new_token = token_factory
        now = clock or SystemClock()
        transient = declared_transient_errors(store, sender, DurableInstanceClient)
        self.retry = Retry(self.settings, now, transient)
        self.claims = Claims(store, self.retry, now, self.settings)
        self.effects = Effects(self.retry, now, self.settings)
        self.queueing = Queueing(store, sender, self.claims, self.retry, now, self.settings)
        self.clock = now

    @property
    def clock(self) -> Clock:
        return self._clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        """One clock for every part (a test moves time for the whole handler)."""
        self._clock = clock
        for part in (self.retry, self.claims, self.effects, self.queueing):
            part.clock = clock

    # -- entry points -------------------------------------------------------------------

    async def handle(self, message: IncomingMessage, client: InstanceClient) -> HandlingResult:
        """Handle one delivery. Raises only when the host should abandon the message."""
        with phase("handler"):
            return await self._handle(message, client)

    async def _handle(self, message: IncomingMessage, client: InstanceClient) -> HandlingResult:
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
            except (TransientFailure, Busy, asyncio.TimeoutError) as failure:
                result = await self.queueing.reschedule_after_failure(request, message, failure)
        self._log(message, result, time.perf_counter() - started)
        return result

    async def handle_dead_letter(
        self, message: IncomingMessage, reason: str | None, description: str | None
    ) -> HandlingResult:
        """Record `dead-lettered` for a message that ended in the dead-letter sub-queue."""
        why = "; ".join(p for p in (reason, description) if p) or "dead-lettered by Service Bus"
        try:
            # A valid request keeps its request fingerprint, so a resubmission matches it.
            body_fingerprint: str | None = self.validator.validate_bytes(
                message.body, session_id=message.session_id, admit_keep_alive=True
            ).fingerprint
        except Exception:  # whatever the content, the dead-lettered message gets its record
            body_fingerprint = None
        record = message_record(
            Outcome.DEAD_LETTERED, message, why, self.clock.now(), body_fingerprint
        )
        result = await self._record_dead_letter(record, message.delivery_count)
        logger.error(
            json.dumps(
                {
                    "event": "start-request-dead-lettered",
                    "requestId": result.request_id,
                    "instanceId": result.instance_id,
                    "reason": printable(why),
                    "deliveryCount": message.delivery_count,
                }
            )
        )
        return result

    async def _record_dead_letter(
        self, record: OutcomeRecord, delivery_count: int
    ) -> HandlingResult:
        """Record `dead-lettered`, unless the request was decided already."""
        for _ in range(_DEAD_LETTER_ATTEMPTS):
            try:
                stored = await self.retry(partial(self.store.insert, record))
            except RecordExists as exists:
                existing = exists.existing
                if existing.outcome.is_final:
                    return HandlingResult(
                        existing.request_id,
                        existing.instance_id,
                        None,
                        Note.ALREADY_DECIDED,
                        f"dead-lettered copy of a request already {existing.outcome.value}",
                        existing,
                    )
                changed = record.evolve(
                    version=existing.version,
                    etag=existing.etag,
                    received_at=existing.received_at,
                    delivery_count=max(existing.delivery_count, delivery_count),
                    attempts=existing.noting(self.clock.now(), Outcome.DEAD_LETTERED.value),
                )
                try:
                    stored = await self.retry(partial(self.store.replace, changed))
                except VersionConflict:
                    continue
            return HandlingResult.of(stored, Note.RECORDED, Outcome.DEAD_LETTERED)
        raise TransientFailure("the outcome record kept changing under the dead-letter handler")

    # -- the valid path -----------------------------------------------------------------

    async def _handle_valid(
        self, request: StartRequest, message: IncomingMessage, client: InstanceClient
    ) -> HandlingResult:
        spec = self.registry.get(request.orchestrator)
        assert spec is not None  # the validator only admits registered orchestrators
        token = self._new_token()
        if one_round_trip_applies(request.policy(spec), message):
            fast = await self._handle_fresh(_Claimed(request, spec, message, client), token)
            if fast is not None:
                return fast
        claimed = await self.claims.claim(request, message, token)
        if isinstance(claimed, HandlingResult):
            return claimed
        if isinstance(claimed, Conflict):
            return await self._record_conflict(request, message, claimed.existing)
        lease = await self.claims.hold_instance(request.instance_id, token)
        try:
            result = await self._decide_and_act(_Claimed(request, spec, message, client), claimed)
        finally:
            await self.claims.release_instance(lease, token)
        if (
            request.policy(spec).on_running is OnRunning.QUEUE
            and result.note is Note.DECIDED
            and result.outcome in (Outcome.STARTED, Outcome.EXPIRED)
        ):
            await self.queueing.hand_off(request.instance_id, request.request_id, spec)
        return result

    async def _handle_fresh(self, held: _Claimed, token: str) -> HandlingResult | None:
        """A first delivery in two store round trips (fresh.py); None when the record or
        the instance's fence was not as a fresh request finds them."""
        request, client = held.request, held.client
        now = self.clock.now()
        fence = HeldFence(
            Fence.for_instance(request.instance_id, token, now + self.settings.claim_lease, now)
        )
        claim = fresh_claim(request, held.message, token, now, self.settings.claim_lease)
        recorded = held.message.recorded_at is not None
        record = await self.retry(partial(self.store.begin, claim, fence.fence, recorded=recorded))
        if record is None:
            return None
        try:
            status = await self.retry(lambda: client.get_status(request.instance_id))
            decision = decide(
                status.runtime_status if status else None,
                request.policy(held.spec),
                QueuePosition(),
            )
            # `begin` wrote the intent of a start on a free ID; any other effect writes its
            # own, with the instance as it is now, before it acts.
            provisional_holds = decision.action is Action.START and status is None
            try:
                return await self._act(
                    held, decision, record, status, False, fence, provisional_holds
                )
            except StatusChanged:
                # Someone else's instance appeared: decide again as the step-by-step path
                # does, still under the fence.
                record = await self.claims.reload(record)
                return await self._decide_and_act(held, record)
        finally:
            if not fence.released:
                await self.claims.release_instance(fence.fence.name, token)

    async def _decide_and_act(self, held: _Claimed, record: OutcomeRecord) -> HandlingResult:
        request, client = held.request, held.client
        status = await self.retry(lambda: client.get_status(request.instance_id))
        skip_terminate = False
        if record.intent is not None:
            done = reconcile(record.intent, status, request)
            if done is not None:
                return await self._finish(
                    record, done, "completed by an earlier delivery", record.existing_status
                )
            skip_terminate = (
                record.intent.action is IntentAction.REPLACE
                and status is not None
                and status.created_time == record.intent.prior_created_time
                and status.runtime_status in FINISHED_STATUSES
            )
        policy = request.policy(held.spec)
        for _ in range(_DECISION_ATTEMPTS):
            position: QueuePosition | None = None
            if skip_terminate:
                decision = Decision(Action.REPLACE, "finishing a replace an earlier delivery began")
            else:
                position = await self.queueing.position(
                    request, held.spec, record, policy.on_running
                )
                existing = status.runtime_status if status else None
                decision = decide(existing, policy, position)
            try:
                return await self._act(
                    held, decision, record, status, skip_terminate, position=position
                )
            except StatusChanged as changed:
                status, skip_terminate = changed.status, False
                record = await self.claims.reload(record)
        raise TransientFailure("the instance kept changing while the request was being handled")

    async def _act(
        self,
        held: _Claimed,
        decision: Decision,
        record: OutcomeRecord,
        status: InstanceSnapshot | None,
        skip_terminate: bool,
        fence: HeldFence | None = None,
        intent_written: bool = False,
        position: QueuePosition | None = None,
    ) -> HandlingResult:
        """`fence`: the fresh path's, which the decision releases in the same round trip;
        `intent_written`: its `begin` already wrote this effect's intent."""
        request, spec, client = held.request, held.spec, held.client
        action = decision.action
        fresh = intent_written
        if action is Action.START:
            if not fresh:
                record = await self.claims.write_intent(record, IntentAction.START, status)
            await self.effects.start(request, client, record.intent)
        elif action is Action.REPLACE:
            if not skip_terminate:
                if not fresh:
                    record = await self.claims.write_intent(record, IntentAction.REPLACE, status)
                await self.effects.terminate_and_wait(request, client)
            await self.effects.start(request, client, record.intent)
        elif action is Action.FORWARD:
            assert spec.event_name is not None  # the registry refuses forward without one
            if not forward_raised_on(record.intent, status):
                if not fresh:
                    record = await self.claims.write_intent(record, IntentAction.FORWARD, status)
                await self.effects.forward(request, spec.event_name, client)
                if spec.acknowledges_forwards:
                    record = await self.claims.write_intent(record, FORWARD_RAISED, status)
            if spec.acknowledges_forwards:
                await self.effects.await_acknowledgement(request, client, status)
                decision = Decision(action, f"{decision.reason}; the instance acknowledged it")
        elif action is Action.QUEUE:
            return await self.queueing.queue(
                request, held.message, record, decision, status, position, spec.queue_ttl
            )
        if skip_terminate:  # the status before the replace is the one the intent kept
            existing = record.existing_status
        else:
            existing = status.runtime_status.value if status else None
        return await self._finish(record, _OUTCOME_OF[action], decision.reason, existing, fence)

    async def _finish(
        self,
        record: OutcomeRecord,
        outcome: Outcome,
        reason: str,
        existing_status: str | None,
        fence: HeldFence | None = None,
    ) -> HandlingResult:
        stored = await self.claims.store_decision(
            record,
            fence,
            outcome=outcome,
            reason=reason,
            existing_status=existing_status,
            decided_at=self.clock.now(),
        )
        return HandlingResult.of(stored, Note.DECIDED, stored.outcome)

    # -- requests that are not acted on --------------------------------------------------

    async def _record_invalid(
        self, message: IncomingMessage, violation: ContractViolation
    ) -> HandlingResult:
        record = message_record(Outcome.INVALID, message, str(violation), self.clock.now())
        stored = await insert_decided(self.store, record, self.retry)
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
        return HandlingResult.of(stored, Note.INVALID, stored.outcome)

    async def _record_conflict(
        self, request: StartRequest, message: IncomingMessage, existing: OutcomeRecord
    ) -> HandlingResult:
        record = conflict_record(request, message, existing, self.clock.now())
        stored = await insert_decided(self.store, record, self.retry)
        return HandlingResult.of(stored, Note.INVALID, Outcome.INVALID)

    def _log(self, message: IncomingMessage, result: HandlingResult, elapsed: float) -> None:
        logger.info(
            json.dumps(
                {
                    "event": "start-request",
                    "instanceId": result.instance_id,
                    "requestId": result.request_id,
                    "decision": result.outcome.value if result.outcome else result.note.value,
                    "reason": result.reason,
                    "deliveryCount": message.delivery_count,
                    "attempt": message.attempt,
                    "ms": round(elapsed * 1000, 1),
                }
            )
        )


__all__ = ["FORWARD_RAISED", "HandlingResult", "Note", "StartHandler", "TransientFailure"]
