"""Bounds on what one HTTP client can hold open on the embedded host.

aiohttp on its own keeps an idle connection for an hour, waits for a slow body for ever,
accepts connections until the process runs out of descriptors, and answers an oversized
body with plain text. Here:

- at most MAX_CONNECTIONS connections are open; one more is answered 503 and closed;
- a connection idle or with an incomplete request head is closed after IDLE_TIMEOUT_S
  (aiohttp's keep-alive timer, which runs from the moment the connection opens);
- a request body must arrive within BODY_TIMEOUT_S, or the answer is 408;
- aiohttp's own refusals (413 over the body limit, a header its parser refuses, ...)
  become RFC 9457 problem documents.

Problem types are RFC 9457's generic `about:blank`: the host is product-agnostic.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_CONNECTIONS = 512
# Longer than aiohttp's client keep-alive (15 s), so a client never reuses a connection
# the host is closing at that moment.
IDLE_TIMEOUT_S = 30.0
BODY_TIMEOUT_S = 30.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def problem_response(status: int, detail: str) -> web.Response:
    # RFC 9457's generic type: the runtime has no problem types of its own, so the status
    # says what kind of refusal it is and `detail` says why (the queue's REST API too).
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    return web.json_response(body, status=status, content_type="application/problem+json")


@web.middleware
async def bounded_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Reads the body first (within BODY_TIMEOUT_S; cached for the handler) and turns
    aiohttp's HTTP errors into problem documents."""
    try:
        if request.body_exists:
            try:
                await asyncio.wait_for(request.read(), BODY_TIMEOUT_S)
            except asyncio.TimeoutError:
                response = problem_response(
                    408, f"the request body did not arrive within {BODY_TIMEOUT_S:g} s"
                )
                response.force_close()
                return response
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400 or error.content_type == "application/problem+json":
            raise
        detail = error.text or error.reason
        if error.status == 413:
            detail = f"the body is over the host's limit of {MAX_BODY_BYTES} bytes"
        response = problem_response(error.status, detail or HTTPStatus(error.status).phrase)
        for name, value in error.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response  # aiohttp reads and drops what is left of a body (its lingering time)


class _Refusal(asyncio.Protocol):
    """Answers a connection over the limit with a 503 problem and closes it."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Service Unavailable",
                "status": 503,
                "detail": f"the host has {MAX_CONNECTIONS} connections open; retry later",
            }
        ).encode()
        head = (
            "HTTP/1.1 503 Service Unavailable\r\n"
            "Content-Type: application/problem+json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
        )
        assert isinstance(transport, asyncio.Transport)
        transport.write(head.encode() + body)
        transport.close()


class _ProblemRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering what its HTTP parser refuses (a header over
    8190 bytes, a control character in a header, a malformed request line) with a problem
    document instead of plain text."""

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500 or request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)
        self.log_debug("refused a request from %s: %s", request.remote, message)
        detail = (message or HTTPStatus(status).phrase).strip()
        response = problem_response(status, detail.splitlines()[0] if detail else "refused")
        response.force_close()
        return response


class BoundedSockSite(web.SockSite):
    """A SockSite that accepts at most `max_connections` connections at a time.

    Counted on aiohttp's own connection list, which a connection joins when asyncio
    calls its `connection_made` (one loop step after it is accepted): a burst can
    overshoot the bound by one accept batch, never grow without it.
    """

    __slots__ = ("_max_connections",)

    def __init__(
        self, runner: web.BaseRunner, sock: socket.socket, max_connections: int | None = None
    ) -> None:
        super().__init__(runner, sock)
        self._max_connections = max_connections or MAX_CONNECTIONS

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with the runner
        server = self._runner.server
        assert server is not None
        limit = self._max_connections

        options = dict(server._kwargs)  # what AppRunner was given for each connection
        loop = asyncio.get_running_loop()

        def factory() -> asyncio.BaseProtocol:
            if len(server.connections) >= limit:
                return _Refusal()
            return _ProblemRequestHandler(server, loop=loop, **options)

        self._server = await loop.create_server(factory, sock=self._sock, backlog=self._backlog)
