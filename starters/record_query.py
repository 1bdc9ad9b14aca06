"""Listing outcome records: the query every store answers, newest first.

Order is by receivedAt, newest first, ties by request ID (descending), so a page's last
record is a cursor that the next page starts strictly after: paging never repeats or
skips a record that stays put, whatever else is written meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from .outcomes import Outcome, OutcomeRecord

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


@dataclass(frozen=True, order=True)
class RecordCursor:
    """A record's place in the order: the next page holds only records before it."""

    received_at: datetime
    request_id: str

    @classmethod
    def of(cls, record: OutcomeRecord) -> RecordCursor:
        return cls(record.received_at.astimezone(timezone.utc), record.request_id)


@dataclass(frozen=True)
class RecordQuery:
    """Which records to list: every filter given must hold. `since` is inclusive and
    `until` exclusive, both on receivedAt."""

    instance_id: str | None = None
    outcomes: frozenset[Outcome] = field(default_factory=frozenset)
    orchestrator: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = DEFAULT_LIMIT
    after: RecordCursor | None = None

    def matches(self, record: OutcomeRecord) -> bool:
        received = record.received_at
        return (
            (self.instance_id is None or record.instance_id == self.instance_id)
            and (not self.outcomes or record.outcome in self.outcomes)
            and (self.orchestrator is None or record.orchestrator == self.orchestrator)
            and (self.since is None or received >= self.since)
            and (self.until is None or received < self.until)
            and (self.after is None or RecordCursor.of(record) < self.after)
        )

    def page(self, records: list[OutcomeRecord]) -> list[OutcomeRecord]:
        """The matching records, newest first, at most `limit` of them."""
        return newest_first([r for r in records if self.matches(r)])[: self.limit]


def newest_first(records: list[OutcomeRecord]) -> list[OutcomeRecord]:
    return sorted(records, key=RecordCursor.of, reverse=True)
