"""What one start request costs in I/O, per path through the queued starter.

The runtime counts, on its side of the wire, the queue operations it carries out and the
Durable API calls it answers (`GET /runtime/operation-counts`, loopback only; see
docs/benchmark-workloads.md). This module reads those counters before and after a probe:
a few requests that all take one path (a fresh start, a reject, a use-existing, a queued
request that starts once the instance finishes), and divides the difference by their
number. Only the SDK client's door (`durable.rpc`) counts as the app's status reads and
starts: the benchmark's own status reads come through the management door.

The outcome store's round trips are counted by nothing yet: counting them needs the
store adapters themselves (one Table HTTP request or one SQLite transaction is one round
trip), so those keys are present and null until the adapters report them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

STORE_NOT_COUNTED = (
    "outcome-store round trips are not counted yet: they need the store adapters to count "
    "their own transport calls (one Table HTTP request or one SQLite transaction each)"
)
STATUS_READ = "durable.rpc GET instances/{id}"
START = "durable.rpc POST orchestrators/{name}/{id}"
# The queue operations of one start, as Service Bus bills them; an empty receive is the
# one that waits out the session's idle time before the session closes.
QUEUE_KEYS = {
    "sends": "queue.send",
    "accepts": "queue.accept_session",
    "receives": "queue.receive",
    "empty_receives": "queue.receive.empty",
    "completes": "queue.complete",
    "session_closes": "queue.release_session",
}


async def read_counts(session: aiohttp.ClientSession, base: str) -> dict[str, int]:
    async with session.get(f"{base}/runtime/operation-counts") as response:
        response.raise_for_status()
        counts: dict[str, int] = (await response.json())["counts"]
        return counts


def difference(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in sorted(after.items()) if v != before.get(k, 0)}


def per_start(delta: dict[str, int], starts: int) -> dict[str, Any]:
    """The counters' difference over `starts` requests, in the benchmark's shape."""

    def each(key: str) -> float:
        return round(delta.get(key, 0) / max(1, starts), 2)

    return {
        "intake_store_round_trips": None,
        "handler_store_round_trips": None,
        "status_reads": each(STATUS_READ),
        "starts": each(START),
        "queue_operations": {name: each(key) for name, key in QUEUE_KEYS.items()},
        "requests": starts,
    }


async def quiet(session: aiohttp.ClientSession, base: str, timeout: float = 30.0) -> None:
    """Until every accepted session has closed again (its idle time waited out), so a
    probe's difference holds all of its requests' operations and nothing of the next."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        counts = await read_counts(session, base)
        if counts.get("queue.accept_session", 0) <= counts.get("queue.release_session", 0):
            return
        await asyncio.sleep(0.05)


Send = Callable[[str, dict[str, Any], str], Awaitable[str]]
Decide = Callable[[list[str]], Awaitable[dict[str, dict[str, Any]]]]


async def probe_paths(
    session: aiohttp.ClientSession, base: str, send: Send, decide: Decide, prefix: str, size: int
) -> dict[str, Any]:
    """One probe per path, `size` requests each. `send(instance_id, body, query)` returns
    the request ID; `decide(request_ids)` waits for their final records."""

    async def measured(requests: list[tuple[str, str]]) -> dict[str, Any]:
        await quiet(session, base)
        before = await read_counts(session, base)
        ids = [await send(instance, {"duration_s": 0.2}, query) for instance, query in requests]
        records = await decide(ids)
        await quiet(session, base)
        figures = per_start(difference(await read_counts(session, base), before), len(ids))
        figures["outcomes"] = sorted({r["outcome"] for r in records.values()})
        return figures

    async def running(instances: list[str], duration_s: float) -> None:
        ids = [await send(i, {"duration_s": duration_s}, "") for i in instances]
        await decide(ids)

    paths: dict[str, Any] = {"note": STORE_NOT_COUNTED}
    paths["started_fresh"] = await measured([(f"{prefix}-f{n}", "") for n in range(size)])
    await running([f"{prefix}-busy"], 60)
    paths["rejected"] = await measured([(f"{prefix}-busy", "?onRunning=reject")] * size)
    paths["used_existing"] = await measured([(f"{prefix}-busy", "?onRunning=use-existing")] * size)
    short = [f"{prefix}-q{n}" for n in range(size)]
    await running(short, 2.5)
    paths["queued"] = await measured([(i, "?onRunning=queue") for i in short])
    return paths
