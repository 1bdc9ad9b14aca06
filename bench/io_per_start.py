"""What one start request costs in I/O, per path through the queued starter.

The runtime counts, on its side of the wire, the queue operations it carries out and the
Durable API calls it answers (`GET /runtime/operation-counts`, loopback only; see
docs/benchmark-workloads.md). This module reads those counters before and after a probe:
a few requests that all take one path (a fresh start, a reject, a use-existing, a queued
request that starts once the instance finishes), and divides the difference by their
number. Only the SDK client's door (`durable.rpc`) counts as the app's status reads and
starts: the benchmark's own status reads come through the management door.

The outcome store's round trips are counted by the store adapters at their transport (one
Table HTTP request, one SQLite statement or transaction, one memory-store call), by phase
(intake, handler), and written by the host process to the files the app setting
`OUTCOME_STORE_ROUND_TRIPS_FILE` names (`starters/stores/round_trips.py`); this module
sums them into `store.intake` and `store.handler` beside the runtime's counters.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

STORE_COUNTED = (
    "outcome-store round trips counted at the store's transport (one Table HTTP request, "
    "one SQLite statement or transaction, one memory-store call), by phase"
)
INTAKE_TRIPS = "store.intake"
HANDLER_TRIPS = "store.handler"
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


async def read_counts(
    session: aiohttp.ClientSession, base: str, store_file: Path | None = None
) -> dict[str, int]:
    """The runtime's counters and, with `store_file` (the app's
    `OUTCOME_STORE_ROUND_TRIPS_FILE`), the outcome store's round trips by phase."""
    async with session.get(f"{base}/runtime/operation-counts") as response:
        response.raise_for_status()
        counts: dict[str, int] = (await response.json())["counts"]
    if store_file is not None:
        for written in store_file.parent.glob(store_file.name + ".*[0-9]"):
            try:
                trips = json.loads(written.read_text())["counts"]
            except (OSError, ValueError, KeyError):
                continue
            for phase, key in (("intake", INTAKE_TRIPS), ("handler", HANDLER_TRIPS)):
                counts[key] = counts.get(key, 0) + int(trips.get(phase, 0))
    return counts


def difference(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in sorted(after.items()) if v != before.get(k, 0)}


def per_start(delta: dict[str, int], starts: int) -> dict[str, Any]:
    """The counters' difference over `starts` requests, in the benchmark's shape."""

    def each(key: str) -> float:
        return round(delta.get(key, 0) / max(1, starts), 2)

    return {
        "intake_store_round_trips": each(INTAKE_TRIPS),
        "handler_store_round_trips": each(HANDLER_TRIPS),
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
    session: aiohttp.ClientSession,
    base: str,
    send: Send,
    decide: Decide,
    prefix: str,
    size: int,
    store_file: Path | None = None,
) -> dict[str, Any]:
    """One probe per path, `size` requests each. `send(instance_id, body, query)` returns
    the request ID; `decide(request_ids)` waits for their final records; `store_file`: the
    app's `OUTCOME_STORE_ROUND_TRIPS_FILE`."""

    async def measured(requests: list[tuple[str, str]]) -> dict[str, Any]:
        await quiet(session, base)
        before = await read_counts(session, base, store_file)
        ids = [await send(instance, {"duration_s": 0.2}, query) for instance, query in requests]
        records = await decide(ids)
        await quiet(session, base)
        after = await read_counts(session, base, store_file)
        figures = per_start(difference(after, before), len(ids))
        figures["outcomes"] = sorted({r["outcome"] for r in records.values()})
        return figures

    async def running(instances: list[str], duration_s: float) -> None:
        ids = [await send(i, {"duration_s": duration_s}, "") for i in instances]
        await decide(ids)

    paths: dict[str, Any] = {"note": STORE_COUNTED}
    paths["started_fresh"] = await measured([(f"{prefix}-f{n}", "") for n in range(size)])
    await running([f"{prefix}-busy"], 60)
    paths["rejected"] = await measured([(f"{prefix}-busy", "?onRunning=reject")] * size)
    paths["used_existing"] = await measured([(f"{prefix}-busy", "?onRunning=use-existing")] * size)
    short = [f"{prefix}-q{n}" for n in range(size)]
    await running(short, 2.5)
    paths["queued"] = await measured([(i, "?onRunning=queue") for i in short])
    return paths
