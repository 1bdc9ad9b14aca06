"""The time index of the Table store's global listing, on a real Azurite: the layout, the
write-behind flush, the reader's repairs, records of the earlier layout, retention."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.data.tables.aio import TableClient

from starters.outcomes import Outcome, OutcomeRecord
from starters.record_query import RecordQuery
from starters.stores import round_trips
from starters.stores._table_layout import ROW, record_entity
from starters.stores.table import TableOutcomeStore
from starters.stores.table_client import counted
from starters.stores.table_index import (
    BUCKET_ROW,
    DIRECTORY,
    MARKER_ROW,
    IndexRow,
    bucket_of,
)
from tests.fakes import EPOCH
from tests.test_store_listing import every_page, ids, rec

_tables = itertools.count()
HOUR = 3600.0


def _new_store(connection: str) -> TableOutcomeStore:
    name = f"Index{next(_tables)}x{os.getpid()}"
    return TableOutcomeStore(
        TableClient.from_connection_string(connection, **counted(table_name=name))
    )


@pytest.fixture
async def store(azurite_table: str) -> AsyncIterator[TableOutcomeStore]:
    made = _new_store(azurite_table)
    yield made
    await made.close()


async def indexed(store: TableOutcomeStore) -> None:
    """Wait until the index is complete and everything noted is written."""
    await store.index.ready()
    await store.index.settled()
    assert await store.index.ready()


async def write(store: TableOutcomeStore, record: OutcomeRecord, *then: Outcome) -> OutcomeRecord:
    stored = await store.insert(record)
    for outcome in then:
        stored = await store.replace(stored.evolve(outcome=outcome, claim_token="t"))
    return stored


async def index_row(store: TableOutcomeStore, record: OutcomeRecord) -> Any:
    table = await store._table()
    found = [
        e
        async for e in table.query_entities(
            "PartitionKey eq @p and RowKey eq @r",
            parameters={"p": IndexRow.of(record).partition, "r": IndexRow.of(record).row_key},
        )
    ]
    return found[0] if found else None


async def seed(store: TableOutcomeStore) -> None:
    # Three hour buckets; c and d share a microsecond (ties by request ID, descending).
    await write(store, rec("a", 10), Outcome.STARTED)
    await write(store, rec("b", HOUR + 5, instance="job-2", orchestrator="other"))
    await write(store, rec("c", 2 * HOUR + 1), Outcome.REJECTED)
    await write(store, rec("d", 2 * HOUR + 1, instance="job-2"), Outcome.STARTED)
    await write(store, rec("e", 2 * HOUR + 7, instance="job-3"), Outcome.QUEUED)
    await indexed(store)


def test_index_keys_read_newest_first_and_cannot_collide() -> None:
    older, newer = rec("x", 1), rec("x", 2)
    assert IndexRow.of(newer).row_key < IndexRow.of(older).row_key
    assert IndexRow.of(older).partition == "~recent:" + bucket_of(older.received_at)
    # A request ID or an instance ID never starts with "~" (contract.py): no record's
    # partition is an index partition.
    assert not IndexRow.of(older).row_key.startswith(("outcome", "request:", "fence", "lease"))


async def test_the_global_listing_walks_the_buckets_newest_first(store: TableOutcomeStore) -> None:
    await seed(store)
    table = await store._table()
    buckets = [e["RowKey"] async for e in table.query_entities(f"PartitionKey eq '{DIRECTORY}'")]
    assert sorted(buckets) == sorted(
        [BUCKET_ROW + bucket_of(rec("-", s).received_at) for s in (10, HOUR + 5, 2 * HOUR + 1)]
        + [MARKER_ROW]
    )
    assert ids(await store.list_records(RecordQuery())) == ["e", "d", "c", "b", "a"]


async def test_filters_across_buckets(store: TableOutcomeStore) -> None:
    await seed(store)
    started = RecordQuery(outcomes=frozenset({Outcome.STARTED}))
    assert ids(await store.list_records(started)) == ["d", "a"]
    waiting = RecordQuery(outcomes=frozenset({Outcome.PENDING, Outcome.QUEUED}))
    assert ids(await store.list_records(waiting)) == ["e", "b"]
    assert ids(await store.list_records(RecordQuery(orchestrator="other"))) == ["b"]
    window = RecordQuery(
        since=EPOCH + timedelta(seconds=HOUR), until=EPOCH + timedelta(seconds=2 * HOUR + 7)
    )
    assert ids(await store.list_records(window)) == ["d", "c", "b"]


async def test_pages_follow_the_cursor_across_buckets(store: TableOutcomeStore) -> None:
    await seed(store)
    assert await every_page(store, 2) == ["e", "d", "c", "b", "a"]
    assert await every_page(store, 1) == ["e", "d", "c", "b", "a"]


async def test_bodies_come_from_the_record(store: TableOutcomeStore) -> None:
    await store.insert(rec("x", 5, outcome=Outcome.DEAD_LETTERED, body="{}"))
    await indexed(store)
    row = await index_row(store, rec("x", 5))
    assert row is not None and "Body0" not in row and "Data" not in row
    listed = await store.list_records(RecordQuery(outcomes=frozenset({Outcome.DEAD_LETTERED})))
    assert ids(listed) == ["x"] and listed[0].body == "{}"


async def test_the_index_is_written_behind_in_its_own_phase(store: TableOutcomeStore) -> None:
    await indexed(store)
    before = round_trips.counts()
    with round_trips.phase("intake"):
        stored = await store.insert(rec("w", 1))
    after_insert = round_trips.counts()
    assert after_insert.get("intake", 0) - before.get("intake", 0) == 1
    await store.index.settled()
    assert round_trips.counts().get("index", 0) > after_insert.get("index", 0)
    row = await index_row(store, stored)
    assert row is not None and row["Outcome"] == "pending" and row["InstanceId"] == "job-1"
    await store.replace(stored.evolve(outcome=Outcome.STARTED, claim_token="t"))
    await store.index.settled()
    assert (await index_row(store, stored))["Outcome"] == "started"


async def test_a_failed_flush_never_fails_a_write_and_is_retried(
    store: TableOutcomeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await indexed(store)
    table = await store._table()
    real = table.submit_transaction
    failures = 0

    async def flaky(operations: Any, **kwargs: Any) -> Any:
        nonlocal failures
        if failures < 2:
            failures += 1
            raise ServiceRequestError("the index partition is unreachable")
        return await real(operations, **kwargs)

    monkeypatch.setattr(table, "submit_transaction", flaky)
    stored = await store.insert(rec("f", 1))
    assert stored.outcome is Outcome.PENDING
    await store.index.settled()
    assert failures == 2
    assert (await index_row(store, stored)) is not None


async def test_a_lost_flush_is_repaired_by_the_next_write(azurite_table: str) -> None:
    crashed = _new_store(azurite_table)
    await indexed(crashed)
    stored = await crashed.insert(rec("l", 1))
    crashed.index._pending.clear()  # the process died before its flush
    await crashed.index.close()
    assert await index_row(crashed, stored) is None
    # Another process (its own store, its own buffer) decides the request.
    other = TableOutcomeStore(crashed._client)
    current = await other.get("l")
    assert current is not None
    await other.replace(current.evolve(outcome=Outcome.STARTED, claim_token="t"))
    await other.index.settled()
    assert (await index_row(other, stored))["Outcome"] == "started"
    assert ids(await other.list_records(RecordQuery(outcomes=frozenset({Outcome.STARTED})))) == [
        "l"
    ]
    await other.close()


async def test_the_reader_confirms_and_repairs_a_stale_outcome(store: TableOutcomeStore) -> None:
    stored = await write(store, rec("s", 1), Outcome.STARTED)
    await indexed(store)
    table = await store._table()
    # A crash lost the last flush: the index still says `pending`.
    await table.upsert_entity(IndexRow.of(stored.evolve(outcome=Outcome.PENDING)).entity())
    listed = await store.list_records(RecordQuery(outcomes=frozenset({Outcome.STARTED})))
    assert ids(listed) == ["s"] and listed[0].outcome is Outcome.STARTED
    await store.index.settled()
    assert (await index_row(store, stored))["Outcome"] == "started"


async def test_a_row_whose_record_is_gone_is_removed_by_the_reader(
    store: TableOutcomeStore,
) -> None:
    await indexed(store)
    table = await store._table()
    ghost = rec("ghost", 1)
    await table.upsert_entity(IndexRow.of(ghost).entity())
    await table.upsert_entity(
        {"PartitionKey": DIRECTORY, "RowKey": BUCKET_ROW + bucket_of(ghost.received_at)}
    )
    assert ids(await store.list_records(RecordQuery())) == []
    await store.index.settled()
    assert await index_row(store, ghost) is None


async def test_records_of_the_earlier_layout_are_scanned_then_backfilled(
    azurite_table: str,
) -> None:
    store = _new_store(azurite_table)
    try:
        table = await store._table()
        old = rec("old", 1, outcome=Outcome.STARTED)
        await table.create_entity(record_entity(old, 3, in_partition=False))
        old_pending = rec("old-p", 2, instance="job-9")
        await table.create_entity(record_entity(old_pending, 1, in_partition=False))
        # Before the backfill has run the listing is the scan, which finds them.
        listed = await store.list_records(RecordQuery())
        assert ids(listed) == ["old-p", "old"] and listed[1].outcome is Outcome.STARTED
        await indexed(store)
        marker = await table.get_entity(DIRECTORY, MARKER_ROW)
        assert marker["Backfilled"] is True
        assert (await index_row(store, old))["Outcome"] == "started"
        assert (await index_row(store, old_pending))["Outcome"] == "pending"
        await store.insert(rec("new", 3))
        assert ids(await store.list_records(RecordQuery())) == ["new", "old-p", "old"]
        started = RecordQuery(outcomes=frozenset({Outcome.STARTED}))
        assert ids(await store.list_records(started)) == ["old"]
    finally:
        await store.close()


async def test_purge_removes_index_rows_and_empty_buckets(store: TableOutcomeStore) -> None:
    await write(store, rec("gone", 10), Outcome.STARTED)
    await write(store, rec("waits", 20, instance="job-2"))
    await write(store, rec("later", 2 * HOUR), Outcome.STARTED)
    await write(store, rec("alone", HOUR + 1, instance="job-3"), Outcome.REJECTED)
    await indexed(store)
    purged = await store.purge_decided_before(EPOCH + timedelta(seconds=2 * HOUR))
    assert purged == 2
    assert await index_row(store, rec("gone", 10)) is None
    assert await index_row(store, rec("alone", HOUR + 1, instance="job-3")) is None
    table = await store._table()
    buckets = {
        e["RowKey"]
        async for e in table.query_entities(
            "PartitionKey eq @d and RowKey ne @m", parameters={"d": DIRECTORY, "m": MARKER_ROW}
        )
    }
    # The first hour keeps its pending record; the second lost its only one.
    assert buckets == {
        BUCKET_ROW + bucket_of(EPOCH),
        BUCKET_ROW + bucket_of(EPOCH + timedelta(seconds=2 * HOUR)),
    }
    assert ids(await store.list_records(RecordQuery())) == ["later", "waits"]
    assert (await table.get_entity("waits", ROW))["Outcome"] == "pending"
