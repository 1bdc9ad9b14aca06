"""Listing Durable instances through the host's query API (`GET .../instances?...`).

The SDK's `get_status_by` takes an ID prefix and statuses but neither a page size nor a
continuation token (it returns the host's first page only), so the query goes to the same
host endpoint the SDK uses (`rpc_base_url`) with `top` and the host's
`x-ms-continuation-token` header, as HttpApiHandler defines them. `showInput=false` keeps
inputs off the wire unless they were asked for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

from .policies import RuntimeStatus

HOST_TOKEN_HEADER = "x-ms-continuation-token"
_TIMEOUT = aiohttp.ClientTimeout(total=30)


@dataclass(frozen=True)
class InstanceQuery:
    prefix: str | None = None
    statuses: frozenset[RuntimeStatus] = field(default_factory=frozenset)
    limit: int = 50
    # The host's own token for the next page, as it sent it.
    host_token: str | None = None
    show_input: bool = False


@dataclass(frozen=True)
class InstancePage:
    items: list[dict[str, Any]]
    host_token: str | None


class HostRefusedToken(ValueError):
    """The host refused the continuation token (it was not one it issued)."""


class InstanceQueryFailed(Exception):
    """The host's query API did not answer with a page."""


def query_url(base_url: str, query: InstanceQuery) -> str:
    params = [f"top={query.limit}", f"showInput={'true' if query.show_input else 'false'}"]
    if query.prefix:
        params.append("instanceIdPrefix=" + quote(query.prefix, safe=""))
    if query.statuses:
        params.append("runtimeStatus=" + ",".join(sorted(s.value for s in query.statuses)))
    return f"{base_url}instances/?" + "&".join(params)


def decoded_input(value: Any) -> Any:
    """The input as the starter sent it.

    The SDK posts the input JSON-encoded and the host stores that text, so the status shows
    an instance started from Python with its input as a JSON string: decode it once.
    """
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def public_instance(status: dict[str, Any], show_input: bool) -> dict[str, Any]:
    item = {
        "instanceId": status.get("instanceId"),
        "name": status.get("name"),
        "runtimeStatus": status.get("runtimeStatus"),
        "createdTime": status.get("createdTime"),
        "lastUpdatedTime": status.get("lastUpdatedTime"),
    }
    if show_input:
        item["input"] = decoded_input(status.get("input"))
        item["output"] = status.get("output")
        item["customStatus"] = status.get("customStatus")
    return item


async def list_instances(base_url: str, query: InstanceQuery) -> InstancePage:
    headers = {HOST_TOKEN_HEADER: query.host_token} if query.host_token else {}
    try:
        async with (
            aiohttp.ClientSession(timeout=_TIMEOUT) as session,
            session.get(query_url(base_url, query), headers=headers) as response,
        ):
            if response.status == 400 and query.host_token:
                raise HostRefusedToken(await response.text())
            if response.status != 200:
                raise InstanceQueryFailed(f"the Durable query API answered {response.status}")
            statuses = await response.json(content_type=None)
            token = response.headers.get(HOST_TOKEN_HEADER, "").strip()
    except aiohttp.ClientError as error:
        raise InstanceQueryFailed(f"the Durable query API is unreachable: {error}") from error
    if not isinstance(statuses, list):
        raise InstanceQueryFailed("the Durable query API answered something other than a list")
    items = [public_instance(s, query.show_input) for s in statuses if isinstance(s, dict)]
    return InstancePage(items, token if token and token != "null" else None)
