"""The storage form of an outcome record, shared by the SQLite and Table storage adapters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..outcomes import Attempt, Intent, Outcome, OutcomeRecord


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
        "wakeAt": record.wake_at.isoformat() if record.wake_at else None,
        "attempts": [a.to_json() for a in record.attempts],
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
        wake_at=when("wakeAt"),
        attempts=tuple(Attempt.from_json(a) for a in data.get("attempts") or ()),
        version=version,
    )
