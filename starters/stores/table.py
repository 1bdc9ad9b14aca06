"""Outcome records in Azure Table storage (`azure-data-tables`), in the app's storage account.

One entity per request (PartitionKey = request ID), written conditionally on its ETag, so
two writers never overwrite a decision. Leases live in the same table under `lease:` keys.

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
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from ..functions.settings import SettingsError
from ..outcomes import (
    Fence,
    Outcome,
    OutcomeRecord,
    RecordExists,
    VersionConflict,
    as_begun,
    untouched_since_intake,
)
from ._codec import record_from_storage, record_to_storage

DEFAULT_TABLE = "StartOutcomes"
ROW = "outcome"
LEASE_ROW = "lease"
BODY_CHUNK = 30_000
# Azurite's well-known development account (public, documented; not a secret).
DEVELOPMENT_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
    "K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


def _sortable(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def table_client_from_settings(env: Mapping[str, str], table: str) -> TableClient:
    """A TableClient from the `AzureWebJobsStorage` settings, as the Functions host reads them:
    a connection string, `UseDevelopmentStorage=true` (Azurite), or identity-based
    `AzureWebJobsStorage__tableServiceUri` (or `__accountName`) with `__credential` and
    `__clientId`."""
    value = env.get("AzureWebJobsStorage", "").strip()
    if value:
        if value.replace(" ", "").lower() == "usedevelopmentstorage=true":
            value = DEVELOPMENT_STORAGE
        return TableClient.from_connection_string(value, table_name=table)
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
    return TableClient(endpoint, table_name=table, credential=credential)


class TableOutcomeStore:
    # Throttling, timeouts and unreachable endpoints: what an outage of Table storage raises.
    transient_errors: tuple[type[Exception], ...] = (AzureError,)

    def __init__(self, client: TableClient) -> None:
        self._client = client
        self._ready = False

    async def _table(self) -> TableClient:
        if not self._ready:
            with contextlib.suppress(ResourceExistsError):
                await self._client.create_table()
            self._ready = True
        return self._client

    # -- entities ---------------------------------------------------------------------

    @staticmethod
    def _entity(record: OutcomeRecord, version: int) -> dict[str, Any]:
        data = record_to_storage(record)
        body = data.pop("body")
        entity: dict[str, Any] = {
            "PartitionKey": record.request_id,
            "RowKey": ROW,
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
            etag=entity.metadata.get("etag") if hasattr(entity, "metadata") else None
        )

    async def get(self, request_id: str) -> OutcomeRecord | None:
        table = await self._table()
        try:
            entity = await table.get_entity(request_id, ROW)
        except ResourceNotFoundError:
            return None
        return self._record(entity)

    async def insert(self, record: OutcomeRecord) -> OutcomeRecord:
        table = await self._table()
        try:
            metadata = await table.create_entity(self._entity(record, 1))
        except ResourceExistsError:
            existing = await self.get(record.request_id)
            if existing is None:  # deleted in between: report it as a conflict all the same
                raise VersionConflict(record.request_id) from None
            raise RecordExists(existing) from None
        return record.evolve(version=1, etag=metadata.get("etag"))

    async def replace(self, record: OutcomeRecord) -> OutcomeRecord:
        table = await self._table()
        etag = record.etag
        if etag is None:
            current = await self.get(record.request_id)
            if current is None or current.version != record.version:
                raise VersionConflict(record.request_id)
            etag = current.etag
        try:
            metadata = await table.update_entity(
                self._entity(record, record.version + 1),
                mode=UpdateMode.REPLACE,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            raise VersionConflict(record.request_id) from None
        except HttpResponseError as error:
            if error.status_code in (404, 409, 412):
                raise VersionConflict(record.request_id) from None
            raise
        return record.evolve(version=record.version + 1, etag=metadata.get("etag"))

    async def delete(self, record: OutcomeRecord) -> bool:
        table = await self._table()
        current = await self.get(record.request_id)
        if current is None or current.version != record.version:
            return False
        try:
            await table.delete_entity(
                record.request_id,
                ROW,
                etag=current.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    async def begin(self, claim: OutcomeRecord, fence: Fence | None) -> OutcomeRecord | None:
        stored = await self.get(claim.request_id)
        if not untouched_since_intake(stored, claim):
            return None
        if fence is not None and not await self.acquire_lease(
            fence.name, fence.owner, fence.until, fence.now
        ):
            return None
        begun = as_begun(stored, claim)
        try:
            if stored is None:
                return await self.insert(begun)
            return await self.replace(begun.evolve(version=stored.version, etag=stored.etag))
        except (RecordExists, VersionConflict):
            if fence is not None:
                await self.release_lease(fence.name, fence.owner)
            return None

    async def finish(self, record: OutcomeRecord, fence: Fence) -> OutcomeRecord:
        stored = await self.replace(record)
        await self.release_lease(fence.name, fence.owner)
        return stored

    async def queued_for(self, instance_id: str) -> list[OutcomeRecord]:
        table = await self._table()
        entities = table.query_entities(
            "InstanceId eq @instance and Outcome eq @queued and RowKey eq @row",
            parameters={"instance": instance_id, "queued": Outcome.QUEUED.value, "row": ROW},
        )
        records = [self._record(e) async for e in entities]
        return sorted(records, key=lambda r: (r.received_at, r.request_id))

    async def purge_decided_before(self, cutoff: datetime) -> int:
        table = await self._table()
        entities = table.query_entities(
            "RowKey eq @row and ReceivedAt lt @cutoff"
            " and Outcome ne @pending and Outcome ne @queued",
            parameters={
                "row": ROW,
                "cutoff": _sortable(cutoff),
                "pending": Outcome.PENDING.value,
                "queued": Outcome.QUEUED.value,
            },
        )
        purged = 0
        async for entity in entities:
            try:
                await table.delete_entity(
                    entity["PartitionKey"],
                    ROW,
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
                purged += 1
            except (ResourceModifiedError, ResourceNotFoundError):
                continue
        return purged

    # -- leases -----------------------------------------------------------------------

    async def acquire_lease(self, name: str, owner: str, until: datetime, now: datetime) -> bool:
        table = await self._table()
        key = f"lease:{name}"
        entity = {
            "PartitionKey": key,
            "RowKey": LEASE_ROW,
            "Owner": owner,
            "Until": _sortable(until),
        }
        try:
            current = await table.get_entity(key, LEASE_ROW)
        except ResourceNotFoundError:
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
        key = f"lease:{name}"
        try:
            current = await table.get_entity(key, LEASE_ROW)
        except ResourceNotFoundError:
            return
        if current["Owner"] != owner:
            return
        try:
            await table.delete_entity(
                key,
                LEASE_ROW,
                etag=current.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return

    async def close(self) -> None:
        await self._client.close()
