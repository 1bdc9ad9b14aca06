"""Where an outcome record lives in Table storage, and how it is laid out as an entity.

The *intake entity* (PartitionKey = request ID, RowKey `outcome`) and the request's row in
the *instance partition* (PartitionKey = instance ID, RowKey `request:{requestId}`) hold
the same entity layout; an instance's fence is the row `fence` beside them. Leases that
are not an instance's fence (and those of the earlier layout) are `lease:{name}` keys.

Bodies kept for `invalid` and `dead-lettered` records can reach 256 KB (a whole message),
over Table storage's 64 KiB per property: they are split over `Body0..BodyN` properties of
at most 30,000 characters each and joined on read, so nothing is cut (an entity may hold
1 MiB).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ..outcomes import Fence, OutcomeRecord
from ._codec import record_from_storage, record_to_storage

ROW = "outcome"
LEASE_ROW = "lease"
REQUEST_ROW = "request:"
# The next character after ":", so RowKey ge "request:" and lt "request;" is every request.
REQUEST_ROW_END = "request;"
FENCE_ROW = "fence"
INTAKE = "intake"
PARTITION = "instance"
INSTANCE_LEASE = "instance:"
BODY_CHUNK = 30_000


def sortable(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_entity(record: OutcomeRecord, version: int, *, in_partition: bool) -> dict[str, Any]:
    """The entity for `record` at `version`: its row in the instance partition, or else
    its intake entity."""
    data = record_to_storage(record)
    body = data.pop("body")
    entity: dict[str, Any] = {
        "PartitionKey": record.instance_id if in_partition else record.request_id,
        "RowKey": REQUEST_ROW + record.request_id if in_partition else ROW,
        "InstanceId": record.instance_id,
        "Outcome": record.outcome.value,
        "ReceivedAt": sortable(record.received_at),
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


def entity_record(entity: Mapping[str, Any]) -> OutcomeRecord:
    """The record an entity holds, with its ETag and which of its two places it was read
    from."""
    data = json.loads(entity["Data"])
    parts = int(entity.get("BodyParts") or 0)
    data["body"] = "".join(entity[f"Body{i}"] for i in range(parts)) if parts else None
    record = record_from_storage(data, int(entity["Version"]))
    return record.evolve(
        etag=entity.metadata.get("etag") if hasattr(entity, "metadata") else None,
        stored_in=PARTITION if str(entity["RowKey"]).startswith(REQUEST_ROW) else INTAKE,
    )


def lease_keys(name: str) -> tuple[str, str]:
    """The PartitionKey and RowKey of the lease `name`."""
    # An instance's fence lives in its partition, beside its requests' rows.
    if name.startswith(INSTANCE_LEASE):
        return name.removeprefix(INSTANCE_LEASE), FENCE_ROW
    return f"lease:{name}", LEASE_ROW


def lease_entity(partition: str, row: str, owner: str, until: datetime) -> dict[str, Any]:
    return {"PartitionKey": partition, "RowKey": row, "Owner": owner, "Until": sortable(until)}


def fence_entity(fence: Fence, partition: str) -> dict[str, Any]:
    return lease_entity(partition, FENCE_ROW, fence.owner, fence.until)
