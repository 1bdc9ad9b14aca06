"""The decision table: every status (and no instance) against every policy."""

from __future__ import annotations

import itertools

import pytest

from starters.policies import (
    Action,
    OnFinished,
    OnRunning,
    Policy,
    QueuePosition,
    RuntimeStatus,
    decide,
)

S = RuntimeStatus
RUNNING = [S.PENDING, S.RUNNING, S.SUSPENDED, S.CONTINUED_AS_NEW]
FINISHED = [S.COMPLETED, S.FAILED, S.TERMINATED, S.CANCELED]

# Written out by hand, not derived from the code under test.
ON_RUNNING_ACTION = {
    OnRunning.REJECT: Action.REJECT,
    OnRunning.USE_EXISTING: Action.USE_EXISTING,
    OnRunning.FORWARD: Action.FORWARD,
    OnRunning.REPLACE: Action.REPLACE,
    OnRunning.QUEUE: Action.QUEUE,
}
ON_FINISHED_ACTION = {
    (S.COMPLETED, OnFinished.RESTART): Action.START,
    (S.FAILED, OnFinished.RESTART): Action.START,
    (S.TERMINATED, OnFinished.RESTART): Action.START,
    (S.CANCELED, OnFinished.RESTART): Action.START,
    (S.COMPLETED, OnFinished.RESTART_FAILED_ONLY): Action.REJECT,
    (S.FAILED, OnFinished.RESTART_FAILED_ONLY): Action.START,
    (S.TERMINATED, OnFinished.RESTART_FAILED_ONLY): Action.START,
    (S.CANCELED, OnFinished.RESTART_FAILED_ONLY): Action.START,
    (S.COMPLETED, OnFinished.REJECT): Action.REJECT,
    (S.FAILED, OnFinished.REJECT): Action.REJECT,
    (S.TERMINATED, OnFinished.REJECT): Action.REJECT,
    (S.CANCELED, OnFinished.REJECT): Action.REJECT,
}

ALL_POLICIES = [Policy(r, f) for r, f in itertools.product(OnRunning, OnFinished)]


def test_every_status_is_running_or_finished() -> None:
    assert set(RUNNING) | set(FINISHED) == set(RuntimeStatus)


@pytest.mark.parametrize("policy", ALL_POLICIES, ids=str)
def test_no_instance_always_starts(policy: Policy) -> None:
    assert decide(None, policy).action is Action.START


@pytest.mark.parametrize(
    ("status", "policy"), list(itertools.product(RUNNING, ALL_POLICIES)), ids=str
)
def test_running_instance_follows_on_running_only(status: S, policy: Policy) -> None:
    decision = decide(status, policy)
    assert decision.action is ON_RUNNING_ACTION[policy.on_running]
    assert status.value in decision.reason


@pytest.mark.parametrize(
    ("status", "policy"), list(itertools.product(FINISHED, ALL_POLICIES)), ids=str
)
def test_finished_instance_follows_on_finished_only(status: S, policy: Policy) -> None:
    decision = decide(status, policy)
    assert decision.action is ON_FINISHED_ACTION[(status, policy.on_finished)]
    assert status.value in decision.reason


@pytest.mark.parametrize("status", [None, *FINISHED])
def test_queued_requests_keep_arrival_order(status: S | None) -> None:
    policy = Policy(OnRunning.QUEUE, OnFinished.RESTART)
    assert decide(status, policy, QueuePosition(ahead=2)).action is Action.QUEUE
    assert decide(status, policy, QueuePosition(ahead=0)).action is Action.START


@pytest.mark.parametrize("on_running", [p for p in OnRunning if p is not OnRunning.QUEUE])
def test_requests_that_do_not_queue_ignore_the_queue(on_running: OnRunning) -> None:
    policy = Policy(on_running, OnFinished.RESTART)
    assert decide(None, policy, QueuePosition(ahead=3)).action is Action.START
    assert decide(S.COMPLETED, policy, QueuePosition(ahead=3)).action is Action.START


@pytest.mark.parametrize("status", [None, *RUNNING, *FINISHED])
def test_an_expired_queued_request_expires_whatever_the_status(status: S | None) -> None:
    policy = Policy(OnRunning.QUEUE, OnFinished.RESTART)
    assert decide(status, policy, QueuePosition(expired=True)).action is Action.EXPIRE
