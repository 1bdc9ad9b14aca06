"""The one-off backfill of the time index: index rows for the records older than the
marker's `since`, written before any process kept the index.

It runs once per table, in the background, the first time a process of this version
finds the marker without `Backfilled` (a process that crashes part-way leaves it so, and
the next one starts again: upserts are idempotent). It scans the table once, reading only
the index columns and `Data` (never bodies). A row it writes may be older than a live
write's (it read the record before that write flushed): such a row says `pending` or
`queued`, which the reader always confirms from the record (table_listing).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from azure.data.tables.aio import TableClient

from ._table_layout import REQUEST_ROW, REQUEST_ROW_END, ROW, sortable
from .table_index import IndexRow, parse_sortable

PAGE = 1000


def _row(entity: Any) -> tuple[IndexRow, bool]:
    """The index row an entity gives, and whether it is the record's instance-partition
    row (which wins over its intake entity)."""
    key = str(entity["RowKey"])
    in_partition = key.startswith(REQUEST_ROW)
    request_id = key.removeprefix(REQUEST_ROW) if in_partition else str(entity["PartitionKey"])
    data = json.loads(entity["Data"])
    row = IndexRow(
        request_id,
        str(entity.get("InstanceId") or ""),
        str(data.get("orchestrator") or ""),
        str(entity["Outcome"]),
        parse_sortable(str(entity["ReceivedAt"])),
    )
    return row, in_partition


async def backfill(
    table: TableClient,
    before: datetime,
    write: Callable[[TableClient, list[IndexRow]], Awaitable[None]],
) -> int:
    """Index every record received before `before`; how many rows were written."""
    entities = table.query_entities(
        "( RowKey eq @intake or ( RowKey ge @first and RowKey lt @end ) )"
        " and ReceivedAt lt @before",
        parameters={
            "intake": ROW,
            "first": REQUEST_ROW,
            "end": REQUEST_ROW_END,
            "before": sortable(before),
        },
        select=["PartitionKey", "RowKey", "InstanceId", "Outcome", "ReceivedAt", "Data"],
        results_per_page=PAGE,
    )
    written = 0
    chunk: dict[str, tuple[IndexRow, bool]] = {}
    async for entity in entities:
        row, in_partition = _row(entity)
        kept = chunk.get(row.request_id)
        if kept is None or (in_partition and not kept[1]):
            chunk[row.request_id] = (row, in_partition)
        if len(chunk) >= PAGE:
            await write(table, [r for r, _ in chunk.values()])
            written += len(chunk)
            chunk = {}
    if chunk:
        await write(table, [r for r, _ in chunk.values()])
        written += len(chunk)
    return written
