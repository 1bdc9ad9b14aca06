"""The fresh path: a first delivery decided in at most two outcome-store round trips.

Most deliveries are a request's first, with its `pending` record as intake left it. For
them the claim, the instance's fence and the intent of the common effect (a start on a
free ID: "before me there was no instance") are one round trip (`OutcomeStore.begin`);
then the status is read, under the fence, and after the effect the decision and the
fence's release are one more (`OutcomeStore.finish`). When the status shows an instance,
the handler rewrites the intent with that instance's createdTime before any effect (a
third round trip, on replace, forward and restart only); reject and use-existing have no
effect and stay at two.

The protections stay: `begin` writes only when the record is untouched since intake (a
redelivery, a copy or a request another handler claimed takes the step-by-step path in
claims.py, which reads and reconciles), and only when no other handler holds the fence; the
status is read only under the fence. Anything unusual (`begin` refused, the instance
changed under the effect) falls back to the step-by-step path, which the fault and
lock-expiry suites cover.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..contract import StartRequest
from ..messages import RESUBMISSION_PROPERTY, IncomingMessage
from ..outcomes import Fence, Intent, IntentAction, Outcome, OutcomeRecord
from ..policies import OnRunning, Policy


@dataclass
class HeldFence:
    """The fence the fresh path took; `released` once a decision's round trip dropped it."""

    fence: Fence
    released: bool = False


def one_round_trip_applies(policy: Policy, message: IncomingMessage) -> bool:
    """A first delivery of the producer's own message, outside the queue policy (whose
    place in the backlog needs the step-by-step path)."""
    return (
        message.delivery_count <= 1
        and message.attempt == 0
        and not message.application_properties.get(RESUBMISSION_PROPERTY)
        and policy.on_running is not OnRunning.QUEUE
    )


def fresh_claim(
    request: StartRequest,
    message: IncomingMessage,
    token: str,
    now: datetime,
    lease: timedelta,
) -> OutcomeRecord:
    """The claimed `pending` record the fresh path writes, with the intent of a start on a
    free ID (the common case; any other effect rewrites it before it acts)."""
    return OutcomeRecord(
        request_id=request.request_id,
        instance_id=request.instance_id,
        orchestrator=request.orchestrator,
        outcome=Outcome.PENDING,
        received_at=message.recorded_at or message.enqueued_time or now,
        fingerprint=request.fingerprint,
        delivery_count=message.delivery_count,
        attempt=message.attempt,
        claim_token=token,
        claim_until=now + lease,
        intent=Intent(IntentAction.START, None),
    )
