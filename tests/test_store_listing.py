"""Listing records, newest first, on every store (Table storage on a real Azurite)."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

from azure.data.tables.aio import TableClient

from starters.outcomes import Outcome, OutcomeRecord
from starters.ports import OutcomeStore
from starters.record_query import RecordCursor, RecordQuery
from starters.stores._codec import record_to_storage
from starters.stores._table_layout import ROW, record_entity
from starters.stores.sqlite import SqliteOutcomeStore
from starters.stores.table import TableOutcomeStore
from starters.stores.table_client import counted
from tests.fakes import EPOCH


def rec(
    request_id: str, seconds: float, instance: str = "job-1", **changes: object
) -> OutcomeRecord:
    return OutcomeRecord(
        request_id=request_id,
        instance_id=instance,
        orchestrator="long_job",
        outcome=Outcome.PENDING,
        received_at=EPOCH + timedelta(seconds=seconds),
        fingerprint="f" * 64,
    ).evolve(**changes)


async def decide(store: OutcomeStore, request_id: str, outcome: Outcome) -> None:
    current = await store.get(request_id)
    assert current is not None
    await store.replace(current.evolve(outcome=outcome, decided_at=current.received_at))


async def accept_and_claim(store: OutcomeStore, record: OutcomeRecord) -> None:
    """What intake and the handler's claim write: a `pending` record, then its claim."""
    inserted = await store.insert(record)
    await store.replace(inserted.evolve(claim_token="token"))


def ids(records: list[OutcomeRecord]) -> list[str]:
    return [r.request_id for r in records]


async def seed(store: OutcomeStore) -> None:
    await accept_and_claim(store, rec("a", 1))
    await accept_and_claim(store, rec("b", 2, instance="job-2", orchestrator="other"))
    await accept_and_claim(store, rec("c", 3))
    await accept_and_claim(store, rec("d", 3))  # the same time as c: ties by request ID
    await accept_and_claim(store, rec("e", 4, instance="job-2"))
    await decide(store, "a", Outcome.STARTED)
    await decide(store, "e", Outcome.REJECTED)


async def test_everything_newest_first_ties_by_request_id(store: OutcomeStore) -> None:
    await seed(store)
    assert ids(await store.list_records(RecordQuery())) == ["e", "d", "c", "b", "a"]


async def test_filters_combine(store: OutcomeStore) -> None:
    await seed(store)
    assert ids(await store.list_records(RecordQuery(instance_id="job-1"))) == ["d", "c", "a"]
    assert ids(await store.list_records(RecordQuery(instance_id="job-3"))) == []
    started = RecordQuery(outcomes=frozenset({Outcome.STARTED}))
    assert ids(await store.list_records(started)) == ["a"]
    pending_or_rejected = RecordQuery(outcomes=frozenset({Outcome.PENDING, Outcome.REJECTED}))
    assert ids(await store.list_records(pending_or_rejected)) == ["e", "d", "c", "b"]
    job2_rejected = RecordQuery(instance_id="job-2", outcomes=frozenset({Outcome.REJECTED}))
    assert ids(await store.list_records(job2_rejected)) == ["e"]
    assert ids(await store.list_records(RecordQuery(orchestrator="other"))) == ["b"]
    window = RecordQuery(since=EPOCH + timedelta(seconds=2), until=EPOCH + timedelta(seconds=4))
    assert ids(await store.list_records(window)) == ["d", "c", "b"]


async def every_page(store: OutcomeStore, limit: int) -> list[str]:
    """The request IDs of every page, following the cursor."""
    seen: list[str] = []
    query = RecordQuery(limit=limit)
    while True:
        page = await store.list_records(query)
        seen += ids(page)
        if len(page) < limit:
            return seen
        query = RecordQuery(limit=limit, after=RecordCursor.of(page[-1]))


async def test_pages_follow_the_cursor_without_repeats_or_gaps(store: OutcomeStore) -> None:
    await seed(store)
    assert await every_page(store, 2) == ["e", "d", "c", "b", "a"]
    after_d = RecordQuery(instance_id="job-1", after=RecordCursor.of(rec("d", 3)))
    assert ids(await store.list_records(after_d)) == ["c", "a"]


async def test_a_record_decided_at_once_is_listed_under_its_instance(
    store: OutcomeStore,
) -> None:
    await store.insert(rec("x", 5, outcome=Outcome.DEAD_LETTERED, body="{}"))
    assert ids(await store.list_records(RecordQuery(instance_id="job-1"))) == ["x"]
    dead = RecordQuery(outcomes=frozenset({Outcome.DEAD_LETTERED}))
    listed = await store.list_records(dead)
    assert ids(listed) == ["x"] and listed[0].body == "{}"


async def test_an_accepted_request_is_listed_at_once_and_under_its_instance_once_claimed(
    store: OutcomeStore,
) -> None:
    await store.insert(rec("p", 1))
    assert ids(await store.list_records(RecordQuery())) == ["p"]
    by_instance = RecordQuery(instance_id="job-1")
    # Table storage keeps an unclaimed request in its intake entity only (one round trip
    # at intake); its instance's partition has it from the handler's claim on.
    expected = [] if isinstance(store, TableOutcomeStore) else ["p"]
    assert ids(await store.list_records(by_instance)) == expected
    claimed = await store.get("p")
    assert claimed is not None
    await store.replace(claimed.evolve(claim_token="token"))
    assert ids(await store.list_records(by_instance)) == ["p"]


async def test_sqlite_lists_a_database_created_before_the_listing_indexes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE outcomes (request_id TEXT PRIMARY KEY, instance_id TEXT NOT NULL,"
        " outcome TEXT NOT NULL, received_at TEXT NOT NULL, version INTEGER NOT NULL,"
        " data TEXT NOT NULL);"
    )
    old.execute(
        "INSERT INTO outcomes VALUES (?, ?, ?, ?, 1, ?)",
        (
            "old",
            "job-1",
            "started",
            "1970-01-01T00:00:01.000000Z",
            json.dumps(record_to_storage(rec("old", 1, outcome=Outcome.STARTED))),
        ),
    )
    old.commit()
    old.close()
    store = SqliteOutcomeStore(path)
    try:
        assert ids(await store.list_records(RecordQuery(instance_id="job-1"))) == ["old"]
        indexes = {
            row[0]
            for row in store._conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        assert {"outcomes_newest", "outcomes_by_instance_newest"} <= indexes
    finally:
        await store.close()


async def test_table_lists_records_of_the_earlier_layout(azurite_table: str) -> None:
    """The earlier layout kept one entity per request, today's intake entity: listed
    globally (instance listings read partitions, which such a record joins on its next
    write: docs/http-api.md)."""
    client = TableClient.from_connection_string(
        azurite_table, **counted(table_name="EarlierLayout")
    )
    store = TableOutcomeStore(client)
    try:
        table = await store._table()
        old = rec("old", 1, outcome=Outcome.STARTED)
        await table.create_entity(record_entity(old, 3, in_partition=False))
        assert (await table.get_entity("old", ROW))["Outcome"] == "started"
        await store.insert(rec("new", 2))
        listed = await store.list_records(RecordQuery())
        assert ids(listed) == ["new", "old"] and listed[1].outcome is Outcome.STARTED
    finally:
        await store.close()
