"""The time index's marker (`~recent`, RowKey `marker`): from when the index is complete.

`Since`: every record received from then on is noted by the process that writes it (the
writer's buffer); older records, written before any process kept the index, are the
backfill's. `Backfilled`: whether a backfill has gone through them all. Until it has,
the global listing keeps the earlier scan, which reads every record (table_listing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from ._table_layout import sortable
from .table_index import DIRECTORY, MARKER_ROW, parse_sortable


@dataclass(frozen=True)
class Marker:
    since: datetime
    backfilled: bool
    etag: str | None = None


async def read_marker(table: TableClient) -> Marker | None:
    try:
        entity = await table.get_entity(DIRECTORY, MARKER_ROW)
    except ResourceNotFoundError:
        return None
    return Marker(
        parse_sortable(str(entity["Since"])),
        bool(entity.get("Backfilled")),
        entity.metadata.get("etag"),
    )


async def ensure_marker(table: TableClient, since: datetime) -> Marker:
    """The marker, created with `since` if no process has written it yet."""
    entity = {
        "PartitionKey": DIRECTORY,
        "RowKey": MARKER_ROW,
        "Since": sortable(since),
        "Backfilled": False,
    }
    try:
        metadata = await table.create_entity(entity)
    except ResourceExistsError:
        found = await read_marker(table)
        if found is not None:
            return found
        return await ensure_marker(table, since)
    return Marker(since, False, metadata.get("etag"))


async def mark_backfilled(table: TableClient, marker: Marker) -> Marker:
    entity = {
        "PartitionKey": DIRECTORY,
        "RowKey": MARKER_ROW,
        "Since": sortable(marker.since),
        "Backfilled": True,
    }
    try:
        metadata = await table.update_entity(
            entity,
            mode=UpdateMode.REPLACE,
            etag=marker.etag,
            match_condition=MatchConditions.IfNotModified,
        )
    except (ResourceModifiedError, ResourceNotFoundError):
        # Another process's backfill finished first (or the marker changed): read it.
        found = await read_marker(table)
        return found if found is not None else Marker(marker.since, True)
    return Marker(marker.since, True, metadata.get("etag"))
