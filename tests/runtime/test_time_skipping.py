"""The time-skipping clock: a timer of a day fires as soon as nothing else can run."""

from __future__ import annotations

from datetime import timedelta

from embedded_functions.testing import EmbeddedRuntime


async def test_a_day_long_timer_fires_when_the_runtime_is_idle(skipping: EmbeddedRuntime) -> None:
    await skipping.client().start_new("waits", "day", 86_400)
    status = await skipping.wait_for("day", timeout=10)
    assert status["output"] == "woke"
    assert skipping.runtime.clock.skipped > timedelta(hours=23)  # minus the real time spent


async def test_without_time_skipping_the_timer_waits(realtime: EmbeddedRuntime) -> None:
    await realtime.client().start_new("waits", "hour", 3_600)
    await realtime.wait_for("hour", statuses=frozenset({"Running"}))
    await realtime.wait_idle()  # the timer is all that is left, and it waits for real time
    assert realtime.runtime.get_status("hour")["runtimeStatus"] == "Running"
    assert realtime.runtime.clock.skipped == timedelta(0)


async def test_skipping_waits_for_running_activities(skipping: EmbeddedRuntime) -> None:
    # `slow` runs a 0.3 s activity; a day-long timer elsewhere must not fire before it ends.
    await skipping.client().start_new("slow", "busy", 0.3)
    await skipping.client().start_new("waits", "later", 86_400)
    done = await skipping.wait_for("busy", timeout=10)
    later = await skipping.wait_for("later", timeout=10)
    completed = next(e for e in done["historyEvents"] if e["EventType"] == "TaskCompleted")
    fired = next(e for e in later["historyEvents"] if e["EventType"] == "TimerFired")
    assert completed["Timestamp"] < fired["Timestamp"]
