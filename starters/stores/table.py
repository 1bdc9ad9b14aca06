"""Outcome records in Azure Table storage (`azure-data-tables`), in the app's storage account.

Two places, so that the handler's writes are one entity group transaction each:

- the *intake entity* (PartitionKey = request ID, RowKey `outcome`): written once, by
  intake (`pending`) or by a record decided at once (`invalid`, `dead-lettered`); it holds
  the instance ID, so a lookup by request ID finds the rest;
- the *instance partition* (PartitionKey = instance ID): the request's working record
  (RowKey `request:{requestId}`) and the instance's fence (RowKey `fence`). The handler's
  claim, intent and fence are one transaction in it, its decision and the fence's release
  another, and an instance's backlog is one single-partition query.

A record is read from the intake entity and, while that one is not final, from its row in
the instance partition, which wins once it exists. The first change to a record only in
the intake entity creates its row (so records and leases written by the earlier layout,
one entity per request and `lease:` keys, are still read and move on their next write:
docs/delivery.md). Every write is conditional on an ETag or on the row's absence, so two
writers never overwrite a decision.

A time index for the listing across instances is written behind these writes, off their
path (`table_index`, `table_index_writer`); the listings are in `table_listing`. The
entity layout and keys are in `_table_layout`; the client from settings in
`table_client`.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient

from ..outcomes import (
    Fence,
    Outcome,
    OutcomeRecord,
    RecordExists,
    VersionConflict,
)
from ..record_query import RecordQuery
from ._table_layout import (
    BODY_CHUNK,
    FENCE_ROW,
    INSTANCE_LEASE,
    INTAKE,
    LEASE_ROW,
    PARTITION,
    REQUEST_ROW,
    REQUEST_ROW_END,
    ROW,
    entity_record,
    fence_entity,
    lease_entity,
    lease_keys,
    record_entity,
    sortable,
)
from .table_client import (
    DEVELOPMENT_STORAGE,
    RoundTripPolicy,
    counted,
    table_client_from_settings,
)
from .table_index import BUCKET_ROW, DIRECTORY, IndexRow, bucket_end, bucket_partition
from .table_index_writer import IndexWriter
from .table_listing import directory_buckets, list_records

DEFAULT_TABLE = "StartOutcomes"
# The old private names, kept for whoever imported them from here.
_INSTANCE_LEASE = INSTANCE_LEASE
_sortable = sortable

__all__ = [
    "BODY_CHUNK",
    "DEFAULT_TABLE",
    "DEVELOPMENT_STORAGE",
    "FENCE_ROW",
    "INTAKE",
    "LEASE_ROW",
    "PARTITION",
    "REQUEST_ROW",
    "REQUEST_ROW_END",
    "ROW",
    "RoundTripPolicy",
    "TableOutcomeStore",
    "counted",
    "table_client_from_settings",
]


class TableOutcomeStore:
    # Throttling, timeouts and unreachable endpoints: what an outage of Table storage raises.
    transient_errors: tuple[type[Exception], ...] = (AzureError,)

    def __init__(self, client: TableClient) -> None:
        self._client = client
        self._ready = False
        # The ETag of each fence this process took with `begin`, so `finish` releases it in
        # its own transaction without reading it first.
        self._fences: dict[tuple[str, str], str] = {}
        self.index = IndexWriter(self._table)

    async def _table(self) -> TableClient:
        if not self._ready:
            with contextlib.suppress(ResourceExistsError):
                await self._client.create_table()
            self._ready = True
        return self._client

    # -- entities ---------------------------------------------------------------------

    async def _entity_or_none(self, partition: str, row: str) -> Any:
        table = await self._table()
        try:
            return await table.get_entity(partition, row)
        except ResourceNotFoundError:
            return None

    async def get(self, request_id: str) -> OutcomeRecord | None:
        intake = await self._entity_or_none(request_id, ROW)
        if intake is None:
            return None
        record = entity_record(intake)
        if not record.instance_id:
            return record  # decided at once, under no instance: it has no other place
        row = await self._entity_or_none(record.instance_id, REQUEST_ROW + request_id)
        return entity_record(row) if row is not None else record

    async def insert(self, record: OutcomeRecord) -> OutcomeRecord:
        table = await self._table()
        try:
            metadata = await table.create_entity(record_entity(record, 1, in_partition=False))
        except ResourceExistsError:
            existing = await self.get(record.request_id)
            if existing is None:  # deleted in between: report it as a conflict all the same
                raise VersionConflict(record.request_id) from None
            raise RecordExists(existing) from None
        inserted = record.evolve(version=1, etag=metadata.get("etag"), stored_in=INTAKE)
        self.index.note(inserted)
        if record.outcome is not Outcome.PENDING and record.instance_id:
            # Never on the fresh-start path (intake inserts `pending`): a record decided at
            # once (invalid, dead-lettered) or queued must be where its instance's backlog
            # and listing are read, its partition.
            return await self.replace(inserted)
        return inserted

    async def replace(self, record: OutcomeRecord) -> OutcomeRecord:
        table = await self._table()
        if record.stored_in is None:
            # Built elsewhere from a read record's version: find where it lives.
            current = await self.get(record.request_id)
            if current is None or current.version != record.version:
                raise VersionConflict(record.request_id)
            record = record.evolve(etag=current.etag, stored_in=current.stored_in)
        in_partition = bool(record.instance_id)
        entity = record_entity(record, record.version + 1, in_partition=in_partition)
        try:
            if record.stored_in == INTAKE and in_partition:
                # The record's first change after intake: its row in the instance partition
                # is created, and exists from now on (its absence is the condition).
                metadata = await table.create_entity(entity)
            else:
                etag = record.etag
                if etag is None:
                    current = await self.get(record.request_id)
                    if current is None or current.version != record.version:
                        raise VersionConflict(record.request_id)
                    if current.stored_in == INTAKE and in_partition:
                        return await self.replace(record.evolve(stored_in=INTAKE))
                    etag = current.etag
                metadata = await table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceModifiedError, ResourceNotFoundError, ResourceExistsError):
            raise VersionConflict(record.request_id) from None
        except HttpResponseError as error:
            if error.status_code in (404, 409, 412):
                raise VersionConflict(record.request_id) from None
            raise
        stored = record.evolve(
            version=record.version + 1,
            etag=metadata.get("etag"),
            stored_in=PARTITION if in_partition else INTAKE,
        )
        self.index.note(stored)
        return stored

    async def delete(self, record: OutcomeRecord) -> bool:
        table = await self._table()
        current = await self.get(record.request_id)
        if current is None or current.version != record.version:
            return False
        try:
            if current.stored_in == PARTITION:
                await table.delete_entity(
                    current.instance_id,
                    REQUEST_ROW + current.request_id,
                    etag=current.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
                with contextlib.suppress(ResourceNotFoundError):
                    await table.delete_entity(current.request_id, ROW)
            else:
                await table.delete_entity(
                    record.request_id,
                    ROW,
                    etag=current.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        self.index.note_removed(IndexRow.of(current))
        return True

    # -- the handler's two transactions -------------------------------------------------

    async def begin(
        self, claim: OutcomeRecord, fence: Fence | None, *, recorded: bool = False
    ) -> OutcomeRecord | None:
        if not recorded:
            # Without intake's entity a lookup by request ID could not find the row: the
            # step-by-step path writes both.
            return None
        table = await self._table()
        operations: list[Any] = [("create", record_entity(claim, 2, in_partition=True))]
        if fence is not None:
            if fence.name != INSTANCE_LEASE + claim.instance_id:
                return None
            operations.append(("create", fence_entity(fence, claim.instance_id)))
        try:
            results = await table.submit_transaction(operations)
        except (TableTransactionError, ResourceExistsError):
            return None  # the row or a fence exists: not a fresh request
        except HttpResponseError as error:
            if error.status_code in (404, 409, 412):
                return None
            raise
        if fence is not None:
            self._fences[(fence.name, fence.owner)] = results[1]["etag"]
        claimed = claim.evolve(version=2, etag=results[0]["etag"], stored_in=PARTITION)
        self.index.note(claimed)
        return claimed

    async def finish(self, record: OutcomeRecord, fence: Fence) -> OutcomeRecord:
        fence_etag = self._fences.pop((fence.name, fence.owner), None)
        partition = fence.name.removeprefix(INSTANCE_LEASE)
        if (
            fence_etag is None
            or record.stored_in != PARTITION
            or record.etag is None
            or partition != record.instance_id
        ):
            stored = await self.replace(record)
            await self.release_lease(fence.name, fence.owner)
            return stored
        table = await self._table()
        entity = record_entity(record, record.version + 1, in_partition=True)
        operations: list[Any] = [
            (
                "update",
                entity,
                {
                    "mode": UpdateMode.REPLACE,
                    "etag": record.etag,
                    "match_condition": MatchConditions.IfNotModified,
                },
            ),
            (
                "delete",
                {"PartitionKey": partition, "RowKey": FENCE_ROW},
                {"etag": fence_etag, "match_condition": MatchConditions.IfNotModified},
            ),
        ]
        try:
            results = await table.submit_transaction(operations)
        except (TableTransactionError, HttpResponseError) as error:
            if isinstance(error, TableTransactionError) or error.status_code in (404, 409, 412):
                # The record changed (another handler's decision), or the fence did (it ran
                # out and another handler took it): write the decision and release alone.
                stored = await self.replace(record)
                await self.release_lease(fence.name, fence.owner)
                return stored
            raise
        decided = record.evolve(
            version=record.version + 1, etag=results[0]["etag"], stored_in=PARTITION
        )
        self.index.note(decided)
        return decided

    # -- queries ------------------------------------------------------------------------

    async def queued_for(self, instance_id: str) -> list[OutcomeRecord]:
        table = await self._table()
        entities = table.query_entities(
            "PartitionKey eq @instance and RowKey ge @first and RowKey lt @end"
            " and Outcome eq @queued",
            parameters={
                "instance": instance_id,
                "first": REQUEST_ROW,
                "end": REQUEST_ROW_END,
                "queued": Outcome.QUEUED.value,
            },
        )
        records = [entity_record(e) async for e in entities]
        return sorted(records, key=lambda r: (r.received_at, r.request_id))

    async def list_records(self, query: RecordQuery) -> list[OutcomeRecord]:
        return await list_records(await self._table(), query, self.index)

    async def purge_decided_before(self, cutoff: datetime) -> int:
        table = await self._table()
        entities = table.query_entities(
            "ReceivedAt lt @cutoff and Outcome ne @pending and Outcome ne @queued",
            parameters={
                "cutoff": sortable(cutoff),
                "pending": Outcome.PENDING.value,
                "queued": Outcome.QUEUED.value,
            },
        )
        # A record decided at once is in both its places, decided in both: one purge.
        purged: set[str] = set()
        async for entity in entities:
            row = str(entity["RowKey"])
            if row != ROW and not row.startswith(REQUEST_ROW):
                continue
            request_id = row.removeprefix(REQUEST_ROW) if row != ROW else entity["PartitionKey"]
            try:
                await table.delete_entity(
                    entity["PartitionKey"],
                    row,
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                continue
            purged.add(request_id)
            self.index.note_removed(IndexRow.of(entity_record(entity)))
            if row.startswith(REQUEST_ROW):  # its intake entity stayed `pending`
                with contextlib.suppress(ResourceNotFoundError):
                    await table.delete_entity(request_id, ROW)
        await self.index.flush()
        await self._drop_empty_buckets(table, cutoff)
        return len(purged)

    async def _drop_empty_buckets(self, table: TableClient, cutoff: datetime) -> None:
        # Only buckets wholly before the cutoff: no new record is received into them.
        for bucket in await directory_buckets(table):
            if bucket_end(bucket) > cutoff:
                continue
            rows = table.query_entities(
                "PartitionKey eq @partition",
                parameters={"partition": bucket_partition(bucket)},
                select=["RowKey"],
                results_per_page=1,
            )
            empty = True
            async for _ in rows:
                empty = False
                break
            if empty:
                with contextlib.suppress(ResourceNotFoundError):
                    await table.delete_entity(DIRECTORY, BUCKET_ROW + bucket)
                self.index.forget_bucket(bucket)

    # -- leases -----------------------------------------------------------------------

    async def acquire_lease(self, name: str, owner: str, until: datetime, now: datetime) -> bool:
        table = await self._table()
        partition, row = lease_keys(name)
        entity = lease_entity(partition, row, owner, until)
        current = await self._entity_or_none(partition, row)
        if current is None:
            try:
                await table.create_entity(entity)
                return True
            except ResourceExistsError:
                return False
        if current["Owner"] != owner and current["Until"] > sortable(now):
            return False
        try:
            await table.update_entity(
                entity,
                mode=UpdateMode.REPLACE,
                etag=current.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    async def release_lease(self, name: str, owner: str) -> None:
        table = await self._table()
        self._fences.pop((name, owner), None)
        partition, row = lease_keys(name)
        current = await self._entity_or_none(partition, row)
        if current is None or current["Owner"] != owner:
            return
        try:
            await table.delete_entity(
                partition,
                row,
                etag=current.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return

    async def close(self) -> None:
        await self.index.close()
        await self._client.close()
