"""Outcome records: what became of each start request, and the store interface behind them.

Every change to a record is conditional on the version the writer read (an ETag in Table
storage), so two handlers never overwrite each other's decision and a redelivered request
finds the record its first delivery left.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

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


@dataclass(frozen=True)
class Intent:
    """An effect a handler was about to cause, written down before it causes it.

    A redelivered request reads it to tell its own start from someone else's instance:
    `prior_created_time` is the createdTime the instance ID had before the effect (None
    when there was no instance); `action` is "start", "replace", "forward" or, once the event
    was raised for an orchestrator that acknowledges forwards, "forward-raised".
    """

    action: str
    prior_created_time: str | None

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "priorCreatedTime": self.prior_created_time}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Intent | None:
        if not data:
            return None
        return cls(action=str(data["action"]), prior_created_time=data.get("priorCreatedTime"))


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
    version: int = field(default=0, compare=False)
    # The store's own concurrency token where it has one (Table storage's ETag).
    etag: str | None = field(default=None, compare=False)

    def evolve(self, **changes: Any) -> OutcomeRecord:
        return dataclasses.replace(self, **changes)

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
        }
        if self.body is not None:
            public["body"] = self.body
        if self.body_encoding is not None:
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


class RecordExists(Exception):
    def __init__(self, existing: OutcomeRecord) -> None:
        self.existing = existing
        super().__init__(f"request {existing.request_id} already has a record")


class VersionConflict(Exception):
    """Someone else changed the record since it was read."""


class OutcomeStore(Protocol):
    """Where outcome records and per-instance leases live (memory, SQLite, Table storage)."""

    async def get(self, request_id: str) -> OutcomeRecord | None: ...

    async def insert(self, record: OutcomeRecord) -> OutcomeRecord:
        """Create the record; raise RecordExists (carrying the stored one) if it exists."""
        ...

    async def replace(self, record: OutcomeRecord) -> OutcomeRecord:
        """Write `record` if the stored version still equals `record.version`.

        Returns the record with its new version; raises VersionConflict otherwise.
        """
        ...

    async def delete(self, record: OutcomeRecord) -> bool:
        """Delete the record if its version is unchanged; False if it changed or is gone."""
        ...

    async def queued_for(self, instance_id: str) -> list[OutcomeRecord]:
        """The instance's `queued` records, oldest first."""
        ...

    async def acquire_lease(self, name: str, owner: str, until: datetime, now: datetime) -> bool:
        """Take or renew the lease `name` for `owner` unless another owner holds it past `now`."""
        ...

    async def release_lease(self, name: str, owner: str) -> None: ...

    async def purge_decided_before(self, cutoff: datetime) -> int:
        """Delete decided records received before `cutoff`; returns how many."""
        ...

    async def close(self) -> None: ...


def record_to_storage(record: OutcomeRecord) -> dict[str, Any]:
    """A JSON-ready form of every field but the version, which stores keep themselves."""
    return {
        "requestId": record.request_id,
        "instanceId": record.instance_id,
        "orchestrator": record.orchestrator,
        "outcome": record.outcome.value,
        "receivedAt": record.received_at.isoformat(),
        "fingerprint": record.fingerprint,
        "reason": record.reason,
        "existingStatus": record.existing_status,
        "decidedAt": record.decided_at.isoformat() if record.decided_at else None,
        "deliveryCount": record.delivery_count,
        "body": record.body,
        "bodyEncoding": record.body_encoding,
        "attempt": record.attempt,
        "claimToken": record.claim_token,
        "claimUntil": record.claim_until.isoformat() if record.claim_until else None,
        "intent": record.intent.to_json() if record.intent else None,
    }


def record_from_storage(data: dict[str, Any], version: int) -> OutcomeRecord:
    def when(key: str) -> datetime | None:
        value = data.get(key)
        return datetime.fromisoformat(value) if value else None

    received = when("receivedAt")
    assert received is not None
    return OutcomeRecord(
        request_id=data["requestId"],
        instance_id=data["instanceId"],
        orchestrator=data["orchestrator"],
        outcome=Outcome(data["outcome"]),
        received_at=received,
        fingerprint=data.get("fingerprint") or "",
        reason=data.get("reason"),
        existing_status=data.get("existingStatus"),
        decided_at=when("decidedAt"),
        delivery_count=int(data.get("deliveryCount") or 0),
        body=data.get("body"),
        body_encoding=data.get("bodyEncoding"),
        attempt=int(data.get("attempt") or 0),
        claim_token=data.get("claimToken"),
        claim_until=when("claimUntil"),
        intent=Intent.from_json(data.get("intent")),
        version=version,
    )
