"""Durable Entities on the embedded runtime, driven by the real SDK: from HTTP functions
(signal, read), from the Durable HTTP API and from orchestrators (signal, then call)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import azure.durable_functions as df
import pytest

from embedded_functions.durable.history import parse_time
from embedded_functions.testing import EmbeddedRuntime
from tests.runtime.conftest import APPS
from tests.runtime.durable_webhook import request

APP = APPS / "entities_v2"


@pytest.fixture
async def runtime() -> AsyncIterator[EmbeddedRuntime]:
    async with EmbeddedRuntime(APP, time_skipping=True) as runtime:
        yield runtime


def entities_url(runtime: EmbeddedRuntime) -> str:
    return f"{runtime.base_url}/runtime/webhooks/durabletask/entities"


async def test_http_functions_signal_and_read_a_counter(runtime: EmbeddedRuntime) -> None:
    # read_entity_state: the entity does not exist yet
    assert await request("GET", f"{runtime.base_url}/api/counter/http-1") == (
        404,
        "no such counter",
    )
    for amount in (1, 2, 3):
        status, _ = await request(
            "POST", f"{runtime.base_url}/api/counter/http-1/add?amount={amount}"
        )
        assert status == 202
    await runtime.runtime.wait_idle()
    assert await request("GET", f"{runtime.base_url}/api/counter/http-1") == (200, 6)
    # The same state through the host's API, and the SDK client's own read.
    assert await request("GET", f"{entities_url(runtime)}/Counter/http-1") == (200, 6)
    state = await runtime.client().read_entity_state(df.EntityId("Counter", "http-1"))
    assert (state.entity_exists, state.entity_state) == (True, 6)


async def test_orchestrator_signals_then_calls(runtime: EmbeddedRuntime) -> None:
    client = runtime.client()
    await client.signal_entity(df.EntityId("Counter", "orch-1"), "add", 10)
    await client.start_new("counter_orchestrator", "counting-1", "orch-1")
    status = await runtime.wait_for("counting-1")
    assert status["runtimeStatus"] == "Completed"
    # The signal (add 3) was sent before the call, so the call sees it.
    assert status["output"] == 13
    kinds = [e["EventType"] for e in status["historyEvents"]]
    assert kinds.count("EventSent") == 2 and kinds.count("EventRaised") == 1


async def test_time_skipping_waits_for_entity_work(runtime: EmbeddedRuntime) -> None:
    client = runtime.client()
    counter = df.EntityId("Counter", "tomorrow")
    await client.signal_entity(counter, "add", 41)
    await client.start_new("counter_tomorrow", "tomorrow-1", "tomorrow")
    status = await runtime.wait_for("tomorrow-1", timeout=10)
    # The day passed in skipped time; the signal sent before it was applied first.
    assert status["output"] == 42
    events = {e["EventType"]: e for e in status["historyEvents"]}
    waited = parse_time(events["TimerFired"]["FireAt"]) - parse_time(
        events["ExecutionStarted"]["Timestamp"]
    )
    assert waited >= timedelta(days=1)
    await runtime.runtime.wait_idle()
    assert (await client.read_entity_state(counter)).entity_state == 42


async def test_a_failing_operation_raises_in_the_caller(runtime: EmbeddedRuntime) -> None:
    await runtime.client().start_new("counter_failure", "failing-1", ["Counter", "fail-1"])
    status = await runtime.wait_for("failing-1")
    assert status["output"] == "caught: the counter refuses"
    await runtime.client().start_new("counter_failure", "failing-2", ["Missing", "k"])
    status = await runtime.wait_for("failing-2")
    assert status["output"] == (
        "caught: The function 'missing' doesn't exist, is disabled, or is not an entity function."
    )


async def test_operations_from_one_sender_keep_their_order(runtime: EmbeddedRuntime) -> None:
    client = runtime.client()
    journal = df.EntityId("Journal", "ordered")
    for n in range(1, 21):
        await client.signal_entity(journal, "append", n)
    await runtime.runtime.wait_idle()
    state = await client.read_entity_state(journal)
    assert state.entity_state == list(range(1, 21))


async def test_concurrent_senders_lose_no_operation(runtime: EmbeddedRuntime) -> None:
    client = runtime.client()
    counter = df.EntityId("Counter", "concurrent")
    await asyncio.gather(*(client.signal_entity(counter, "add", 1) for _ in range(30)))
    await runtime.runtime.wait_idle()
    assert (await client.read_entity_state(counter)).entity_state == 30


async def test_http_api_signal_with_op_and_delete(runtime: EmbeddedRuntime) -> None:
    url = f"{entities_url(runtime)}/Journal/api"
    assert (await request("POST", f"{url}?op=append", json={"a": 1}))[0] == 202
    assert (await request("POST", f"{url}?op=append", data="text"))[0] == 202
    await runtime.runtime.wait_idle()
    assert await request("GET", url) == (200, [{"a": 1}, "text"])
    assert (await request("DELETE", url))[0] == 202
    await runtime.runtime.wait_idle()
    assert (await request("GET", url))[0] == 404


async def test_unknown_entities_and_bad_input_are_refused(runtime: EmbeddedRuntime) -> None:
    status, body = await request("POST", f"{entities_url(runtime)}/Nope/k?op=add")
    assert status == 400 and "is not an entity function" in body["Message"]
    status, body = await request(
        "POST",
        f"{entities_url(runtime)}/Counter/k?op=add",
        data="{not json",
        headers={"Content-Type": "application/json"},
    )
    assert status == 400 and body["Message"] == "Invalid JSON content"
    with pytest.raises(Exception, match="must not start with @"):
        await runtime.client().start_new("counter_orchestrator", "@counter@k", "k")


def test_entities_are_listed(runtime: EmbeddedRuntime) -> None:
    lines = runtime.host.describe()
    assert "  Counter: entityTrigger" in lines
    assert "  journal_entity: entityTrigger" in lines
