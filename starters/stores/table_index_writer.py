"""Writing the time index (`table_index`) behind the store's writes, never on their path.

Every store write that creates, changes or deletes a record notes the record's latest index
row in this buffer (a dict increment, no I/O); a background task flushes it about every
250 ms, and on close: the directory rows of new buckets first (so a reader never misses a
bucket that has rows), then one entity-group transaction per bucket partition with at most
100 upserts each; removals are single deletes. Its round trips are counted in the phase
`index`, never as intake or handler ones. A failed batch goes back into the buffer (unless
a newer note replaced it) and is retried with a back-off; after `MAX_ATTEMPTS` it is
dropped with a warning, and the reader's repair or the record's next write puts it right.
Nothing here ever raises into a request.

The first flush of a process also makes sure the marker exists (`table_index_marker`),
and starts the one-off backfill of older records if no process has finished it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from ..outcomes import OutcomeRecord
from .round_trips import phase
from .table_index import IndexRow, bucket_entity, bucket_of
from .table_index_backfill import backfill
from .table_index_marker import Marker, ensure_marker, mark_backfilled, read_marker

logger = logging.getLogger("starters.stores")

FLUSH_INTERVAL_S = 0.25
MAX_ATTEMPTS = 5
BATCH = 100  # the most operations an entity-group transaction takes
# Records written by a process of the earlier version shortly before this one started, or
# on a machine whose clock is behind, are still older than the marker: the backfill's.
MARKER_MARGIN = timedelta(hours=1)
_MAX_BACKOFF_S = 5.0
CACHED_BUCKETS = timedelta(hours=2)

Keys = tuple[str, str]


@dataclass(frozen=True)
class _Change:
    row: IndexRow
    removed: bool = False


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class IndexWriter:
    def __init__(
        self,
        table: Callable[[], Awaitable[TableClient]],
        *,
        interval: float = FLUSH_INTERVAL_S,
        started_at: datetime | None = None,
    ) -> None:
        self._table = table
        self._interval = interval
        self._started_at = started_at or datetime.now(timezone.utc)
        self._pending: dict[Keys, _Change] = {}
        self._attempts: dict[Keys, int] = {}
        self._buckets: set[str] = set()  # directory rows this process has written
        self._marker: Marker | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._backfill: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()
        self._flushing = False

    # -- noting -----------------------------------------------------------------------

    def note(self, record: OutcomeRecord) -> None:
        self._change(_Change(IndexRow.of(record)))

    def note_removed(self, row: IndexRow) -> None:
        self._change(_Change(row, removed=True))

    def _change(self, change: _Change) -> None:
        self._pending[change.row.keys] = change
        self._attempts.pop(change.row.keys, None)
        self._running()
        self._wake.set()

    def _running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # The asyncio primitives belong to one loop: a store used from a new loop
            # gets new ones (the buffer carries over).
            self._loop = loop
            self._lock = asyncio.Lock()
            self._wake = asyncio.Event()
            self._changed = asyncio.Condition()
            self._task = None
            self._backfill = None
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name="table-index-flush")

    # -- flushing ---------------------------------------------------------------------

    async def _run(self) -> None:
        with phase("index"):
            delay = self._interval
            while True:
                await self._wake.wait()
                self._wake.clear()
                await asyncio.sleep(delay)
                if await self.flush():
                    delay = self._interval
                else:
                    delay = min(delay * 2, _MAX_BACKOFF_S)
                    self._wake.set()

    async def flush(self) -> bool:
        """Write what is buffered; False if some of it failed (it stays buffered)."""
        self._running()
        with phase("index"):
            async with self._lock:
                self._flushing = True
                try:
                    return await self._flush_once()
                except Exception:  # never a request's failure: the buffer is retried
                    logger.warning("time index flush failed", exc_info=True)
                    return False
                finally:
                    self._flushing = False
                    async with self._changed:
                        self._changed.notify_all()

    async def _flush_once(self) -> bool:
        batch, self._pending = self._pending, {}
        try:
            table = await self._table()
            await self._prepare(table, batch.values())
            upserts = [c.row for c in batch.values() if not c.removed]
            await self._write_buckets(table, {row.bucket for row in upserts})
        except AzureError:
            self._retry(list(batch.values()))
            raise
        ok = True
        by_partition: dict[str, list[_Change]] = {}
        for change in batch.values():
            if not change.removed:
                by_partition.setdefault(change.row.partition, []).append(change)
        for partition, changes in by_partition.items():
            for chunk in _chunks(changes, BATCH):
                operations = [
                    ("upsert", c.row.entity(), {"mode": UpdateMode.REPLACE}) for c in chunk
                ]
                try:
                    await table.submit_transaction(operations)
                except AzureError:
                    logger.warning("time index: a batch for %s failed", partition, exc_info=True)
                    self._retry(chunk)
                    ok = False
        for change in (c for c in batch.values() if c.removed):
            try:
                with contextlib.suppress(ResourceNotFoundError):
                    await table.delete_entity(*change.row.keys)
            except AzureError:
                self._retry([change])
                ok = False
        return ok

    def _retry(self, changes: list[_Change]) -> None:
        for change in changes:
            keys = change.row.keys
            if keys in self._pending:
                continue  # a newer note replaced it
            attempts = self._attempts.get(keys, 0) + 1
            if attempts >= MAX_ATTEMPTS:
                logger.warning("time index: gave up on %s after %d attempts", keys, attempts)
                self._attempts.pop(keys, None)
                continue
            self._attempts[keys] = attempts
            self._pending[keys] = change

    async def write_rows(self, table: TableClient, rows: list[IndexRow]) -> None:
        """Upsert `rows` now (the backfill's writes); raises on failure."""
        await self._write_buckets(table, {row.bucket for row in rows})
        by_partition: dict[str, list[IndexRow]] = {}
        for row in rows:
            by_partition.setdefault(row.partition, []).append(row)
        for chunk_rows in by_partition.values():
            for chunk in _chunks(chunk_rows, BATCH):
                await table.submit_transaction(
                    [("upsert", row.entity(), {"mode": UpdateMode.REPLACE}) for row in chunk]
                )

    async def _write_buckets(self, table: TableClient, buckets: set[str]) -> None:
        new = sorted(buckets - self._buckets)
        # Only recent buckets are remembered: retention may drop an old one's directory row
        # once it is empty, and a later write into it must write that row again.
        recent = bucket_of(datetime.now(timezone.utc) - CACHED_BUCKETS)
        for chunk in _chunks(new, BATCH):
            await table.submit_transaction(
                [("upsert", bucket_entity(b), {"mode": UpdateMode.REPLACE}) for b in chunk]
            )
            self._buckets.update(b for b in chunk if b >= recent)

    def forget_bucket(self, bucket: str) -> None:
        self._buckets.discard(bucket)

    # -- the marker and the backfill ----------------------------------------------------

    async def _prepare(self, table: TableClient, changes: Iterable[_Change]) -> None:
        if self._marker is not None:
            return
        earliest = min([c.row.received_at for c in changes] + [self._started_at - MARKER_MARGIN])
        marker = await ensure_marker(table, earliest)
        self._marker = marker
        if not marker.backfilled:
            self._start_backfill(marker)

    def _start_backfill(self, marker: Marker) -> None:
        if self._backfill is not None:
            return
        assert self._loop is not None
        self._backfill = self._loop.create_task(
            self._run_backfill(marker), name="table-index-backfill"
        )

    async def _run_backfill(self, marker: Marker) -> None:
        with phase("index"):
            delay = 1.0
            while True:
                try:
                    table = await self._table()
                    count = await backfill(table, marker.since, self.write_rows)
                    self._marker = await mark_backfilled(table, marker)
                    logger.info("time index: backfilled %d older records", count)
                    break
                except Exception:
                    logger.warning("time index backfill failed; retrying", exc_info=True)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 60.0)
            async with self._changed:
                self._changed.notify_all()

    async def ready(self) -> bool:
        """Whether the index is complete (its backfill has run), so a reader may use it.
        If not, starts what makes it so."""
        if self._marker is None:
            await self.flush()  # the first flush writes the marker
        if self._marker is None:
            return False
        if not self._marker.backfilled:
            found = await read_marker(await self._table())  # another process's backfill?
            if found is not None:
                self._marker = found
            if not self._marker.backfilled:
                self._start_backfill(self._marker)
        return self._marker.backfilled

    # -- waiting and closing ------------------------------------------------------------

    async def settled(self) -> None:
        """Returns once nothing is buffered or being flushed and the backfill, if any, has
        run (for tests and shutdown: an event, not a timer)."""
        self._running()
        async with self._changed:
            await self._changed.wait_for(
                lambda: (
                    not self._pending
                    and not self._flushing
                    and (self._backfill is None or self._backfill.done())
                )
            )

    async def close(self) -> None:
        tasks = [t for t in (self._task, self._backfill) if t is not None]
        if self._loop is asyncio.get_running_loop() or self._loop is None:
            if self._pending:
                await self.flush()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._backfill = None
