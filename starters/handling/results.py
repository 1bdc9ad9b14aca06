"""What one delivery did: the result the handler returns and logs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..outcomes import Outcome, OutcomeRecord


class Note(str, Enum):
    """How a delivery ended; beside `outcome`, which is None when it decided nothing."""

    DECIDED = "decided"
    INVALID = "invalid"
    QUEUED = "queued"
    RECORDED = "recorded"
    RESCHEDULED = "rescheduled"
    DUPLICATE_DELIVERY = "duplicate-delivery"
    STALE_COPY = "stale-copy"
    ALREADY_DECIDED = "already-decided"


@dataclass(frozen=True)
class HandlingResult:
    """What one delivery did. `outcome` is None when it decided nothing (see `note`)."""

    request_id: str | None
    instance_id: str | None
    outcome: Outcome | None
    note: Note
    reason: str | None = None
    record: OutcomeRecord | None = None

    @classmethod
    def of(
        cls, record: OutcomeRecord, note: Note, outcome: Outcome | None = None
    ) -> HandlingResult:
        """The result for `record`; `outcome` None for a delivery that decided nothing."""
        return cls(record.request_id, record.instance_id, outcome, note, record.reason, record)
