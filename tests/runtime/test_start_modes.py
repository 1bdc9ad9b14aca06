"""Concurrent starts of one new ID under both start modes, with the SDK's client."""

from __future__ import annotations

import asyncio
import json

from embedded_functions.testing import EmbeddedRuntime, StartMode
from tests.runtime.conftest import SAMPLES

RACERS = 12


async def race(runtime: EmbeddedRuntime, instance_id: str) -> tuple[list[int], list[str]]:
    client = runtime.client()

    async def start(n: int) -> int | None:
        try:
            await client.start_new("waits", instance_id, 600 + n)
            return n
        except Exception as error:
            assert "already exists" in str(error)
            return None

    results = await asyncio.gather(*(start(n) for n in range(RACERS)))
    await runtime.wait_for(instance_id, statuses=frozenset({"Running"}), timeout=10)
    await runtime.wait_idle()  # every queued start message processed
    acknowledged = [n for n in results if n is not None]
    history = runtime.runtime.get_status(instance_id, show_history=True, show_history_output=True)
    inputs = [e["Input"] for e in history["historyEvents"] if e["EventType"] == "ExecutionStarted"]
    return acknowledged, inputs


async def test_azure_storage_mode_acknowledges_racing_starts_and_drops_inputs() -> None:
    # The check-then-write of DurableTask.AzureStorage: every racer passes the check.
    async with EmbeddedRuntime(SAMPLES, start_mode=StartMode.AZURE_STORAGE) as runtime:
        acknowledged, inputs = await race(runtime, "race-1")
    assert len(acknowledged) > 1  # more than one caller was told "started"...
    assert len(inputs) == 1  # ...but one execution ran, with one of their inputs
    # The history shows the stored input: the SDK's JSON-encoded input, serialized again.
    ran = json.loads(json.loads(inputs[0]))
    assert ran in [600 + n for n in acknowledged]


async def test_atomic_mode_acknowledges_exactly_one_start() -> None:
    async with EmbeddedRuntime(SAMPLES, start_mode=StartMode.ATOMIC) as runtime:
        acknowledged, inputs = await race(runtime, "race-2")
    assert len(acknowledged) == 1
    assert len(inputs) == 1
    assert json.loads(json.loads(inputs[0])) == 600 + acknowledged[0]
