"""The outcome stores' shared contract: every store passes the same tests."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from starters.outcomes import (
    Attempt,
    Fence,
    Intent,
    IntentAction,
    Outcome,
    OutcomeRecord,
    RecordExists,
    VersionConflict,
)
from starters.ports import OutcomeStore
from starters.stores.sqlite import SqliteOutcomeStore
from tests.fakes import EPOCH


def record(request_id: str = "r1", **changes: object) -> OutcomeRecord:
    base = OutcomeRecord(
        request_id=request_id,
        instance_id="job-1",
        orchestrator="long_job",
        outcome=Outcome.PENDING,
        received_at=EPOCH,
        fingerprint="f" * 64,
    )
    return base.evolve(**changes)


async def test_insert_then_get_returns_every_field(store: OutcomeStore) -> None:
    full = record(
        reason="why",
        existing_status="Running",
        decided_at=EPOCH + timedelta(seconds=1),
        delivery_count=3,
        body='{"x": 1}',
        attempt=2,
        claim_token="t",
        claim_until=EPOCH + timedelta(seconds=30),
        intent=Intent(IntentAction.START, "2026-01-01T00:00:00+00:00"),
        wake_at=EPOCH + timedelta(seconds=2),
        attempts=(Attempt(1, EPOCH, "rescheduled: ConnectionError"), Attempt(2, EPOCH, "queued")),
    )
    stored = await store.insert(full)
    assert stored.version == 1
    assert await store.get("r1") == full
    assert await store.get("missing") is None


async def test_insert_is_conditional(store: OutcomeStore) -> None:
    await store.insert(record(reason="first"))
    with pytest.raises(RecordExists) as caught:
        await store.insert(record(reason="second"))
    assert caught.value.existing.reason == "first"
    stored = await store.get("r1")
    assert stored is not None and stored.reason == "first"


async def test_replace_is_conditional_on_the_version(store: OutcomeStore) -> None:
    first = await store.insert(record())
    decided = await store.replace(first.evolve(outcome=Outcome.STARTED))
    assert decided.version == first.version + 1
    with pytest.raises(VersionConflict):
        await store.replace(first.evolve(outcome=Outcome.REJECTED))  # a stale writer
    stored = await store.get("r1")
    assert stored is not None and stored.outcome is Outcome.STARTED
    with pytest.raises(VersionConflict):
        await store.replace(record("never-inserted"))


async def test_delete_is_conditional_on_the_version(store: OutcomeStore) -> None:
    first = await store.insert(record())
    changed = await store.replace(first.evolve(reason="changed"))
    assert not await store.delete(first)
    assert await store.get("r1") is not None
    assert await store.delete(changed)
    assert await store.get("r1") is None
    assert not await store.delete(changed)


async def test_queued_for_lists_one_instance_oldest_first(store: OutcomeStore) -> None:
    later = EPOCH + timedelta(seconds=5)
    await store.insert(record("b", outcome=Outcome.QUEUED, received_at=later))
    await store.insert(record("a", outcome=Outcome.QUEUED, received_at=EPOCH))
    await store.insert(record("c", outcome=Outcome.QUEUED, received_at=later))
    await store.insert(record("d", outcome=Outcome.STARTED))
    await store.insert(record("e", outcome=Outcome.QUEUED, instance_id="other"))
    assert [r.request_id for r in await store.queued_for("job-1")] == ["a", "b", "c"]


async def test_leases_exclude_other_owners_until_they_expire(store: OutcomeStore) -> None:
    until = EPOCH + timedelta(seconds=30)
    assert await store.acquire_lease("instance:job-1", "A", until, EPOCH)
    assert await store.acquire_lease("instance:job-1", "A", until, EPOCH)  # renewal
    assert not await store.acquire_lease("instance:job-1", "B", until, EPOCH)
    assert await store.acquire_lease("instance:job-2", "B", until, EPOCH)
    await store.release_lease("instance:job-1", "B")  # not B's: no effect
    assert not await store.acquire_lease("instance:job-1", "B", until, EPOCH)
    expired = EPOCH + timedelta(seconds=31)
    assert await store.acquire_lease(
        "instance:job-1", "B", expired + timedelta(seconds=30), expired
    )
    await store.release_lease("instance:job-1", "B")
    assert await store.acquire_lease("instance:job-1", "C", until, EPOCH)


async def test_sqlite_records_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "outcomes.db"
    first = SqliteOutcomeStore(path)
    await first.insert(record(outcome=Outcome.STARTED, reason="kept"))
    await first.close()
    second = SqliteOutcomeStore(path)
    stored = await second.get("r1")
    await second.close()
    assert stored is not None and stored.reason == "kept"


async def test_sqlite_conditional_writes_hold_across_connections(tmp_path: Path) -> None:
    # Two processes (or two host instances) on one file: the version guard still decides.
    one, two = SqliteOutcomeStore(tmp_path / "o.db"), SqliteOutcomeStore(tmp_path / "o.db")
    inserted = await one.insert(record())
    seen_by_two = await two.get("r1")
    assert seen_by_two is not None
    await one.replace(inserted.evolve(outcome=Outcome.STARTED))
    with pytest.raises(VersionConflict):
        await two.replace(seen_by_two.evolve(outcome=Outcome.REJECTED))
    assert await one.acquire_lease("l", "A", EPOCH + timedelta(seconds=9), EPOCH)
    assert not await two.acquire_lease("l", "B", EPOCH + timedelta(seconds=9), EPOCH)
    await one.close()
    await two.close()


async def test_a_whole_message_body_is_kept(store: OutcomeStore) -> None:
    # 250 KB: over Table storage's 64 KiB per property, under a Standard message's 256 KB.
    body = '{"input": "' + "é" * 125_000 + "x" * 5 + '"}'
    await store.insert(record(outcome=Outcome.INVALID, body=body))
    stored = await store.get("r1")
    assert stored is not None and stored.body == body


async def test_retention_purges_old_decided_records_only(store: OutcomeStore) -> None:
    old = EPOCH - timedelta(days=30)
    await store.insert(record("old-started", outcome=Outcome.STARTED, received_at=old))
    await store.insert(record("old-invalid", outcome=Outcome.INVALID, received_at=old))
    await store.insert(record("old-queued", outcome=Outcome.QUEUED, received_at=old))
    await store.insert(record("old-pending", outcome=Outcome.PENDING, received_at=old))
    await store.insert(record("new-started", outcome=Outcome.STARTED, received_at=EPOCH))
    assert await store.purge_decided_before(EPOCH - timedelta(days=7)) == 2
    assert await store.get("old-started") is None and await store.get("old-invalid") is None
    for kept in ("old-queued", "old-pending", "new-started"):
        assert await store.get(kept) is not None


# -- the fresh path's two round trips ---------------------------------------------------


def _fence(owner: str, seconds: float = 30) -> Fence:
    return Fence.for_instance("job-1", owner, EPOCH + timedelta(seconds=seconds), EPOCH)


def _claim(token: str = "t1", **changes: object) -> OutcomeRecord:
    return record(
        claim_token=token,
        claim_until=EPOCH + timedelta(seconds=30),
        intent=Intent(IntentAction.START, None),
        **changes,
    )


async def test_begin_claims_the_intake_record_and_takes_the_fence(store: OutcomeStore) -> None:
    received = EPOCH - timedelta(seconds=3)
    await store.insert(record(received_at=received))
    # The claim carries intake's receivedAt (the message's `recordedAt`).
    begun = await store.begin(_claim(received_at=received), _fence("t1"), recorded=True)
    assert begun is not None and begun.claim_token == "t1"
    assert begun.received_at == received
    stored = await store.get("r1")
    assert stored is not None and stored.claim_token == "t1" and stored.intent is not None
    assert not await store.acquire_lease("instance:job-1", "other", EPOCH + timedelta(1), EPOCH)
    decided = await store.finish(
        stored.evolve(outcome=Outcome.STARTED, claim_token=None, intent=None), _fence("t1")
    )
    assert decided.outcome is Outcome.STARTED
    final = await store.get("r1")
    assert final is not None and final.outcome is Outcome.STARTED and final.claim_token is None
    assert await store.acquire_lease("instance:job-1", "other", EPOCH + timedelta(1), EPOCH)


async def test_begin_refuses_a_touched_record_or_a_held_fence(store: OutcomeStore) -> None:
    await store.insert(record())
    assert await store.begin(_claim("t1"), _fence("t1"), recorded=True) is not None
    # A redelivery (another token) finds the record claimed: nothing written.
    assert await store.begin(_claim("t2"), _fence("t2"), recorded=True) is None
    stored = await store.get("r1")
    assert stored is not None and stored.claim_token == "t1"
    # Another request for the same instance finds the fence held.
    await store.insert(record("r2"))
    assert await store.begin(_claim("t3", request_id="r2"), _fence("t3"), recorded=True) is None
    other = await store.get("r2")
    assert other is not None and other.claim_token is None


async def test_finish_is_conditional_and_keeps_the_fence_on_conflict(store: OutcomeStore) -> None:
    await store.insert(record())
    begun = await store.begin(_claim(), _fence("t1"), recorded=True)
    assert begun is not None
    moved = await store.replace(begun.evolve(reason="someone else"))
    with pytest.raises(VersionConflict):
        await store.finish(begun.evolve(outcome=Outcome.STARTED), _fence("t1"))
    current = await store.get("r1")
    assert current is not None and current.reason == "someone else"
    assert current.version == moved.version


async def test_a_queued_record_is_in_its_instances_backlog_after_a_claim(
    store: OutcomeStore,
) -> None:
    await store.insert(record("q1"))
    claimed = await store.get("q1")
    assert claimed is not None
    await store.replace(claimed.evolve(outcome=Outcome.QUEUED))
    assert [r.request_id for r in await store.queued_for("job-1")] == ["q1"]
    assert await store.queued_for("job-2") == []
