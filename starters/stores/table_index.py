"""The time index of outcome records in Table storage: where its rows live and what they hold.

Index rows sit in partitions of their own, one per UTC hour of receivedAt
(PartitionKey `~recent:{YYYY-MM-DDTHH}`), under RowKey `{inverted ticks}:{requestId}`:
the inverted ticks (.NET ticks of receivedAt, subtracted from the largest, 19 digits) make
a partition read newest first in RowKey order. A row holds what the listing filters on
(RequestId, InstanceId, Orchestrator, Outcome, ReceivedAt), never a body.

The directory partition `~recent` holds one row per bucket that has index rows
(RowKey `bucket:{YYYY-MM-DDTHH}`), so a reader visits only hours that have records, and the
index's marker (RowKey `marker`): from which receivedAt the index is complete and whether
the one-off backfill of older records has run.

No key collides with a record's: instance IDs start with a letter or digit and request IDs
with one of `A-Z a-z 0-9 _ . -` (contract.py), never with `~`, so no intake entity or
instance partition is ever named `~recent...`; and the index rows' RowKeys start with a
digit, never `outcome`, `request:`, `fence` or `lease`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ..outcomes import Outcome, OutcomeRecord
from ._table_layout import sortable

DIRECTORY = "~recent"
BUCKET_PREFIX = DIRECTORY + ":"
BUCKET_ROW = "bucket:"
BUCKET_ROW_END = "bucket;"
MARKER_ROW = "marker"
# Index RowKeys are digits then ":": every one lies in ["0", ":").
ROWS_FIRST = "0"
ROWS_END = ":"
COLUMNS = ["RowKey", "RequestId", "InstanceId", "Orchestrator", "Outcome", "ReceivedAt"]
# Outcomes an index row may hold while its record says otherwise: not decided yet, or
# reopened by a resubmission. A filtered reader takes them too and confirms them.
UNSETTLED = frozenset({Outcome.PENDING, Outcome.QUEUED, Outcome.DEAD_LETTERED, Outcome.INVALID})

_EPOCH = datetime(1, 1, 1, tzinfo=timezone.utc)
_MAX_TICKS = 3_155_378_975_999_999_999  # DateTime.MaxValue.Ticks
_TICKS_WIDTH = 19


def bucket_of(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H")


def bucket_start(bucket: str) -> datetime:
    return datetime.strptime(bucket, "%Y-%m-%dT%H").replace(tzinfo=timezone.utc)


def bucket_end(bucket: str) -> datetime:
    return bucket_start(bucket) + timedelta(hours=1)


def bucket_partition(bucket: str) -> str:
    return BUCKET_PREFIX + bucket


def inverted_ticks(moment: datetime) -> str:
    delta = moment.astimezone(timezone.utc) - _EPOCH
    ticks = (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10
    return str(_MAX_TICKS - ticks).rjust(_TICKS_WIDTH, "0")


def parse_sortable(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class IndexRow:
    request_id: str
    instance_id: str
    orchestrator: str
    outcome: str
    received_at: datetime

    @classmethod
    def of(cls, record: OutcomeRecord) -> IndexRow:
        return cls(
            record.request_id,
            record.instance_id,
            record.orchestrator,
            record.outcome.value,
            record.received_at.astimezone(timezone.utc),
        )

    @classmethod
    def from_entity(cls, entity: Mapping[str, Any]) -> IndexRow:
        return cls(
            str(entity["RequestId"]),
            str(entity.get("InstanceId") or ""),
            str(entity.get("Orchestrator") or ""),
            str(entity["Outcome"]),
            parse_sortable(str(entity["ReceivedAt"])),
        )

    @property
    def bucket(self) -> str:
        return bucket_of(self.received_at)

    @property
    def partition(self) -> str:
        return bucket_partition(self.bucket)

    @property
    def row_key(self) -> str:
        return f"{inverted_ticks(self.received_at)}:{self.request_id}"

    @property
    def keys(self) -> tuple[str, str]:
        return self.partition, self.row_key

    def entity(self) -> dict[str, Any]:
        return {
            "PartitionKey": self.partition,
            "RowKey": self.row_key,
            "RequestId": self.request_id,
            "InstanceId": self.instance_id,
            "Orchestrator": self.orchestrator,
            "Outcome": self.outcome,
            "ReceivedAt": sortable(self.received_at),
        }


def bucket_entity(bucket: str) -> dict[str, Any]:
    return {"PartitionKey": DIRECTORY, "RowKey": BUCKET_ROW + bucket}
