"""Outcome records: what became of each start request (the model; the store port is in ports.py).

Every change to a record is conditional on the version the writer read (an ETag in Table
storage), so two handlers never overwrite each other's decision and a redelivered request
finds the record its first delivery left.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from .contract import StartRequest


class Outcome(str, Enum):
    PENDING = "pending"
    STARTED = "started"
    REJECTED = "rejected"
    USED_EXISTING = "used-existing"
    FORWARDED = "forwarded"
    REPLACED = "replaced"
    QUEUED = "queued"
    INVALID = "invalid"
    DEAD_LETTERED = "dead-lettered"
    EXPIRED = "expired"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self not in (Outcome.PENDING, Outcome.QUEUED)


class IntentAction(str, Enum):
    """The effect an intent announces."""

    START = "start"
    REPLACE = "replace"
    FORWARD = "forward"
    # The event was raised on an orchestrator that acknowledges forwards: a redelivery
    # waits for the acknowledgement instead of raising the event a second time.
    FORWARD_RAISED = "forward-raised"


@dataclass(frozen=True)
class Intent:
    """An effect a handler was about to cause, written down before it causes it.

    A redelivered request reads it to tell its own start from someone else's instance:
    `prior_created_time` is the createdTime the instance ID had before the effect (None
    when there was no instance); `action` is "start", "replace", "forward" or, once the event
    was raised for an orchestrator that acknowledges forwards, "forward-raised".
    """

    action: IntentAction
    prior_created_time: str | None

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action.value, "priorCreatedTime": self.prior_created_time}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Intent | None:
        if not data:
            return None
        return cls(
            action=IntentAction(data["action"]), prior_created_time=data.get("priorCreatedTime")
        )


MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class Attempt:
    """One delivery's part in a record's history: what the handler did with it."""

    delivery_count: int
    at: datetime
    what: str

    def to_json(self) -> dict[str, Any]:
        return {"deliveryCount": self.delivery_count, "at": self.at.isoformat(), "what": self.what}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attempt:
        return cls(int(data["deliveryCount"]), datetime.fromisoformat(data["at"]), data["what"])


@dataclass(frozen=True)
class OutcomeRecord:
    request_id: str
    instance_id: str
    orchestrator: str
    outcome: Outcome
    received_at: datetime
    fingerprint: str = ""
    reason: str | None = None
    existing_status: str | None = None
    decided_at: datetime | None = None
    delivery_count: int = 0
    # The original body, kept for `invalid` records so nothing a producer sent is lost.
    body: str | None = None
    # "base64" when `body` holds the base64 of bytes that were not UTF-8 text.
    body_encoding: str | None = None
    # The highest send attempt scheduled for this request; older copies are stale.
    attempt: int = 0
    claim_token: str | None = None
    claim_until: datetime | None = None
    intent: Intent | None = None
    # A queued request: when its next copy is due (a later request re-arms an overdue one).
    wake_at: datetime | None = None
    # The last MAX_ATTEMPTS deliveries' results, oldest first, written inside the writes
    # the handler makes anyway (never a round trip of their own).
    attempts: tuple[Attempt, ...] = ()
    version: int = field(default=0, compare=False)
    # The store's own concurrency token where it has one (Table storage's ETag).
    etag: str | None = field(default=None, compare=False)
    # Where a store that keeps a record in two places read it from (Table storage: the
    # intake entity or the instance's partition); None elsewhere.
    stored_in: str | None = field(default=None, compare=False)

    def evolve(self, **changes: Any) -> OutcomeRecord:
        return dataclasses.replace(self, **changes)

    def noting(self, at: datetime, what: str) -> tuple[Attempt, ...]:
        """The attempts with this delivery's result added, bounded."""
        entry = Attempt(self.delivery_count, at, what[:200])
        return (*self.attempts, entry)[-MAX_ATTEMPTS:]

    def to_public(self) -> dict[str, Any]:
        """The record as the API shows it (no claim tokens or internals)."""
        public: dict[str, Any] = {
            "requestId": self.request_id,
            "instanceId": self.instance_id,
            "orchestrator": self.orchestrator,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "existingStatus": self.existing_status,
            "receivedAt": self.received_at.isoformat(),
            "decidedAt": self.decided_at.isoformat() if self.decided_at else None,
            "deliveryCount": self.delivery_count,
            "fingerprint": self.fingerprint,
            "attempts": [a.to_json() for a in self.attempts],
        }
        # A queued request keeps its message to hand its turn on; only refusals show it.
        if self.body is not None and self.outcome in (Outcome.INVALID, Outcome.DEAD_LETTERED):
            public["body"] = self.body
        if self.body_encoding is not None and "body" in public:
            public["bodyEncoding"] = self.body_encoding
        return public


def pending_record(request: StartRequest, received_at: datetime) -> OutcomeRecord:
    """The record a request gets when it is accepted, before any decision."""
    return OutcomeRecord(
        request_id=request.request_id,
        instance_id=request.instance_id,
        orchestrator=request.orchestrator,
        outcome=Outcome.PENDING,
        received_at=received_at,
        fingerprint=request.fingerprint,
    )


@dataclass(frozen=True)
class Fence:
    """The per-instance lease a handler takes before it acts on an instance (`owner` is its
    claim token), so two handlers never act on one ID after a session lock was lost."""

    name: str
    owner: str
    until: datetime
    now: datetime

    @classmethod
    def for_instance(cls, instance_id: str, owner: str, until: datetime, now: datetime) -> Fence:
        return cls(f"instance:{instance_id}", owner, until, now)


def untouched_since_intake(stored: OutcomeRecord | None, claim: OutcomeRecord) -> bool:
    """Whether a handler may take the one-round-trip path for `claim`: no record yet, or the
    `pending` one intake wrote, with no claim, no intent and no later copy."""
    return stored is None or (
        stored.outcome is Outcome.PENDING
        and stored.fingerprint == claim.fingerprint
        and stored.claim_token is None
        and stored.intent is None
        and stored.attempt <= claim.attempt
    )


def as_begun(stored: OutcomeRecord | None, claim: OutcomeRecord) -> OutcomeRecord:
    """`claim` as `begin` stores it: the receivedAt and delivery count intake recorded stay."""
    if stored is None:
        return claim
    return claim.evolve(
        received_at=stored.received_at,
        delivery_count=max(stored.delivery_count, claim.delivery_count),
    )


class RecordExists(Exception):
    def __init__(self, existing: OutcomeRecord) -> None:
        self.existing = existing
        super().__init__(f"request {existing.request_id} already has a record")


class VersionConflict(Exception):
    """Someone else changed the record since it was read."""


_MOVED = {
    "OutcomeStore": "starters.ports",
    "record_to_storage": "starters.stores._codec",
    "record_from_storage": "starters.stores._codec",
}


def __getattr__(name: str) -> Any:
    from ._moved import moved_attribute

    return moved_attribute(__name__, name, _MOVED)
