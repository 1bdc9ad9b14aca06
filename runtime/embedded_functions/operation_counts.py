"""How many times this process's runtime did each operation, for a benchmark to read.

    GET /runtime/operation-counts   (loopback only) -> {"counts": {"queue.send": 12, ...}}

The counts are the runtime's side of the wire, not the app's: queue operations as the
session queue carried them out (an empty accept or receive counted apart from one that
returned work), and Durable API calls by door and route shape (`durable.rpc GET
instances/{id}` is the SDK client's status read). They only ever grow; a reader takes the
difference between two reads. One counter per process: hosts in one process share it.
"""

from __future__ import annotations

from collections import Counter

from aiohttp import web

PATH = "/runtime/operation-counts"

_counts: Counter[str] = Counter()


def count(operation: str, times: int = 1) -> None:
    _counts[operation] += times


def snapshot() -> dict[str, int]:
    return dict(_counts)


def durable_route(door: str, method: str, parts: list[str]) -> str:
    """`durable.<door> <METHOD> <shape>`: the IDs and names in the path replaced by a
    placeholder, so that every status read counts under one key."""
    shape = list(parts[:1])
    if parts[:1] == ["orchestrators"]:
        shape += ["{name}", "{id}"][: len(parts) - 1]
    elif parts[:1] in (["instances"], ["entities"]) and len(parts) > 1:
        shape += ["{id}", *parts[2:3]]
    return f"durable.{door} {method} {'/'.join(shape)}"


async def _serve(request: web.Request) -> web.Response:
    return web.json_response({"counts": snapshot()})


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, _serve)]
