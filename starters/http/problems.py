"""RFC 9457 problem details: every refusal names the rule it broke."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..contract import Violation
from ..intake import QueueUnavailable
from ..strict_json import JsonRefused, RefusalClass
from .core import HttpAnswer

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:singleton-starters:problem:"
QUEUE_RETRY_AFTER_S = 5


def problem_body(
    status: int,
    title: str,
    detail: str,
    *,
    kind: str,
    violations: Sequence[Violation] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + kind,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if violations:
        body["violations"] = [{"field": v.field, "message": v.message} for v in violations]
    if extra:
        body.update(extra)
    return body


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    kind: str,
    violations: Sequence[Violation] = (),
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> HttpAnswer:
    body = problem_body(status, title, detail, kind=kind, violations=violations, extra=extra)
    return HttpAnswer(status, json.dumps(body).encode(), dict(headers or {}), PROBLEM_CONTENT_TYPE)


def queue_unavailable(unavailable: QueueUnavailable, advice: str) -> HttpAnswer:
    """503 for requests the intake could not enqueue (their records were rolled back)."""
    return problem(
        503,
        "Queue unavailable",
        f"{unavailable}; {advice}",
        kind="queue-unavailable",
        headers={"Retry-After": str(QUEUE_RETRY_AFTER_S)},
    )


def json_problem(refused: JsonRefused) -> HttpAnswer:
    """A document the strict reader refused: 413 when too large, 400 otherwise. The
    `refusal` member names the class (size, encoding, syntax, depth, number, duplicate-key)."""
    status, title, kind = _JSON_PROBLEMS.get(refused.refusal, _MALFORMED)
    return problem(status, title, str(refused), kind=kind, extra={"refusal": refused.refusal.value})


_MALFORMED = (400, "Malformed JSON", "malformed-json")
_JSON_PROBLEMS = {
    RefusalClass.SIZE: (413, "Content too large", "content-too-large"),
    RefusalClass.ENCODING: (400, "Invalid text encoding", "invalid-encoding"),
}
