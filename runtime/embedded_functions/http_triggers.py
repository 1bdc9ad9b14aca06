"""HTTP triggers at `/api/{route}`, routed and keyed as the Functions host does.

Route templates: literal segments (case-insensitive), `{name}`, optional `{name?}`, a
catch-all `{*rest}`, and constraints `{id:int}`, `:long`, `:bool`, `:alpha`, `:guid`,
`:float`/`:double`/`:decimal`, `:datetime`, `:minlength(n)`, `:maxlength(n)`, `:length(n)`,
`:min(n)`, `:max(n)`, `:range(a,b)`, `:regex(...)`. Keys are not enforced unless the host
runs with `--enforce-keys` (as Core Tools, which never enforces them).
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import azure.functions as func
from aiohttp import web

from .app_loader import FunctionInfo
from .invoker import Invoker

logger = logging.getLogger("embedded_functions.http")


def _constraint(text: str) -> Callable[[str], bool]:
    name, _, argument = text.partition("(")
    argument = argument[:-1] if argument.endswith(")") else argument
    name = name.lower()

    def number(value: str, kind: Callable[[str], Any]) -> bool:
        try:
            kind(value)
            return True
        except ValueError:
            return False

    if name in ("int", "long"):
        return lambda v: re.fullmatch(r"-?\d+", v) is not None
    if name == "bool":
        return lambda v: v.lower() in ("true", "false")
    if name == "alpha":
        return lambda v: v.isascii() and v.isalpha()
    if name == "guid":
        return lambda v: number(v, uuid.UUID)
    if name in ("float", "double", "decimal"):
        return lambda v: number(v, float)
    if name == "datetime":
        return lambda v: number(v, datetime.fromisoformat)
    if name == "minlength":
        return lambda v: len(v) >= int(argument)
    if name == "maxlength":
        return lambda v: len(v) <= int(argument)
    if name == "length":
        if "," in argument:
            low, high = (int(x) for x in argument.split(","))
            return lambda v: low <= len(v) <= high
        return lambda v: len(v) == int(argument)
    if name == "min":
        return lambda v: number(v, float) and float(v) >= float(argument)
    if name == "max":
        return lambda v: number(v, float) and float(v) <= float(argument)
    if name == "range":
        low_s, high_s = argument.split(",")
        return lambda v: number(v, float) and float(low_s) <= float(v) <= float(high_s)
    if name == "regex":
        pattern = re.compile(argument)
        return lambda v: pattern.search(v) is not None
    raise ValueError(f"unsupported route constraint {text!r}")


@dataclass
class _Segment:
    literal: str | None = None
    name: str | None = None
    optional: bool = False
    catch_all: bool = False
    checks: list[Callable[[str], bool]] = field(default_factory=list)


@dataclass
class Route:
    function: FunctionInfo
    template: str
    methods: frozenset[str] | None
    auth_level: str
    segments: list[_Segment]

    @classmethod
    def of(cls, function: FunctionInfo) -> Route:
        template = str(function.trigger.get("route") or function.name).strip("/")
        segments = []
        for part in template.split("/") if template else []:
            match = re.fullmatch(
                r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(\?)?((?::[^:}]+(?:\([^)]*\))?)*)\}", part
            )
            if match is None:
                segments.append(_Segment(literal=part.lower()))
                continue
            star, name, optional, constraints = match.groups()
            checks = [_constraint(c) for c in re.findall(r":([^:]+)", constraints or "")]
            segments.append(
                _Segment(name=name, optional=bool(optional), catch_all=bool(star), checks=checks)
            )
        methods = function.trigger.get("methods")
        allowed = (
            frozenset(str(getattr(m, "value", m)).upper() for m in methods) if methods else None
        )
        level = str(function.trigger.get("authLevel") or "function").lower()
        return cls(function, template, allowed, level, segments)

    def match(self, parts: list[str]) -> dict[str, str] | None:
        values: dict[str, str] = {}
        index = 0
        for segment in self.segments:
            if segment.catch_all:
                assert segment.name is not None
                values[segment.name] = "/".join(parts[index:])
                return values
            if index >= len(parts):
                if segment.optional:
                    continue
                return None
            part = parts[index]
            if segment.literal is not None:
                if part.lower() != segment.literal:
                    return None
            else:
                assert segment.name is not None
                if not all(check(part) for check in segment.checks):
                    return None
                values[segment.name] = part
            index += 1
        return values if index == len(parts) else None


class HttpTriggers:
    def __init__(
        self,
        functions: list[FunctionInfo],
        invoker: Invoker,
        *,
        route_prefix: str = "api",
        enforce_keys: bool = False,
    ) -> None:
        self.routes = [Route.of(f) for f in functions]
        # Literal routes before parameterised ones, as ASP.NET routing orders them.
        self.routes.sort(key=lambda r: sum(1 for s in r.segments if s.literal is None))
        self.invoker = invoker
        self.prefix = route_prefix.strip("/")
        self.enforce_keys = enforce_keys
        self.function_key = secrets.token_urlsafe(24)
        self.master_key = secrets.token_urlsafe(24)

    def aiohttp_routes(self) -> list[web.RouteDef]:
        # [\s\S], not `.`: a path may hold a decoded newline, and must still reach us.
        tail = r"{tail:[\s\S]*}"
        path = f"/{self.prefix}/{tail}" if self.prefix else f"/{tail}"
        return [web.route("*", path, self.handle)]

    def _authorized(self, route: Route, request: web.Request) -> bool:
        if not self.enforce_keys or route.auth_level == "anonymous":
            return True
        key = request.query.get("code") or request.headers.get("x-functions-key")
        if route.auth_level == "admin":
            return key == self.master_key
        return key in (self.function_key, self.master_key)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("tail", "").strip("/")
        parts = [p for p in tail.split("/") if p] if tail else []
        found_path = False
        for route in self.routes:
            values = route.match(parts)
            if values is None:
                continue
            found_path = True
            if route.methods is not None and request.method.upper() not in route.methods:
                continue
            if not self._authorized(route, request):
                return web.Response(status=401)
            return await self._invoke(route, request, values)
        return web.Response(status=405 if found_path else 404)

    async def _invoke(
        self, route: Route, request: web.Request, values: dict[str, str]
    ) -> web.StreamResponse:
        body = await request.read()
        http_request = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers=dict(request.headers),
            params=dict(request.query),
            route_params=values,
            body=body,
        )
        try:
            result = await self.invoker.invoke(route.function, http_request)
        except Exception:
            logger.exception("function %s failed", route.function.name)
            return web.Response(status=500)
        return to_aiohttp(result)


def to_aiohttp(result: Any) -> web.StreamResponse:
    if result is None:
        return web.Response(status=204)
    if isinstance(result, func.HttpResponse):
        headers = dict(result.headers)
        content_type = headers.pop("Content-Type", None) or headers.pop("content-type", None)
        if content_type is None and result.mimetype:
            content_type = result.mimetype
            if result.charset and not result.mimetype.startswith("application/json"):
                content_type += f"; charset={result.charset}"
        if content_type:
            headers["Content-Type"] = content_type
        return web.Response(status=result.status_code, body=result.get_body(), headers=headers)
    if isinstance(result, (bytes, str)):
        return web.Response(
            status=200, body=result if isinstance(result, bytes) else result.encode()
        )
    logger.error("an HTTP function returned %s, not an HttpResponse", type(result).__name__)
    return web.Response(status=500)
