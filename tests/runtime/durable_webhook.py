"""Plain-HTTP calls for the runtime's tests: its Durable management API, for the tests that
pin its answers where the SDK has no call (or would hide the status code), and any URL."""

from __future__ import annotations

import itertools
import json
from typing import Any

import aiohttp

from embedded_functions.testing import EmbeddedRuntime

_ids = itertools.count()


def new_id(prefix: str = "i") -> str:
    """A fresh instance ID: the tests share one runtime per module."""
    return f"{prefix}-{next(_ids)}"


async def http(
    runtime: EmbeddedRuntime, method: str, path: str, **kwargs: Any
) -> tuple[int, dict[str, str], bytes]:
    url = f"{runtime.base_url}/runtime/webhooks/durabletask/{path}"
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, **kwargs) as response,
    ):
        return response.status, dict(response.headers), await response.read()


async def request(method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    """Any URL: the status and the body, parsed when it is JSON."""
    async with aiohttp.ClientSession() as session, session.request(method, url, **kwargs) as r:
        body = await r.text()
        if r.content_type != "application/json":
            return r.status, body
        return r.status, json.loads(body) if body else None
