"""Listing outcome records in Table storage (the record layout is in `_table_layout`, the
time index's in `table_index`).

By instance: one single-partition query on the instance's `request:` rows, filtered on
the server by outcome and receivedAt (the rows carry both as properties), sorted here
(Table storage returns a partition in RowKey order, that is by request ID).

Across instances, from the time index: the directory names the hour buckets that have
rows; they are read newest first (from `until` or the page's cursor, back to `since` or
the oldest bucket, which retention keeps within its window), one partition at a time, with
the outcome and orchestrator filtered on the server and only the index columns selected,
until the page is full. An index row may lag its record (written behind) or be stale (a
lost flush), so the record of every row found is read (one point read, concurrently) and
is what the page returns, in the same shape as ever; a row that disagrees with its record
is repaired through the writer. A filter on outcome also takes the rows whose index
outcome may be out of date (`UNSETTLED`: pending, queued, dead-lettered, invalid) and
keeps those whose record matches. What a crash can hide: docs/http-api.md.

Until the index's one-off backfill has run (`table_index_marker`), the listing across
instances is the earlier scan: a query across all partitions, filtered by receivedAt and
row kind, sorted here; it reads every record, of either layout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables.aio import TableClient

from ..outcomes import OutcomeRecord
from ..record_query import RecordCursor, RecordQuery
from ._table_layout import PARTITION, REQUEST_ROW, REQUEST_ROW_END, ROW, entity_record, sortable
from .table_index import (
    BUCKET_ROW,
    BUCKET_ROW_END,
    COLUMNS,
    DIRECTORY,
    ROWS_END,
    ROWS_FIRST,
    UNSETTLED,
    IndexRow,
    bucket_end,
    bucket_partition,
    bucket_start,
    inverted_ticks,
)
from .table_index_writer import IndexWriter

# Point reads of a page's records in flight at once.
READS_AT_ONCE = 16


def _time_filter(query: RecordQuery, parameters: dict[str, Any]) -> list[str]:
    terms: list[str] = []
    if query.since is not None:
        terms.append("ReceivedAt ge @since")
        parameters["since"] = sortable(query.since)
    if query.until is not None:
        terms.append("ReceivedAt lt @until")
        parameters["until"] = sortable(query.until)
    if query.after is not None:
        # Inclusive: records at the cursor's time with a smaller request ID follow it.
        terms.append("ReceivedAt le @after")
        parameters["after"] = sortable(query.after.received_at)
    return terms


def _outcome_terms(values: list[str], parameters: dict[str, Any]) -> str:
    parameters.update({f"outcome{i}": value for i, value in enumerate(values)})
    # The SDK substitutes only parameters set off by spaces.
    return "( " + " or ".join(f"Outcome eq @outcome{i}" for i in range(len(values))) + " )"


async def list_records(
    table: TableClient, query: RecordQuery, index: IndexWriter
) -> list[OutcomeRecord]:
    if query.instance_id is not None:
        return await _by_instance(table, query)
    await index.flush()  # this process's own writes are listed at once
    if not await index.ready():
        return await _scan(table, query)
    return await _walk(table, query, index)


async def _by_instance(table: TableClient, query: RecordQuery) -> list[OutcomeRecord]:
    assert query.instance_id is not None
    parameters: dict[str, Any] = {"first": REQUEST_ROW, "end": REQUEST_ROW_END}
    terms = ["PartitionKey eq @instance", "RowKey ge @first", "RowKey lt @end"]
    terms += _time_filter(query, parameters)
    parameters["instance"] = query.instance_id
    outcomes = sorted(o.value for o in query.outcomes)
    if outcomes:
        terms.append(_outcome_terms(outcomes, parameters))
    entities = table.query_entities(" and ".join(terms), parameters=parameters)
    return query.page([entity_record(e) async for e in entities])


async def _scan(table: TableClient, query: RecordQuery) -> list[OutcomeRecord]:
    parameters: dict[str, Any] = {"first": REQUEST_ROW, "end": REQUEST_ROW_END, "intake": ROW}
    # Outcome is filtered here, not on the server: an intake entity says `pending`
    # after its row has moved on, and the row must be read to know.
    terms = ["( RowKey eq @intake or ( RowKey ge @first and RowKey lt @end ) )"]
    terms += _time_filter(query, parameters)
    entities = table.query_entities(" and ".join(terms), parameters=parameters)
    by_request: dict[str, OutcomeRecord] = {}
    async for entity in entities:
        record = entity_record(entity)
        kept = by_request.get(record.request_id)
        if kept is None or (record.stored_in == PARTITION and kept.stored_in != PARTITION):
            by_request[record.request_id] = record
    return query.page(list(by_request.values()))


# -- the index walk ---------------------------------------------------------------------


async def directory_buckets(table: TableClient) -> list[str]:
    """Every bucket the index's directory names."""
    entities = table.query_entities(
        "PartitionKey eq @directory and RowKey ge @first and RowKey lt @end",
        parameters={"directory": DIRECTORY, "first": BUCKET_ROW, "end": BUCKET_ROW_END},
        select=["RowKey"],
    )
    return [str(e["RowKey"]).removeprefix(BUCKET_ROW) async for e in entities]


async def _buckets(table: TableClient, query: RecordQuery) -> list[str]:
    kept = []
    for bucket in await directory_buckets(table):
        if query.since is not None and bucket_end(bucket) <= query.since:
            continue
        if query.until is not None and bucket_start(bucket) >= query.until:
            continue
        if query.after is not None and bucket_start(bucket) > query.after.received_at:
            continue
        kept.append(bucket)
    return sorted(kept, reverse=True)


def _in_window(row: IndexRow, query: RecordQuery) -> bool:
    return (
        (query.since is None or row.received_at >= query.since)
        and (query.until is None or row.received_at < query.until)
        and (query.after is None or RecordCursor(row.received_at, row.request_id) < query.after)
    )


async def _bucket_rows(
    table: TableClient, bucket: str, query: RecordQuery
) -> AsyncIterator[IndexRow]:
    """The bucket's rows in the query's window, newest first (ties in any order)."""
    # Inverted ticks: a later receivedAt is a smaller RowKey. ";" follows ":", so
    # "{ticks};" bounds every row of that tick.
    first, end = ROWS_FIRST, ROWS_END
    if query.after is not None:
        first = max(first, inverted_ticks(query.after.received_at))
    if query.until is not None:
        first = max(first, inverted_ticks(query.until) + ";")
    if query.since is not None:
        end = min(end, inverted_ticks(query.since) + ";")
    parameters: dict[str, Any] = {"partition": bucket_partition(bucket), "first": first, "end": end}
    terms = ["PartitionKey eq @partition", "RowKey ge @first", "RowKey lt @end"]
    if query.outcomes:
        wanted = {o.value for o in query.outcomes} | {o.value for o in UNSETTLED}
        terms.append(_outcome_terms(sorted(wanted), parameters))
    if query.orchestrator is not None:
        terms.append("Orchestrator eq @orchestrator")
        parameters["orchestrator"] = query.orchestrator
    entities = table.query_entities(
        " and ".join(terms),
        parameters=parameters,
        select=COLUMNS,
        results_per_page=min(1000, max(2 * query.limit, 50)),
    )
    async for entity in entities:
        row = IndexRow.from_entity(entity)
        if _in_window(row, query):
            yield row


async def _record(table: TableClient, row: IndexRow) -> OutcomeRecord | None:
    # Its row in the instance partition wins once it exists; else its intake entity.
    if row.instance_id:
        try:
            return entity_record(
                await table.get_entity(row.instance_id, REQUEST_ROW + row.request_id)
            )
        except ResourceNotFoundError:
            pass
    try:
        return entity_record(await table.get_entity(row.request_id, ROW))
    except ResourceNotFoundError:
        return None


async def _confirm(
    table: TableClient,
    rows: list[IndexRow],
    query: RecordQuery,
    index: IndexWriter,
    found: dict[str, OutcomeRecord],
) -> None:
    """Read each row's record; keep those the query matches; repair rows that disagree."""
    gate = asyncio.Semaphore(READS_AT_ONCE)

    async def read(row: IndexRow) -> OutcomeRecord | None:
        async with gate:
            return await _record(table, row)

    records = await asyncio.gather(*(read(row) for row in rows))
    for row, record in zip(rows, records, strict=True):
        if record is None:
            index.note_removed(row)
            continue
        actual = IndexRow.of(record)
        if actual != row:
            index.note(record)
            if actual.keys != row.keys:
                index.note_removed(row)
        if query.matches(record):
            found.setdefault(record.request_id, record)


async def _walk(table: TableClient, query: RecordQuery, index: IndexWriter) -> list[OutcomeRecord]:
    found: dict[str, OutcomeRecord] = {}
    for bucket in await _buckets(table, query):
        batch: list[IndexRow] = []
        async for row in _bucket_rows(table, bucket, query):
            # A batch ends between two ticks, so whatever follows it is strictly older.
            if (
                batch
                and len(found) + len(batch) >= query.limit
                and row.received_at != batch[-1].received_at
            ):
                await _confirm(table, batch, query, index, found)
                batch = []
                if len(found) >= query.limit:
                    break
            batch.append(row)
        if batch:
            await _confirm(table, batch, query, index, found)
        if len(found) >= query.limit:
            break
    return query.page(list(found.values()))
