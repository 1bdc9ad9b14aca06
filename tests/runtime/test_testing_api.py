"""The runtime's testing API: constructors, time control, idleness, and the old names."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import timedelta

import aiohttp

from embedded_functions.testing import EmbeddedRuntime, RuntimeStatus
from tests.runtime.conftest import SAMPLES


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, *args] if not code else [sys.executable, "-c", code, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_the_testing_api_imports_no_test_framework() -> None:
    result = run_python("import sys, embedded_functions.testing; print('pytest' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_the_old_import_name_works_and_says_where_it_moved() -> None:
    result = run_python(
        textwrap.dedent(
            """
            import json, warnings
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                from emulator.testing import EmbeddedRuntime
                from emulator.servicebus.session_queue import SessionQueues
            import embedded_functions.testing as new
            import embedded_functions.servicebus.session_queue as queue
            print(json.dumps({
                "same": EmbeddedRuntime is new.EmbeddedRuntime
                and SessionQueues is queue.SessionQueues,
                "warnings": [str(w.message) for w in caught
                             if issubclass(w.category, DeprecationWarning)],
            }))
            """
        )
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["same"] is True
    assert any("embedded_functions.testing" in w for w in answer["warnings"]), answer


def test_python_m_emulator_serve_still_serves_and_says_where_it_moved() -> None:
    result = run_python("", "-m", "emulator", "serve", "--help")
    assert result.returncode == 0, result.stderr
    assert "--time-skipping" in result.stdout and "--enforce-keys" in result.stdout
    assert "DeprecationWarning" in result.stderr
    assert "python -m embedded_functions" in result.stderr


async def test_start_time_skipping_finishes_a_day_long_timer_at_once() -> None:
    runtime = await EmbeddedRuntime.start_time_skipping(SAMPLES)
    try:
        assert runtime.supports_time_skipping
        before = await runtime.get_current_time()
        await runtime.client().start_new("waits", "day", 86_400)
        status = await runtime.wait_for("day", timeout=10)
        assert status["runtimeStatus"] == RuntimeStatus.Completed
        assert await runtime.get_current_time() - before > timedelta(hours=23)
    finally:
        await runtime.shutdown()


async def test_with_auto_skipping_disabled_a_timer_waits_for_sleep() -> None:
    async with await EmbeddedRuntime.start_time_skipping(SAMPLES) as runtime:
        with runtime.auto_time_skipping_disabled():
            await runtime.client().start_new("waits", "hour", 3_600)
            await runtime.wait_idle()
            assert runtime.runtime.get_status("hour")["runtimeStatus"] == "Running"
            await runtime.sleep(timedelta(hours=1))
            status = await runtime.wait_for("hour", timeout=10)
        assert status["output"] == "woke"


async def test_on_the_wall_clock_sleep_waits_and_time_is_not_skipped() -> None:
    async with await EmbeddedRuntime.start_local(SAMPLES) as runtime:
        assert not runtime.supports_time_skipping
        before = await runtime.get_current_time()
        await runtime.sleep(0.05)
        waited = await runtime.get_current_time() - before
        assert timedelta(seconds=0.05) <= waited < timedelta(seconds=5)


async def test_wait_idle_waits_for_running_work() -> None:
    async with await EmbeddedRuntime.start_local(SAMPLES) as runtime:
        await runtime.client().start_new("slow", "busy", 0.3)
        await runtime.wait_idle(timeout=10)
        assert runtime.runtime.get_status("busy")["runtimeStatus"] == "Completed"


async def test_start_process_serves_until_shut_down() -> None:
    process = await EmbeddedRuntime.start_process(SAMPLES)
    try:
        async with aiohttp.ClientSession() as session:
            url = f"{process.base_url}/runtime/webhooks/durabletask/instances"
            async with session.get(url) as answer:
                assert answer.status == 200
    finally:
        assert await process.shutdown() == 0
