"""Keys on every door, as the Functions host keys them (with `--enforce-keys`).

- HTTP functions: the function key or the master key; `admin` functions: the master key
  (http_triggers.py).
- The Durable management API (`/runtime/webhooks/durabletask/...`): the extension's system
  key `durabletask_extension` or the master key, as the host guards extension webhooks.
  The management URLs the runtime hands out carry the system key (`code=`), as the host's do.
- The Durable SDK's own client talks to `/durabletask/...` (the binding's `rpcBaseUrl`):
  on the host that is a separate listener on 127.0.0.1 that takes no key, so here that
  path answers callers on this machine only, without a key.
- The embedded queue's REST API: a queue key of its own, or the master key.

A key is presented as `?code=` or an `x-functions-key` header. Without `--enforce-keys`
nothing is checked (as Core Tools), which is why listening beyond loopback needs it.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

from aiohttp import web

SYSTEM_KEY_NAME = "durabletask_extension"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _new_key() -> str:
    return secrets.token_urlsafe(24)


def presented_key(request: web.Request) -> str | None:
    return request.query.get("code") or request.headers.get("x-functions-key")


def is_loopback_address(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def from_this_machine(request: web.Request) -> bool:
    """A loopback caller, or one calling from the very address it listens on."""
    transport = request.transport
    if transport is None:
        return False
    peer: object = transport.get_extra_info("peername")
    own: object = transport.get_extra_info("sockname")
    if not isinstance(peer, tuple) or not peer:
        return False
    if is_loopback_address(str(peer[0])):
        return True
    return isinstance(own, tuple) and bool(own) and own[0] == peer[0]


@dataclass
class HostKeys:
    enforce: bool = False
    function: str = field(default_factory=_new_key)
    master: str = field(default_factory=_new_key)
    system: str = field(default_factory=_new_key)
    queue: str = field(default_factory=_new_key)

    @property
    def management(self) -> frozenset[str]:
        return frozenset({self.system, self.master})

    @property
    def queue_keys(self) -> frozenset[str]:
        return frozenset({self.queue, self.master})

    def guard(self, handler: Handler, accepted: Collection[str]) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if self.enforce and presented_key(request) not in accepted:
                return _unauthorized()
            return await handler(request)

        return guarded

    def loopback_only(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if self.enforce and not from_this_machine(request):
                return web.Response(status=404)
            return await handler(request)

        return guarded

    def describe(self) -> list[str]:
        if not self.enforce:
            return []
        return [
            f"Function key: {self.function}",
            f"Master key: {self.master}",
            f"System key ({SYSTEM_KEY_NAME}, the Durable API): {self.system}",
            f"Queue key (the queue's REST API): {self.queue}",
        ]


def guarded_routes(
    routes: list[web.RouteDef], wrap: Callable[[Handler], Handler]
) -> list[web.RouteDef]:
    return [
        web.RouteDef(route.method, route.path, wrap(route.handler), route.kwargs)
        for route in routes
    ]


def _unauthorized() -> web.Response:
    body = {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": "this endpoint needs a key: ?code=<key> or an x-functions-key header",
    }
    return web.json_response(body, status=401, content_type="application/problem+json")


class OpenNetworkRefused(ValueError):
    pass


def check_listen_address(host: str, enforce_keys: bool) -> None:
    """Listening beyond loopback without keys would open every door to the network."""
    if enforce_keys or is_loopback_address(host):
        return
    raise OpenNetworkRefused(
        f"--host {host} listens beyond this machine, and without keys anyone who can reach "
        "it could call the functions, the Durable management API (start any orchestrator, "
        "terminate, purge) and the queue's REST API. Add --enforce-keys to listen there "
        "with keys (printed at start), or listen on 127.0.0.1."
    )
