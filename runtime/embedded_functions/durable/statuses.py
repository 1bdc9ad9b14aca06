"""An orchestration instance's runtime status, as the host's `runtimeStatus` spells it."""

from __future__ import annotations

from enum import Enum


class RuntimeStatus(str, Enum):
    # Members are named as their values: a str Enum hashes by name, so a plain string
    # looks its status up in a set of members (`"Completed" in FINISHED`).
    Pending = "Pending"
    Running = "Running"
    Suspended = "Suspended"
    ContinuedAsNew = "ContinuedAsNew"
    Completed = "Completed"
    Failed = "Failed"
    Terminated = "Terminated"
    Canceled = "Canceled"

    def __str__(self) -> str:
        return self.value


RUNNING = frozenset(
    {
        RuntimeStatus.Pending,
        RuntimeStatus.Running,
        RuntimeStatus.Suspended,
        RuntimeStatus.ContinuedAsNew,
    }
)
FINISHED = frozenset(
    {
        RuntimeStatus.Completed,
        RuntimeStatus.Failed,
        RuntimeStatus.Terminated,
        RuntimeStatus.Canceled,
    }
)
