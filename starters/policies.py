"""Policies and the decision: a pure function of (existing status, policy, queue position).

Nothing here does I/O, reads a clock or draws a random number, so every combination of
status and policy can be tested exhaustively and the handler stays a thin shell around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class RuntimeStatus(str, Enum):
    """The Durable runtime statuses, spelled as the host spells them."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUSPENDED = "Suspended"
    CONTINUED_AS_NEW = "ContinuedAsNew"
    COMPLETED = "Completed"
    FAILED = "Failed"
    TERMINATED = "Terminated"
    CANCELED = "Canceled"


# Suspended and ContinuedAsNew count as running: the instance still owns its ID and a
# start_new on it would be refused (or, on old hosts, silently replace live work).
RUNNING_STATUSES = frozenset(
    {
        RuntimeStatus.PENDING,
        RuntimeStatus.RUNNING,
        RuntimeStatus.SUSPENDED,
        RuntimeStatus.CONTINUED_AS_NEW,
    }
)
FINISHED_STATUSES = frozenset(
    {
        RuntimeStatus.COMPLETED,
        RuntimeStatus.FAILED,
        RuntimeStatus.TERMINATED,
        RuntimeStatus.CANCELED,
    }
)


class OnRunning(str, Enum):
    """What to do when the instance ID is taken by a running instance."""

    REJECT = "reject"
    USE_EXISTING = "use-existing"
    FORWARD = "forward"
    REPLACE = "replace"
    QUEUE = "queue"


class OnFinished(str, Enum):
    """What to do when the instance ID belongs to a finished instance."""

    RESTART = "restart"
    RESTART_FAILED_ONLY = "restart-failed-only"
    REJECT = "reject"


# As Temporal's ALLOW_DUPLICATE_FAILED_ONLY: anything that did not complete successfully
# may run again.
UNSUCCESSFUL_STATUSES = frozenset(
    {RuntimeStatus.FAILED, RuntimeStatus.TERMINATED, RuntimeStatus.CANCELED}
)


class Action(str, Enum):
    START = "start"
    REJECT = "reject"
    USE_EXISTING = "use-existing"
    FORWARD = "forward"
    REPLACE = "replace"
    QUEUE = "queue"
    EXPIRE = "expire"


@dataclass(frozen=True)
class Policy:
    """The effective policy of one request: its own choice or the orchestrator's default."""

    on_running: OnRunning
    on_finished: OnFinished


@dataclass(frozen=True)
class QueuePosition:
    """Where a request stands among the queued requests of its instance ID.

    `ahead` counts earlier requests still queued for the same ID (they go first, so queued
    requests keep their arrival order); `expired` says the request has waited past its
    time-to-live.
    """

    ahead: int = 0
    expired: bool = False


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str


def decide(
    existing: RuntimeStatus | None,
    policy: Policy,
    queue: QueuePosition = QueuePosition(),
) -> Decision:
    """Decide what one start request does, given the status of its instance ID."""
    if queue.expired:
        return Decision(Action.EXPIRE, "the request waited in the queue past its time-to-live")
    waits_in_line = policy.on_running is OnRunning.QUEUE and queue.ahead > 0
    if existing is None:
        if waits_in_line:
            return Decision(Action.QUEUE, f"{queue.ahead} earlier queued request(s) go first")
        return Decision(Action.START, "no instance with this ID exists")
    if existing in RUNNING_STATUSES:
        return _decide_running(existing, policy.on_running)
    if waits_in_line:
        return Decision(Action.QUEUE, f"{queue.ahead} earlier queued request(s) go first")
    return _decide_finished(existing, policy.on_finished)


def _decide_running(existing: RuntimeStatus, on_running: OnRunning) -> Decision:
    state = f"the instance is {existing.value}"
    if on_running is OnRunning.REJECT:
        return Decision(Action.REJECT, f"{state} and onRunning is reject")
    if on_running is OnRunning.USE_EXISTING:
        return Decision(Action.USE_EXISTING, f"{state}; using it")
    if on_running is OnRunning.FORWARD:
        return Decision(Action.FORWARD, f"{state}; forwarding the input to it")
    if on_running is OnRunning.REPLACE:
        return Decision(Action.REPLACE, f"{state}; terminating it and starting anew")
    return Decision(Action.QUEUE, f"{state}; waiting for it to finish")


def _decide_finished(existing: RuntimeStatus, on_finished: OnFinished) -> Decision:
    state = f"the previous instance is {existing.value}"
    if on_finished is OnFinished.RESTART:
        return Decision(Action.START, f"{state}; restarting")
    if on_finished is OnFinished.RESTART_FAILED_ONLY:
        if existing in UNSUCCESSFUL_STATUSES:
            return Decision(Action.START, f"{state}; restarting (restart-failed-only)")
        return Decision(Action.REJECT, f"{state} and onFinished is restart-failed-only")
    return Decision(Action.REJECT, f"{state} and onFinished is reject")
