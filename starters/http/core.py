"""The HTTP API without a web framework: a request in, a status, headers and a body out.

The routes (start_api.py, events/api.py) take any object shaped like `HttpRequest` (the
Functions worker's request is one; `Request` is a plain one) and return an `HttpAnswer`;
the Functions adapter (functions/blueprint.py) turns that into the worker's response.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from ..outcomes import Outcome

JSON_CONTENT_TYPE = "application/json"


class HttpRequest(Protocol):
    """What the routes read of a request."""

    @property
    def method(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Looked up case-insensitively."""
        ...

    @property
    def params(self) -> Mapping[str, str]: ...

    @property
    def route_params(self) -> Mapping[str, str]: ...

    def get_body(self) -> bytes: ...


class _Headers(dict[str, str]):
    """Header names compared case-insensitively, as HTTP does."""

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        super().__init__({k.lower(): v for k, v in (headers or {}).items()})

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


@dataclass(frozen=True)
class Request:
    """A plain request for the routes (another framework's adapter, or a test)."""

    method: str
    url: str
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    route_params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _Headers(self.headers))

    def get_body(self) -> bytes:
        return self.body


@dataclass(frozen=True)
class HttpAnswer:
    """A response: status, headers, body and its media type."""

    status_code: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    mimetype: str | None = None

    def get_body(self) -> bytes:
        return self.body


def json_answer(status: int, body: Any, headers: Mapping[str, str] | None = None) -> HttpAnswer:
    return HttpAnswer(status, json.dumps(body).encode(), dict(headers or {}), JSON_CONTENT_TYPE)


class OutcomeAnswer(NamedTuple):
    """How the start route answers a request with this outcome: a status, and for a
    refusal the problem's title and type."""

    status: int
    title: str | None = None
    kind: str | None = None


# The start route's answer for each outcome (with ?wait=, once decided in time).
OUTCOME_ANSWERS: Mapping[Outcome, OutcomeAnswer] = {
    Outcome.STARTED: OutcomeAnswer(201),
    Outcome.REPLACED: OutcomeAnswer(201),
    Outcome.USED_EXISTING: OutcomeAnswer(200),
    Outcome.FORWARDED: OutcomeAnswer(200),
    Outcome.REJECTED: OutcomeAnswer(409, "Instance exists", "request-rejected"),
    Outcome.EXPIRED: OutcomeAnswer(409, "Queued request expired", "request-expired"),
    Outcome.CANCELED: OutcomeAnswer(409, "Request canceled", "request-canceled"),
    Outcome.INVALID: OutcomeAnswer(422, "Invalid start request", "contract-violation"),
    Outcome.DEAD_LETTERED: OutcomeAnswer(503, "Request dead-lettered", "request-dead-lettered"),
    # Accepted, not decided (yet).
    Outcome.PENDING: OutcomeAnswer(202),
    Outcome.QUEUED: OutcomeAnswer(202),
}
