"""`runtimeStatus=` query values, parsed as HttpApiHandler parses them.

TryGetIEnumerableQueryParameterValue splits every value on `,` and keeps what
`Enum.TryParse` accepts: names case-sensitively (`running` is dropped), surrounding
whitespace ignored, and any integer (a defined value names its status, an undefined one
matches no instance). Unparseable values are dropped; if none is left there is no filter.
"""

from __future__ import annotations

from collections.abc import Iterable

from .statuses import RuntimeStatus

# OrchestrationRuntimeStatus (and DurableTask.Core's OrchestrationStatus): name -> value.
RUNTIME_STATUSES = {
    "Unknown": -1,
    RuntimeStatus.Running: 0,
    RuntimeStatus.Completed: 1,
    RuntimeStatus.ContinuedAsNew: 2,
    RuntimeStatus.Failed: 3,
    RuntimeStatus.Canceled: 4,
    RuntimeStatus.Terminated: 5,
    RuntimeStatus.Pending: 6,
    RuntimeStatus.Suspended: 7,
}
_BY_VALUE = {value: name for name, value in RUNTIME_STATUSES.items()}
# What an undefined number filters on: a status no instance has.
NO_STATUS = "#undefined"


def _parse_one(text: str) -> str | None:
    value = text.strip()
    if value in RUNTIME_STATUSES:
        return value
    try:
        number = int(value)
    except ValueError:
        return None
    return _BY_VALUE.get(number, NO_STATUS)


def parse_runtime_statuses(values: Iterable[str]) -> list[str] | None:
    """The statuses to filter on, or None for no filter."""
    parsed = [
        status
        for value in values
        for part in value.split(",")
        if (status := _parse_one(part)) is not None
    ]
    return parsed or None
