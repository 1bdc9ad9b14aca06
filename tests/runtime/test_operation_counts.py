"""The runtime's operation counters, read as a benchmark reads them (GET
/runtime/operation-counts), with the SDK's real client making the calls."""

from __future__ import annotations

import aiohttp

from embedded_functions.operation_counts import durable_route
from embedded_functions.testing import EmbeddedRuntime


async def counts(runtime: EmbeddedRuntime) -> dict[str, int]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{runtime.base_url}/runtime/operation-counts") as response,
    ):
        assert response.status == 200
        found: dict[str, int] = (await response.json())["counts"]
        return found


def test_routes_count_by_shape_not_by_name_or_id() -> None:
    assert durable_route("rpc", "GET", ["instances", "job-1"]) == "durable.rpc GET instances/{id}"
    assert (
        durable_route("rpc", "POST", ["orchestrators", "job", "job-1"])
        == "durable.rpc POST orchestrators/{name}/{id}"
    )
    assert (
        durable_route("webhook", "POST", ["instances", "job-1", "terminate"])
        == "durable.webhook POST instances/{id}/terminate"
    )
    assert durable_route("rpc", "GET", ["instances"]) == "durable.rpc GET instances"


async def test_the_sdk_clients_calls_are_counted_by_route(realtime: EmbeddedRuntime) -> None:
    before = await counts(realtime)
    client = realtime.client()
    await client.start_new("waits", "counted-1", 60)
    await client.get_status("counted-1")
    await client.get_status("counted-1")
    after = await counts(realtime)

    def grew(key: str) -> int:
        return after.get(key, 0) - before.get(key, 0)

    assert grew("durable.rpc POST orchestrators/{name}/{id}") == 1
    assert grew("durable.rpc GET instances/{id}") == 2
