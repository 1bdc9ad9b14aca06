"""The listings' query parameters: each read strictly, a bad one named in a 400 problem."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TypeVar

from ..contract import Violation
from ..record_query import DEFAULT_LIMIT, MAX_LIMIT
from .core import HttpAnswer, HttpRequest
from .problems import problem
from .query import query_problem

T = TypeVar("T")


class BadParameter(ValueError):
    def __init__(self, name: str, message: str) -> None:
        self.name = name
        self.message = message
        super().__init__(f"{name}: {message}")


def bad_parameter(error: BadParameter) -> HttpAnswer:
    return problem(
        400,
        "Invalid query parameter",
        str(error),
        kind="invalid-parameter",
        violations=[Violation(error.name, error.message)],
    )


def unknown_or_repeated(req: HttpRequest, accepted: frozenset[str]) -> HttpAnswer | None:
    """The problem with the query's shape: a parameter given twice, or one not accepted
    (`code` carries the function key in Azure)."""
    repeated = query_problem(req)
    if repeated is not None:
        return repeated
    unknown = sorted(set(req.params) - accepted - {"code"})
    if not unknown:
        return None
    return problem(
        400,
        "Unknown query parameter",
        "unknown query parameter(s): "
        + ", ".join(unknown)
        + " (accepted: "
        + ", ".join(sorted(accepted))
        + ")",
        kind="unknown-parameter",
        violations=[Violation(name, "not a parameter of this listing") for name in unknown],
    )


def text(req: HttpRequest, name: str) -> str | None:
    """The parameter's value; None when absent or empty (an empty filter filters nothing)."""
    value = req.params.get(name)
    return value if value else None


def limit(req: HttpRequest) -> int:
    raw = text(req, "limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadParameter("limit", f"must be a whole number from 1 to {MAX_LIMIT}, got {raw!r}")
    return int(raw)


def moment(req: HttpRequest, name: str) -> datetime | None:
    raw = text(req, name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise BadParameter(
            name, f"must be an ISO 8601 time with its offset (2024-05-01T12:00:00Z), got {raw!r}"
        )
    return value


def one_of(
    req: HttpRequest, name: str, allowed: Iterable[str], make: Callable[[str], T]
) -> list[T]:
    """A comma-separated list of allowed values (the strict reader refuses a repeated
    parameter, so a list is one parameter)."""
    raw = text(req, name)
    if raw is None:
        return []
    choices = list(allowed)
    values = [part.strip() for part in raw.split(",")]
    wrong = [value for value in values if value not in choices]
    if wrong:
        raise BadParameter(
            name,
            f"{', '.join(repr(w) for w in wrong)} not one of: {', '.join(choices)}"
            " (several: comma-separated)",
        )
    return [make(value) for value in dict.fromkeys(values)]


def include(req: HttpRequest, allowed: str) -> bool:
    raw = text(req, "include")
    if raw is None:
        return False
    if raw != allowed:
        raise BadParameter("include", f"the only value is {allowed!r}, got {raw!r}")
    return True


def matching(req: HttpRequest, name: str, pattern: re.Pattern[str], rule: str) -> str | None:
    raw = text(req, name)
    if raw is not None and pattern.fullmatch(raw) is None:
        raise BadParameter(name, f"{raw!r} breaks the rule: {rule}")
    return raw


def printable_text(req: HttpRequest, name: str, max_chars: int) -> str | None:
    raw = text(req, name)
    if raw is not None and (len(raw) > max_chars or not raw.isprintable()):
        raise BadParameter(name, f"must be at most {max_chars} printable characters")
    return raw
