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

Bodies kept for `invalid` and `dead-lettered` records can reach 256 KB (a whole message),
over Table storage's 64 KiB per property: they are split over `Body0..BodyN` properties of
at most 30,000 characters each and joined on read, so nothing is cut (an entity may hold
1 MiB).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.data.tables import TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient

from ..functions.settings import SettingsError
from ..outcomes import (
    Fence,
    Outcome,
    OutcomeRecord,
    RecordExists,
    VersionConflict,
)
from ._codec import record_from_storage, record_to_storage
from .round_trips import round_trip

DEFAULT_TABLE = "StartOutcomes"
ROW = "outcome"
LEASE_ROW = "lease"
REQUEST_ROW = "request:"
# The next character after ":", so RowKey ge "request:" and lt "request;" is every request.
REQUEST_ROW_END = "request;"
FENCE_ROW = "fence"
INTAKE = "intake"
PARTITION = "instance"
_INSTANCE_LEASE = "instance:"
BODY_CHUNK = 30_000
# Azurite's well-known development account (public, documented; not a secret).
DEVELOPMENT_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
    "K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


def _sortable(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class RoundTripPolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Counts every HTTP request the Table client sends (retries included)."""

    def on_request(self, request: Any) -> None:
        round_trip()


def counted(**kwargs: Any) -> dict[str, Any]:
    """The TableClient keyword arguments that count its round trips."""
    return {"per_retry_policies": [RoundTripPolicy()], **kwargs}


def table_client_from_settings(env: Mapping[str, str], table: str) -> TableClient:
    """A TableClient from the `AzureWebJobsStorage` settings, as the Functions host reads them:
    a connection string, `UseDevelopmentStorage=true` (Azurite), or identity-based
    `AzureWebJobsStorage__tableServiceUri` (or `__accountName`) with `__credential` and
    `__clientId`."""
    value = env.get("AzureWebJobsStorage", "").strip()
    if value:
        if value.replace(" ", "").lower() == "usedevelopmentstorage=true":
            value = DEVELOPMENT_STORAGE
        return TableClient.from_connection_string(value, **counted(table_name=table))
    endpoint = env.get("AzureWebJobsStorage__tableServiceUri", "").strip()
    account = env.get("AzureWebJobsStorage__accountName", "").strip()
    if not endpoint and account:
        endpoint = f"https://{account}.table.core.windows.net"
    if not endpoint:
        raise SettingsError(
            "OUTCOME_STORE=table needs AzureWebJobsStorage (a connection string or "
            "UseDevelopmentStorage=true) or AzureWebJobsStorage__tableServiceUri"
        )
    from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

    client_id = env.get("AzureWebJobsStorage__clientId", "").strip() or None
    credential: Any
    if env.get("AzureWebJobsStorage__credential", "").strip().lower() == "managedidentity":
        credential = (
            ManagedIdentityCredential(client_id=client_id)
            if client_id
            else ManagedIdentityCredential()
        )
    else:
        credential = DefaultAzureCredential(managed_identity_client_id=client_id)
    return TableClient(endpoint, **counted(table_name=table, credential=credential))


class TableOutcomeStore:
    # Throttling, timeouts and unreachable endpoints: what an outage of Table storage raises.
    transient_errors: tuple[type[Exception], ...] = (AzureError,)

    def __init__(self, client: TableClient) -> None:
        self._client = client
        self._ready = False
        # The ETag of each fence this process took with `begin`, so `finish` releases it in
        # its own transaction without reading it first.
        self._fences: dict[tuple[str, str], str] = {}

    async def _table(self) -> TableClient:
        if not self._ready:
            with contextlib.suppress(ResourceExistsError):
                await self._client.create_table()
            self._ready = True
        return self._client

    # -- entities ---------------------------------------------------------------------

    @staticmethod
    def _entity(record: OutcomeRecord, version: int, *, in_partition: bool) -> dict[str, Any]:
        data = record_to_storage(record)
        body = data.pop("body")
        entity: dict[str, Any] = {
            "PartitionKey": record.instance_id if in_partition else record.request_id,
            "RowKey": REQUEST_ROW + record.request_id if in_partition else ROW,
            "InstanceId": record.instance_id,
            "Outcome": record.outcome.value,
            "ReceivedAt": _sortable(record.received_at),
            "Version": version,
            "Data": json.dumps(data),
            "BodyParts": 0,
        }
        if body is not None:
            parts = [body[i : i + BODY_CHUNK] for i in range(0, len(body), BODY_CHUNK)] or [""]
            entity["BodyParts"] = len(parts)
            for index, part in enumerate(parts):
                entity[f"Body{index}"] = part
        return entity

    @staticmethod
    def _record(entity: Mapping[str, Any]) -> OutcomeRecord:
        data = json.loads(entity["Data"])
        parts = int(entity.get("BodyParts") or 0)
        data["body"] = "".join(entity[f"Body{i}"] for i in range(parts)) if parts else None
        record = record_from_storage(data, int(entity["Version"]))
        return record.evolve(
            etag=entity.metadata.get("etag") if hasattr(entity, "metadata") else None,
            stored_in=PARTITION if str(entity["RowKey"]).startswith(REQUEST_ROW) else INTAKE,
        )

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
        record = self._record(intake)
        if not record.instance_id:
            return record  # decided at once, under no instance: it has no other place
        row = await self._entity_or_none(record.instance_id, REQUEST_ROW + request_id)
        return self._record(row) if row is not None else record

    async def insert(self, record: OutcomeRecord) -> OutcomeRecord:
        table = await self._table()
        try:
            metadata = await table.create_entity(self._entity(record, 1, in_partition=False))
        except ResourceExistsError:
            existing = await self.get(record.request_id)
            if existing is None:  # deleted in between: report it as a conflict all the same
                raise VersionConflict(record.request_id) from None
            raise RecordExists(existing) from None
        inserted = record.evolve(version=1, etag=metadata.get("etag"), stored_in=INTAKE)
        if record.outcome is Outcome.QUEUED and record.instance_id:
            # Never on the app's paths (intake inserts `pending`), but a queued record must
            # be where an instance's backlog is read.
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
        entity = self._entity(record, record.version + 1, in_partition=in_partition)
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
        return record.evolve(
            version=record.version + 1,
            etag=metadata.get("etag"),
            stored_in=PARTITION if in_partition else INTAKE,
        )

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
        operations: list[Any] = [("create", self._entity(claim, 2, in_partition=True))]
        if fence is not None:
            if fence.name != _INSTANCE_LEASE + claim.instance_id:
                return None
            operations.append(("create", self._fence_entity(fence, claim.instance_id)))
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
        return claim.evolve(version=2, etag=results[0]["etag"], stored_in=PARTITION)

    async def finish(self, record: OutcomeRecord, fence: Fence) -> OutcomeRecord:
        fence_etag = self._fences.pop((fence.name, fence.owner), None)
        partition = fence.name.removeprefix(_INSTANCE_LEASE)
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
        entity = self._entity(record, record.version + 1, in_partition=True)
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
        return record.evolve(
            version=record.version + 1, etag=results[0]["etag"], stored_in=PARTITION
        )

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
        records = [self._record(e) async for e in entities]
        return sorted(records, key=lambda r: (r.received_at, r.request_id))

    async def purge_decided_before(self, cutoff: datetime) -> int:
        table = await self._table()
        entities = table.query_entities(
            "ReceivedAt lt @cutoff and Outcome ne @pending and Outcome ne @queued",
            parameters={
                "cutoff": _sortable(cutoff),
                "pending": Outcome.PENDING.value,
                "queued": Outcome.QUEUED.value,
            },
        )
        purged = 0
        async for entity in entities:
            row = str(entity["RowKey"])
            if row != ROW and not row.startswith(REQUEST_ROW):
                continue
            try:
                await table.delete_entity(
                    entity["PartitionKey"],
                    row,
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                continue
            purged += 1
            if row.startswith(REQUEST_ROW):  # its intake entity stayed `pending`
                with contextlib.suppress(ResourceNotFoundError):
                    await table.delete_entity(row.removeprefix(REQUEST_ROW), ROW)
        return purged

    # -- leases -----------------------------------------------------------------------

    @staticmethod
    def _lease_keys(name: str) -> tuple[str, str]:
        # An instance's fence lives in its partition, beside its requests' rows.
        if name.startswith(_INSTANCE_LEASE):
            return name.removeprefix(_INSTANCE_LEASE), FENCE_ROW
        return f"lease:{name}", LEASE_ROW

    @staticmethod
    def _fence_entity(fence: Fence, partition: str) -> dict[str, Any]:
        return {
            "PartitionKey": partition,
            "RowKey": FENCE_ROW,
            "Owner": fence.owner,
            "Until": _sortable(fence.until),
        }

    async def acquire_lease(self, name: str, owner: str, until: datetime, now: datetime) -> bool:
        table = await self._table()
        partition, row = self._lease_keys(name)
        entity = {
            "PartitionKey": partition,
            "RowKey": row,
            "Owner": owner,
            "Until": _sortable(until),
        }
        current = await self._entity_or_none(partition, row)
        if current is None:
            try:
                await table.create_entity(entity)
                return True
            except ResourceExistsError:
                return False
        if current["Owner"] != owner and current["Until"] > _sortable(now):
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
        partition, row = self._lease_keys(name)
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
        await self._client.close()
