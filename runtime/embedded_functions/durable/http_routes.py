"""A small routing table over path segments: method, pattern, handler.

The Durable HTTP API matches the URL-decoded path as the host does, so its routes are
matched on segments here rather than by aiohttp's router (which matches the raw path).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

ONE = "{}"  # a pattern segment matching any one segment, captured
REST = "{...}"  # a last pattern segment matching every remaining segment, captured

Answer = web.StreamResponse | Awaitable[web.StreamResponse]
Handler = Callable[[web.Request, list[str]], Answer]


@dataclass(frozen=True)
class Route:
    method: str  # "*": any
    pattern: tuple[str, ...]
    handler: Handler
    any_case: bool = False  # literal segments compared case-insensitively

    def match(self, method: str, parts: Sequence[str]) -> list[str] | None:
        if self.method not in ("*", method):
            return None
        captured: list[str] = []
        for index, expected in enumerate(self.pattern):
            if expected == REST:
                return [*captured, *parts[index:]]
            if index >= len(parts):
                return None
            segment = parts[index]
            if expected == ONE:
                captured.append(segment)
            elif segment != expected and not (self.any_case and segment.lower() == expected):
                return None
        return captured if len(parts) == len(self.pattern) else None


async def dispatch(
    routes: Sequence[Route], request: web.Request, parts: Sequence[str]
) -> web.StreamResponse:
    """The first route that matches answers; none: `404` with an empty body, as the host."""
    for route in routes:
        captured = route.match(request.method, parts)
        if captured is not None:
            answer = route.handler(request, captured)
            return answer if isinstance(answer, web.StreamResponse) else await answer
    return web.Response(status=404)
