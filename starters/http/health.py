"""`GET /api/health`: is each part the starter depends on reachable right now?

Each check is a read (the outcome store, the Durable API's status of an ID nobody uses) or
opens a connection (the sender's queue) and sends nothing. 200 when all answer; 503, naming
the part that failed and why, only for such an outage: the health route never refuses a
request, so a 503 always means "a dependency is down or misconfigured".
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .core import HttpAnswer, json_answer
from .problems import PROBLEM_CONTENT_TYPE, problem_body

logger = logging.getLogger("starters.http")

# A check that answers slower than this is an outage for a caller that probes health.
CHECK_TIMEOUT_S = 5.0
# The ID the Durable and store checks read: valid, and never used by a request.
PROBE_ID = "starter-health-probe"

Check = Callable[[], Awaitable[None]]


async def _run(check: Check, timeout: float) -> dict[str, Any]:
    started = time.monotonic()
    try:
        await asyncio.wait_for(check(), timeout)
    except asyncio.TimeoutError:
        failure = f"no answer within {timeout:g} s"
    except Exception as error:  # any failure of a dependency is what this route reports
        failure = f"{type(error).__name__}: {error}".strip()
    else:
        return {"status": "ok", "durationMs": round((time.monotonic() - started) * 1000)}
    return {
        "status": "failed",
        "detail": " ".join(failure.split())[:500],
        "durationMs": round((time.monotonic() - started) * 1000),
    }


async def health_answer(
    checks: Mapping[str, Check], timeout: float = CHECK_TIMEOUT_S
) -> HttpAnswer:
    """Runs the checks side by side; 200 `{"status": "healthy", "checks": ...}`, or a 503
    problem (`unhealthy`) whose `checks` say which failed and how."""
    names = list(checks)
    results = await asyncio.gather(*(_run(checks[name], timeout) for name in names))
    report = dict(zip(names, results, strict=True))
    failed = [name for name, result in report.items() if result["status"] != "ok"]
    if not failed:
        return json_answer(200, {"status": "healthy", "checks": report})
    for name in failed:
        logger.warning("health: %s failed: %s", name, report[name]["detail"])
    body = problem_body(
        503,
        "Unhealthy",
        f"failed: {', '.join(failed)}",
        kind="unhealthy",
        extra={"checks": report},
    )
    return HttpAnswer(503, json.dumps(body).encode(), {"Retry-After": "5"}, PROBLEM_CONTENT_TYPE)
