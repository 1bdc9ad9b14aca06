"""Which request bodies the HTTP API reads as JSON: `application/json`, any
`application/*+json` (the CloudEvents types among them), or no Content-Type at all (taken as
JSON, as a plain `curl -X POST` sends none). Anything else is refused with 415 rather than
read as JSON it was not declared to be."""

from __future__ import annotations

from .core import HttpAnswer, HttpRequest
from .problems import problem


def media_type(value: str | None) -> str:
    """`Application/JSON; charset=utf-8` -> `application/json`; "" when absent."""
    return (value or "").split(";", 1)[0].strip().lower()


def is_json(value: str | None) -> bool:
    kind = media_type(value)
    if not kind:
        return True
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def unsupported_media_type(req: HttpRequest) -> HttpAnswer | None:
    """The 415 problem for a body declared as something other than JSON, else None."""
    declared = req.headers.get("content-type")
    if is_json(declared):
        return None
    return problem(
        415,
        "Unsupported media type",
        f"Content-Type {media_type(declared)!r} is not JSON: send application/json "
        "(or another application/*+json type), or no Content-Type",
        kind="unsupported-media-type",
        headers={"Accept-Post": "application/json, application/*+json"},
    )
