"""Listing outcome records in Table storage (the layout is in `_table_layout`).

By instance: one single-partition query on the instance's `request:` rows, filtered on
the server by outcome and receivedAt (the rows carry both as properties), sorted here
(Table storage returns a partition in RowKey order, that is by request ID).

Across instances: Table storage has no secondary index, so the query filters on the
server by receivedAt and RowKey kind across every partition: the service reads the whole
table on each page and returns the records in the time window (older than the cursor),
which are sorted here. A record that has a row in its instance's partition is also in its
intake entity (still `pending` there), so each request ID keeps its row. docs/http-api.md
says what this costs and how to narrow it.
"""

from __future__ import annotations

from typing import Any

from azure.data.tables.aio import TableClient

from ..outcomes import OutcomeRecord
from ..record_query import RecordQuery
from ._table_layout import PARTITION, REQUEST_ROW, REQUEST_ROW_END, ROW, entity_record, sortable


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


async def list_records(table: TableClient, query: RecordQuery) -> list[OutcomeRecord]:
    parameters: dict[str, Any] = {"first": REQUEST_ROW, "end": REQUEST_ROW_END}
    terms = _time_filter(query, parameters)
    if query.instance_id is not None:
        terms[:0] = ["PartitionKey eq @instance", "RowKey ge @first", "RowKey lt @end"]
        parameters["instance"] = query.instance_id
        outcomes = sorted(o.value for o in query.outcomes)
        if outcomes:
            terms.append(
                "( " + " or ".join(f"Outcome eq @outcome{i}" for i in range(len(outcomes))) + " )"
            )
            parameters.update({f"outcome{i}": value for i, value in enumerate(outcomes)})
    else:
        # Outcome is filtered here, not on the server: an intake entity says `pending`
        # after its row has moved on, and the row must be read to know.
        # The SDK substitutes only parameters set off by spaces.
        terms.insert(0, "( RowKey eq @intake or ( RowKey ge @first and RowKey lt @end ) )")
        parameters["intake"] = ROW
    entities = table.query_entities(" and ".join(terms), parameters=parameters)
    by_request: dict[str, OutcomeRecord] = {}
    async for entity in entities:
        record = entity_record(entity)
        kept = by_request.get(record.request_id)
        if kept is None or (record.stored_in == PARTITION and kept.stored_in != PARTITION):
            by_request[record.request_id] = record
    return query.page(list(by_request.values()))
