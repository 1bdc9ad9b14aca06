"""Validation for a producer with no registry at hand: the app's published JSON Schema.

The schema (`schemas/start-request.schema.json`, generated from the app's registry and
shipped in the package) says everything the wire format requires, so a producer in another
repository checks its requests before sending them without importing the app. The starter
checks them again on receipt, with its registry, and records `invalid` what slips through.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from ..contract import (
    HEADER_ALLOWANCE_BYTES,
    STANDARD_MAX_MESSAGE_BYTES,
    ContractViolation,
    StartRequest,
    Violation,
    canonical_json,
    is_instance_id,
    is_request_id,
    parse_body,
)
from ..policies import OnFinished, OnRunning
from ..strict_json import read_json

SCHEMA_RESOURCE = "start-request.schema.json"


def packaged_schema() -> dict[str, Any]:
    """The start-request schema shipped with this package."""
    text = (
        resources.files("starters").joinpath("schemas").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    )
    document: dict[str, Any] = json.loads(text)
    return document


def load_schema(path: str | Path | None = None) -> dict[str, Any]:
    """The schema at `path`, or the packaged one."""
    if path is None:
        return packaged_schema()
    document = read_json(Path(path).read_bytes(), what=f"the schema {path}")
    if not isinstance(document, dict):
        raise ValueError(f"{path} does not hold a JSON Schema object")
    return document


class PublishedSchemaValidator:
    """Checks start requests against a published schema (the interface of ContractValidator
    that producers use: `parse`, `validate`, `max_message_bytes`)."""

    def __init__(
        self,
        schema: Mapping[str, Any] | None = None,
        max_message_bytes: int = STANDARD_MAX_MESSAGE_BYTES,
    ) -> None:
        self.schema = dict(schema) if schema is not None else packaged_schema()
        Draft202012Validator.check_schema(self.schema)
        self._validator = Draft202012Validator(self.schema)
        self.max_message_bytes = max_message_bytes

    def parse(self, raw: bytes | str) -> dict[str, Any]:
        return parse_body(raw)

    def validate(
        self, body: Mapping[str, Any], *, session_id: str | None = None, check_session: bool = True
    ) -> StartRequest:
        violations = [_violation(error) for error in self._validator.iter_errors(dict(body))]
        # What Python's `re.search` lets through the schema's patterns (a trailing newline).
        flagged = {v.field for v in violations}
        for field, check in (("instanceId", is_instance_id), ("requestId", is_request_id)):
            value = body.get(field)
            if field not in flagged and isinstance(value, str) and not check(value):
                violations.append(Violation(field, f"{value!r} does not match the schema"))
        if check_session and "instanceId" in body and session_id != body.get("instanceId"):
            violations.append(
                Violation("instanceId", f"must equal the message's SessionId ({session_id!r})")
            )
        size = len(canonical_json(dict(body)).encode()) + HEADER_ALLOWANCE_BYTES
        if size > self.max_message_bytes:
            violations.append(
                Violation(None, f"the message would be about {size} bytes, over the limit")
            )
        if violations:
            unique = list(dict.fromkeys(violations))
            raise ContractViolation(sorted(unique, key=lambda v: (v.field or "", v.message)))
        return StartRequest(
            orchestrator=body["orchestrator"],
            instance_id=body["instanceId"],
            request_id=body["requestId"],
            input=body.get("input"),
            on_running=OnRunning(body["onRunning"]) if "onRunning" in body else None,
            on_finished=OnFinished(body["onFinished"]) if "onFinished" in body else None,
        )


def _violation(error: Any) -> Violation:
    path = [str(p) for p in error.absolute_path]
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    message = error.message + (f" ({description})" if description else "")
    return Violation("/".join(path) or None, message)
