"""The embedded Functions runtime in your own tests (docs/testing.md)."""

from datetime import timedelta
from pathlib import Path

from embedded_functions.testing import EmbeddedRuntime, RuntimeStatus

APP = Path(__file__).parent


async def test_a_reminder_of_a_day_finishes_at_once() -> None:
    async with await EmbeddedRuntime.start_time_skipping(APP) as runtime:
        client = runtime.client()  # the Durable SDK's own client
        await client.start_new("reminder", "r-1", 24)
        status = await runtime.wait_for("r-1")
        assert status["runtimeStatus"] == RuntimeStatus.Completed
        assert status["output"] == "hello from the reminder"


async def test_time_moves_only_when_told(embedded_runtime: EmbeddedRuntime) -> None:
    # The pytest plugin's fixture, configured in conftest.py.
    with embedded_runtime.auto_time_skipping_disabled():
        await embedded_runtime.client().start_new("reminder", "r-2", 1)
        await embedded_runtime.wait_idle()  # nothing runnable: the timer waits
        assert embedded_runtime.runtime.get_status("r-2")["runtimeStatus"] == "Running"
        await embedded_runtime.sleep(timedelta(hours=1))
        status = await embedded_runtime.wait_for("r-2")
    assert status["output"] == "hello from the reminder"
