"""One log line for each refusal the HTTP API answers: who can see why requests fail.

The line holds the request ID (the route's, the Idempotency-Key, or the one the problem
names), the status and the problem type: never the input or a body, which may hold
anything a producer sent.
"""

from __future__ import annotations

import json
import logging

from .core import HttpAnswer, HttpRequest
from .problems import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_PREFIX

logger = logging.getLogger("starters.http.refusals")
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_ID_CHARS = 128  # an ID the caller chose is logged, but never an unbounded one


def _request_id(answer: HttpAnswer, req: HttpRequest | None) -> str:
    candidates: list[object] = []
    if req is not None:
        candidates += [req.route_params.get("requestId"), req.headers.get(IDEMPOTENCY_HEADER)]
    try:
        body = json.loads(answer.body)
    except ValueError:
        body = None
    if isinstance(body, dict):
        candidates.append(body.get("requestId"))
    for candidate in candidates:
        if isinstance(candidate, str) and candidate:
            return candidate[:MAX_ID_CHARS].encode("unicode_escape").decode()
    return "-"


def problem_type(answer: HttpAnswer) -> str:
    try:
        body = json.loads(answer.body)
    except ValueError:
        return "-"
    kind = body.get("type") if isinstance(body, dict) else None
    return str(kind).removeprefix(PROBLEM_TYPE_PREFIX) if kind else "-"


def log_refusal(answer: HttpAnswer, req: HttpRequest | None = None) -> None:
    """Logs `answer` if it is a refusal (a problem document, 4xx or 5xx)."""
    if answer.status_code < 400 or answer.mimetype != PROBLEM_CONTENT_TYPE:
        return
    level = logging.WARNING if answer.status_code >= 500 else logging.INFO
    logger.log(
        level,
        "refused requestId=%s status=%d type=%s",
        _request_id(answer, req),
        answer.status_code,
        problem_type(answer),
    )
