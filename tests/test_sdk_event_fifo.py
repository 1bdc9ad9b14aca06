"""The early-event fix (starters/_sdk_event_fifo.py), replayed through the real Durable SDK.

Each test hands the SDK's orchestrator entry point a history in the host's wire shape, as
the host does, and reads the state it answers. The strict-xfail twin runs the same history
on the SDK as released: it fails today, and turns into an XPASS (a failure under strict)
the day upstream fixes Azure/azure-functions-durable-python#507.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest

from embedded_functions.durable.history import EventType, event
from embedded_functions.durable.replay import EpisodeResult, build_context, run_orchestrator
from starters import OnRunning, OrchestratorSpec, Registry, build_blueprint
from starters import _sdk_event_fifo as sdk_event_fifo

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)

pytestmark = pytest.mark.filterwarnings("ignore:Potential duplicate Task completion")


@pytest.fixture(autouse=True)
def fix_installed() -> Iterator[None]:
    sdk_event_fifo.install()
    yield
    sdk_event_fifo.install()


def _started() -> list[dict[str, Any]]:
    return [
        event(EventType.OrchestratorStarted, T0),
        event(
            EventType.ExecutionStarted,
            T0,
            Name="orch",
            Input="null",
            Version="",
            OrchestrationInstance={"InstanceId": "i", "ExecutionId": "x"},
            ParentInstance=None,
        ),
    ]


def _raised(*values: str, at: datetime = T0) -> list[dict[str, Any]]:
    return [event(EventType.EventRaised, at, Name="ev", Input=f'"{v}"') for v in values]


def _scheduled(task_id: int) -> dict[str, Any]:
    return event(EventType.TaskScheduled, T0, task_id, Name="step")


def _completed(task_id: int) -> dict[str, Any]:
    return event(EventType.TaskCompleted, T0, TaskScheduledId=task_id, Result="null")


def _replay(
    orchestrator: Callable[[Any], Any], past: list[dict[str, Any]], new: list[dict[str, Any]]
) -> EpisodeResult:
    context = build_context(
        instance_id="i", input_json="null", past=past, new=new, parent_instance_id=None
    )
    return run_orchestrator(df.Orchestrator.create(orchestrator), context)


def _gated_reader(waits: int) -> Callable[[Any], Any]:
    """Calls an activity first (so events arrive while it is not waiting), then reads."""

    def orchestrator(context: Any) -> Any:
        yield context.call_activity("step", None)
        got = []
        for _ in range(waits):
            got.append((yield context.wait_for_external_event("ev")))
            context.set_custom_status(got)
        return got

    return orchestrator


def _three_early_events() -> EpisodeResult:
    past = [*_started(), _scheduled(0), event(EventType.OrchestratorCompleted, T0)]
    new = [event(EventType.OrchestratorStarted, T0), *_raised("e1", "e2", "e3"), _completed(0)]
    return _replay(_gated_reader(4), past, new)


def test_early_events_are_each_read_once_in_order() -> None:
    result = _three_early_events()
    assert result.error is None
    assert result.custom_status == ["e1", "e2", "e3"]
    assert not result.is_done  # the fourth wait has nothing left to read


@pytest.mark.xfail(
    strict=True,
    reason="azure-functions-durable keeps one deferred event per name and fires it again "
    "(Azure/azure-functions-durable-python#507); an XPASS means upstream fixed it",
)
def test_without_the_fix_the_sdk_loses_and_repeats_early_events() -> None:
    with sdk_event_fifo.disabled():
        result = _three_early_events()
    assert result.custom_status == ["e1", "e2", "e3"]
    assert not result.is_done


def _worker(context: Any) -> Any:
    """The README's forward orchestrator: wait (or time out), work on it, acknowledge."""
    got: list[str] = []
    while True:
        timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=30))
        work = context.wait_for_external_event("ev")
        winner = yield context.task_any([work, timer])
        if winner == timer:
            return got
        timer.cancel()
        got.append(work.result)
        yield context.call_activity("step", work.result)
        context.set_custom_status(got)


def test_events_arriving_during_activities_are_read_once_each_across_episodes() -> None:
    # Episode 1 waits (timer 0); e1 comes; activity 1 is scheduled; e2 and e3 arrive while
    # it runs; then it completes, and so on. Timer IDs and activity IDs alternate.
    t = T0 + timedelta(seconds=1)
    episodes = [
        [*_started()],
        [event(EventType.OrchestratorStarted, t), *_raised("e1", at=t)],
        [event(EventType.OrchestratorStarted, t), *_raised("e2", "e3", at=t), _completed(1)],
        [event(EventType.OrchestratorStarted, t), _completed(3)],
        [event(EventType.OrchestratorStarted, t), *_raised("e4", at=t), _completed(5)],
    ]
    past: list[dict[str, Any]] = []
    result = None
    for new in episodes:
        result = _replay(_worker, past, new)
        assert result.error is None
        past += [*new, *_history_of_new_actions(result, past)]
    assert result is not None and result.custom_status == ["e1", "e2", "e3", "e4"]
    # The whole history in one replay gives the same answer (replay is deterministic).
    again = _replay(_worker, past[:-1], [event(EventType.OrchestratorStarted, t)])
    assert again.custom_status == ["e1", "e2", "e3", "e4"]


def _history_of_new_actions(
    result: EpisodeResult, past: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """TaskScheduled/TimerCreated for the actions this episode added, numbered as the SDK
    numbers them (every action but a wait takes the next ID)."""
    known = sum(
        1 for e in past if e["EventType"] in (EventType.TaskScheduled, EventType.TimerCreated)
    )
    numbered = [a for a in result.actions if a.get("actionType") != 6]
    added = []
    for task_id, action in enumerate(numbered[known:], start=known):
        if action.get("actionType") == 5:
            added.append(event(EventType.TimerCreated, T0, task_id, FireAt=action["fireAt"]))
        else:
            added.append(_scheduled(task_id))
    return [*added, event(EventType.OrchestratorCompleted, T0)]


def test_an_event_for_a_waiting_orchestration_takes_the_sdk_path() -> None:
    new = [*_started(), *_raised("e1", "e2")]
    result = _replay(_gated_reader(2), [], new)
    # The activity is not done, so both events are early: nothing read yet, none lost.
    assert result.custom_status is None and not result.is_done
    done = _replay(_gated_reader(2), [], [*new, _scheduled(0), _completed(0)])
    assert done.is_done and done.output == ["e1", "e2"]


def test_an_untested_sdk_version_fails_a_forward_app_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sdk_event_fifo.uninstall()
    monkeypatch.setattr(sdk_event_fifo, "installed_sdk_version", lambda: "9.9.9")
    forwarding = Registry([OrchestratorSpec(name="bag", event_name="work")])
    with pytest.raises(
        sdk_event_fifo.UnsupportedSdkVersion, match=r"azure-functions-durable 9\.9\.9"
    ):
        build_blueprint(forwarding)
    assert not sdk_event_fifo.is_installed()
    # An app without forward still starts, without the fix.
    build_blueprint(Registry([OrchestratorSpec(name="job", on_running=OnRunning.REJECT)]))
    assert not sdk_event_fifo.is_installed()


def test_the_fix_is_installed_by_building_the_blueprint_not_by_an_import() -> None:
    code = (
        "from starters import _sdk_event_fifo as sdk_event_fifo\n"
        "from starters import Registry, OrchestratorSpec, build_blueprint\n"
        "assert not sdk_event_fifo.is_installed()\n"
        "build_blueprint(Registry([OrchestratorSpec(name='bag', event_name='work')]))\n"
        "assert sdk_event_fifo.is_installed()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
