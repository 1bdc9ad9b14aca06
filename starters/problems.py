"""RFC 9457 problem details: every refusal names the rule it broke."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import azure.functions as func

from .contract import Violation

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:singleton-starters:problem:"


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
) -> func.HttpResponse:
    body = problem_body(status, title, detail, kind=kind, violations=violations, extra=extra)
    return func.HttpResponse(
        json.dumps(body),
        status_code=status,
        headers=dict(headers or {}),
        mimetype=PROBLEM_CONTENT_TYPE,
    )
