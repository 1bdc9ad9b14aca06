"""Orchestrations using each supported action, run by replay with the real SDK client."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from embedded_functions.testing import EmbeddedRuntime

_ids = itertools.count()


def new_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


async def run(runtime: EmbeddedRuntime, name: str, input: Any = None) -> dict[str, Any]:
    instance_id = new_id(name)
    await runtime.client().start_new(name, instance_id, input)
    return await runtime.wait_for(instance_id)


def events(status: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in status["historyEvents"] if e["EventType"] == kind]


async def test_sync_and_async_activities(skipping: EmbeddedRuntime) -> None:
    status = await run(skipping, "sequence", "Ada")
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == ["Hello Ada", "HELLO ADA"]
    assert status["customStatus"] == {"step": 2}
    assert [e["FunctionName"] for e in events(status, "TaskCompleted")] == ["hello", "hello_async"]


async def test_task_all_fan_out(skipping: EmbeddedRuntime) -> None:
    status = await run(skipping, "fan_out", 6)
    assert status["output"] == sum(n * n for n in range(6))
    # Each TaskScheduled is merged into its completion in showHistory, as the host shows it.
    assert len(events(status, "TaskCompleted")) == 6


async def test_activity_retry_until_success(skipping: EmbeddedRuntime) -> None:
    status = await run(skipping, "with_retry", {"key": new_id("k"), "fail_times": 2})
    assert status["runtimeStatus"] == "Completed"
    assert status["output"]["attempts"] == 3
    assert len(events(status, "TaskFailed")) == 2
    assert len(events(status, "TimerFired")) == 2


async def test_activity_retry_exhausted_fails_the_instance(skipping: EmbeddedRuntime) -> None:
    status = await run(skipping, "with_retry", {"key": new_id("k"), "fail_times": 5})
    assert status["runtimeStatus"] == "Failed"
    assert "flaky failure 3" in status["output"]
    assert status["output"].startswith("Orchestrator function 'with_retry' failed:")
    assert len(events(status, "TaskFailed")) == 3


async def test_parallel_retries_keep_task_ids_in_step(skipping: EmbeddedRuntime) -> None:
    jobs = [
        {"key": new_id("p"), "fail_times": 2},
        {"key": new_id("p"), "fail_times": 0},
        {"key": new_id("p"), "fail_times": 1},
    ]
    status = await run(skipping, "parallel_retries", jobs)
    assert status["runtimeStatus"] == "Completed", status["output"]
    results, after = status["output"]
    assert [r["attempts"] for r in results] == [3, 1, 2]
    assert after == "Hello after"


async def test_a_caught_activity_failure(skipping: EmbeddedRuntime) -> None:
    status = await run(skipping, "catches_failure")
    assert status["output"] == "caught: True"


async def test_durable_timer(skipping: EmbeddedRuntime) -> None:
    status = await run(skipping, "waits", 90)
    assert status["output"] == "woke"
    (fired,) = events(status, "TimerFired")
    assert fired["FireAt"] == events(status, "TimerCreated")[0]["FireAt"]


async def test_external_event_wins_over_timer(realtime: EmbeddedRuntime) -> None:
    client = realtime.client()
    instance_id = new_id("approval")
    await client.start_new("approval", instance_id)
    await client.raise_event(instance_id, "approve", {"by": "ops"})
    status = await realtime.wait_for(instance_id)
    # A real host hands the event data over as JSON text (azure-functions-durable-python#295).
    approved = status["output"]["approved"]
    assert json.loads(approved) == {"by": "ops"}


async def test_timer_wins_when_no_event_comes(skipping: EmbeddedRuntime) -> None:
    status = await run(skipping, "approval")
    assert status["output"] == {"approved": None}


async def test_events_raised_before_they_are_awaited_are_kept(realtime: EmbeddedRuntime) -> None:
    client = realtime.client()
    instance_id = new_id("two")
    await client.start_new("two_events", instance_id)
    await client.raise_event(instance_id, "b", 2)
    await client.raise_event(instance_id, "a", 1)
    status = await realtime.wait_for(instance_id, timeout=10)
    assert [json.loads(v) for v in status["output"]] == [1, 2]


async def test_sub_orchestrations(skipping: EmbeddedRuntime) -> None:
    status = await run(skipping, "parent")
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"child": ["Hello child", "HELLO CHILD"], "auto": 5}
    child = skipping.runtime.get_status(f"{status['instanceId']}-c")
    assert child["runtimeStatus"] == "Completed"
    assert len(events(status, "SubOrchestrationInstanceCompleted")) == 2


async def test_sub_orchestration_retry(skipping: EmbeddedRuntime) -> None:
    status = await run(skipping, "parent_retry", {"key": new_id("c"), "fail_times": 1})
    assert status["runtimeStatus"] == "Completed", status["output"]
    assert status["output"]["attempts"] == 2
    assert len(events(status, "SubOrchestrationInstanceFailed")) == 1


async def test_continue_as_new(skipping: EmbeddedRuntime) -> None:
    status = await run(skipping, "counter", 0)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == 3
    assert status["customStatus"] == {"n": 3}
    # A fresh history for each execution.
    assert len(events(status, "ExecutionStarted")) == 1


async def test_an_orchestrator_exception_fails_the_instance(skipping: EmbeddedRuntime) -> None:
    status = await run(skipping, "fails")
    assert status["runtimeStatus"] == "Failed"
    assert status["output"] == "Orchestrator function 'fails' failed: the orchestrator gave up"


async def test_unsupported_actions_fail_and_name_the_action(skipping: EmbeddedRuntime) -> None:
    status = await run(skipping, "calls_http")
    assert status["runtimeStatus"] == "Failed"
    assert "does not support CallHttp" in status["output"]


async def test_an_unknown_activity_fails_its_task(skipping: EmbeddedRuntime) -> None:
    from azure.durable_functions import DurableOrchestrationClient  # noqa: F401

    instance_id = new_id("seq")
    runtime = skipping.runtime
    runtime.functions.functions = [f for f in runtime.functions.functions if f.name != "hello"]
    await skipping.client().start_new("sequence", instance_id, "x")
    status = await skipping.wait_for(instance_id)
    assert status["runtimeStatus"] == "Failed"
    assert "The function 'hello' doesn't exist" in status["output"]


async def test_different_instances_run_their_activities_concurrently(
    realtime: EmbeddedRuntime,
) -> None:
    client = realtime.client()
    ids = [new_id("slow") for _ in range(4)]
    for instance_id in ids:
        await client.start_new("slow", instance_id, 0.5)
    # Four half-second activities: they overlap in time, one instance's after another's start.
    statuses = await asyncio.gather(*(realtime.wait_for(i, timeout=10) for i in ids))
    windows = []
    for status in statuses:
        (completed,) = events(status, "TaskCompleted")
        windows.append((completed["ScheduledTime"], completed["Timestamp"]))
    latest_start = max(start for start, _ in windows)
    earliest_end = min(end for _, end in windows)
    assert latest_start < earliest_end
