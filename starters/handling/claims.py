"""Claims and fences: who may act on a request, and on its instance, right now.

The request is *claimed* in the outcome store before anything happens (a conditional write
with a lease), and a request whose record is already decided is never acted on again. A
per-instance lease, taken before start_new or terminate, keeps two handlers from acting on
one ID when a session lock was lost and another receiver took the session.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from ..clock import Clock
from ..contract import StartRequest
from ..functions.settings import HandlerSettings
from ..instances import InstanceSnapshot
from ..messages import RESUBMISSION_PROPERTY, IncomingMessage
from ..outcomes import Intent, IntentAction, Outcome, OutcomeRecord, RecordExists, VersionConflict
from ..ports import OutcomeStore
from .fresh import HeldFence
from .results import HandlingResult, Note
from .retry import Retry

logger = logging.getLogger("starters.handler")

_POLL_S = 0.05


class Busy(Exception):
    """Another handler holds the claim on this request or instance."""


@dataclass(frozen=True)
class Conflict:
    """The request ID is taken by another request (the stored fingerprint differs)."""

    existing: OutcomeRecord


class Claims:
    def __init__(
        self, store: OutcomeStore, retry: Retry, clock: Clock, settings: HandlerSettings
    ) -> None:
        self.store = store
        self.retry = retry
        self.clock = clock
        self.settings = settings

    async def claim(
        self, request: StartRequest, message: IncomingMessage, token: str
    ) -> OutcomeRecord | HandlingResult | Conflict:
        """The claimed record; a result when this delivery must not act; a Conflict when the
        request ID was used for a different request (the stored fingerprint differs)."""
        # Bounded by the handler deadline (asyncio.wait_for around the whole handling).
        while True:
            now = self.clock.now()
            existing = await self.retry(lambda: self.store.get(request.request_id))
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
                    return await self.retry(partial(self.store.insert, fresh))
                except RecordExists:
                    continue
            if existing.fingerprint != request.fingerprint:
                return Conflict(existing)
            if existing.outcome is Outcome.DEAD_LETTERED and message.application_properties.get(
                RESUBMISSION_PROPERTY
            ):
                # An operator resubmitted it: decide it again.
                reopened = existing.evolve(
                    outcome=Outcome.PENDING, reason=None, decided_at=None, attempt=message.attempt
                )
                with contextlib.suppress(VersionConflict):
                    await self.retry(partial(self.store.replace, reopened))
                continue
            if existing.outcome.is_final:
                return HandlingResult(
                    request.request_id,
                    request.instance_id,
                    None,
                    Note.DUPLICATE_DELIVERY,
                    f"already {existing.outcome.value}",
                    existing,
                )
            if message.attempt < existing.attempt:
                return HandlingResult(
                    request.request_id,
                    request.instance_id,
                    None,
                    Note.STALE_COPY,
                    f"copy {message.attempt} superseded by copy {existing.attempt}",
                    existing,
                )
            if (
                existing.claim_token not in (None, token)
                and existing.claim_until is not None
                and existing.claim_until > now
            ):
                # Another handler is on it (the session lock moved): wait for it to decide.
                await self.clock.sleep(_POLL_S)
                continue
            claimed = existing.evolve(
                claim_token=token,
                claim_until=now + self.settings.claim_lease,
                delivery_count=max(existing.delivery_count, message.delivery_count),
                attempt=message.attempt,
            )
            try:
                return await self.retry(partial(self.store.replace, claimed))
            except VersionConflict:
                continue

    async def hold_instance(self, instance_id: str, token: str) -> str:
        """Take the instance's lease (waiting while another handler holds it); its name."""
        lease = f"instance:{instance_id}"
        await self._wait_for(
            lambda: self.store.acquire_lease(
                lease, token, self.clock.now() + self.settings.claim_lease, self.clock.now()
            )
        )
        return lease

    async def release_instance(self, lease: str, token: str) -> None:
        try:
            await self.store.release_lease(lease, token)
        except Exception:  # the lease expires by itself
            logger.warning("could not release %s", lease, exc_info=True)

    async def _wait_for(self, acquire: Callable[[], Awaitable[bool]]) -> None:
        # Bounded by the handler deadline (asyncio.wait_for around the whole handling).
        while not await self.retry(acquire):
            await self.clock.sleep(_POLL_S)

    async def reload(self, record: OutcomeRecord) -> OutcomeRecord:
        current = await self.retry(lambda: self.store.get(record.request_id))
        if current is None or current.claim_token != record.claim_token:
            raise Busy(f"lost the claim on request {record.request_id}")
        return current

    async def write_intent(
        self, record: OutcomeRecord, action: IntentAction, status: InstanceSnapshot | None
    ) -> OutcomeRecord:
        """Write down the effect about to be caused and the instance as it was before it."""
        changed = record.evolve(
            intent=Intent(action, status.created_time if status else None),
            existing_status=status.runtime_status.value if status else None,
        )
        try:
            return await self.retry(lambda: self.store.replace(changed))
        except VersionConflict:
            raise Busy(f"lost the claim on request {record.request_id}") from None

    async def store_decision(
        self, record: OutcomeRecord, fence: HeldFence | None = None, **decision: Any
    ) -> OutcomeRecord:
        """Write the decision (`decision`: the record's changes) and drop the claim and the
        intent, releasing `fence` in the same round trip; another handler's decision stands."""
        # A decided request drops what only a queued one needs (its message, its wake-up).
        final = "outcome" in decision and Outcome(decision["outcome"]).is_final
        dropped: dict[str, Any] = {"body": None, "wake_at": None} if final else {}
        outcome = decision.get("outcome", record.outcome)
        record = record.evolve(
            **{**dropped, **decision},
            claim_token=None,
            claim_until=None,
            intent=None,
            attempts=record.noting(self.clock.now(), Outcome(outcome).value),
        )
        try:
            if fence is None:
                return await self.retry(lambda: self.store.replace(record))
            stored = await self.retry(partial(self.store.finish, record, fence.fence))
            fence.released = True
            return stored
        except VersionConflict:
            # Someone else changed the record after our claim ran out. Their word stands.
            current = await self.retry(lambda: self.store.get(record.request_id))
            if current is not None and current.outcome.is_final:
                logger.warning(
                    "request %s was decided by another handler as %s",
                    record.request_id,
                    current.outcome.value,
                )
                return current
            raise Busy(f"lost the claim on request {record.request_id}") from None
