"""What the client operations take and give: start modes, queries, errors, status JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .history import parse_time, status_time
from .payloads import parse_stored
from .store import InstanceRow

# An inbox item's kind.
START, EVENT, TERMINATE, SUSPEND, RESUME = "start", "event", "terminate", "suspend", "resume"


class StartMode(str, Enum):
    """How a start of an existing ID is checked.

    `azure-storage` (the default backend in Azure): the status is read, then the start is
    written, as DurableTask.AzureStorage does; two truly concurrent starts of one new ID
    can both be acknowledged while only the first input runs. `atomic` (MSSQL, Netherite,
    Durable Task Scheduler): check and write in one transaction.
    """

    AZURE_STORAGE = "azure-storage"
    ATOMIC = "atomic"


class UnknownOrchestrator(ValueError):
    pass


class InstanceExists(Exception):
    pass


class UnknownInstance(LookupError):
    pass


@dataclass
class ListQuery:
    created_from: str | None = None
    created_to: str | None = None
    statuses: list[str] | None = None
    prefix: str | None = None
    after: str | None = None
    limit: int | None = None
    show_input: bool = True


def status_json(row: InstanceRow, *, show_input: bool) -> dict[str, Any]:
    """The status payload of `GET instances/{id}`, shaped as the host's StatusResponsePayload."""
    return {
        "name": row.name,
        "instanceId": row.instance_id,
        "runtimeStatus": row.status,
        # The stored input parsed back (payloads.py): for the Python SDK's start, which
        # posts its input JSON-encoded, that is the input's JSON text.
        "input": parse_stored(row.input) if show_input else None,
        "customStatus": json.loads(row.custom_status) if row.custom_status else None,
        "output": json.loads(row.output) if row.output else None,
        "createdTime": status_time(parse_time(row.created_time)),
        "lastUpdatedTime": status_time(parse_time(row.last_updated_time)),
    }
