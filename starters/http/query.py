"""The query string of the HTTP API: `?wait=`, and parameters given more than once."""

from __future__ import annotations

import math
from urllib.parse import parse_qsl, urlsplit

from ..contract import Violation
from .core import HttpAnswer, HttpRequest
from .problems import problem

# Long-polls hold a connection (and a worker slot) open: bounded.
MAX_WAIT_S = 30.0


class WaitError(ValueError):
    pass


def parse_wait(req: HttpRequest) -> float:
    """`?wait=<seconds>`: 0 when absent, capped at MAX_WAIT_S."""
    raw = req.params.get("wait")
    if raw is None or raw == "":
        return 0.0
    try:
        seconds = float(raw)
    except ValueError:
        raise WaitError(f"wait must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(seconds):
        raise WaitError(f"wait must be a number of seconds, got {raw!r}")
    if seconds < 0:
        raise WaitError(f"wait must not be negative, got {raw!r}")
    return min(seconds, MAX_WAIT_S)


def read_wait(req: HttpRequest) -> float | HttpAnswer:
    """The `?wait=` seconds, or the problem with the query (a repeated parameter, a wait
    that is not a number of seconds)."""
    refused = query_problem(req)
    if refused is not None:
        return refused
    try:
        return parse_wait(req)
    except WaitError as error:
        return wait_problem(error)


def wait_problem(error: WaitError) -> HttpAnswer:
    return problem(
        400,
        "Invalid wait",
        str(error),
        kind="invalid-parameter",
        violations=[Violation("wait", str(error))],
    )


def repeated_parameters(req: HttpRequest) -> list[str]:
    """Query parameters given more than once. The worker's `params` keeps one value per
    name (the host may join them with commas), so the URL is read, not `params`."""
    names = [name for name, _ in parse_qsl(urlsplit(req.url).query, keep_blank_values=True)]
    return sorted({name for name in names if names.count(name) > 1})


def query_problem(req: HttpRequest) -> HttpAnswer | None:
    repeated = repeated_parameters(req)
    if not repeated:
        return None
    detail = (
        "query parameter(s) given more than once: "
        + ", ".join(repeated)
        + " (each may appear once, so that the request means one thing)"
    )
    return problem(
        400,
        "Repeated query parameter",
        detail,
        kind="repeated-parameter",
        violations=[Violation(name, "given more than once") for name in repeated],
    )
