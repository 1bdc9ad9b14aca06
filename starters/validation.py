"""The starter's validator: the registry's JSON Schema, plus what a schema cannot say (the
SessionId, the message size, the keep-alive ticks' reserved IDs), each schema error turned
into a sentence that names the violation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from jsonschema import Draft202012Validator

from .contract import (
    _KEEP_ALIVE_SLOT,
    _KEEP_ALIVE_SLOT_LENGTH,
    FIELDS,
    HEADER_ALLOWANCE_BYTES,
    INSTANCE_ID_RULE,
    REQUEST_ID_RULE,
    RESERVED_REQUEST_ID_RULE,
    SCHEMA_VERSION,
    STANDARD_MAX_MESSAGE_BYTES,
    ContractViolation,
    StartRequest,
    Violation,
    build_schema,
    canonical_json,
    is_instance_id,
    is_request_id,
    keep_alive_request_id,
    parse_body,
)
from .policies import OnFinished, OnRunning
from .registry import Registry


class ContractValidator:
    """Validates start requests against one registry. Built once per app."""

    def __init__(self, registry: Registry, max_message_bytes: int = STANDARD_MAX_MESSAGE_BYTES):
        self.registry = registry
        self.max_message_bytes = max_message_bytes
        self.schema = build_schema(registry)
        Draft202012Validator.check_schema(self.schema)
        self._validator = Draft202012Validator(self.schema)

    def parse(self, raw: bytes | str) -> dict[str, Any]:
        """Parse a message body into a JSON object, or raise ContractViolation."""
        return parse_body(raw)

    def validate(
        self,
        body: Mapping[str, Any],
        *,
        session_id: str | None = None,
        check_session: bool = True,
        admit_keep_alive: bool = False,
    ) -> StartRequest:
        """Check a parsed body; raise ContractViolation naming every broken rule.

        A reserved request ID is refused, except, with `admit_keep_alive` (the starter's own
        paths: the keep-alive timer, the session and dead-letter triggers), in a body that
        is exactly one of this registry's keep-alive ticks: forging one does what the tick
        does, so it cannot block it.
        """
        tick = admit_keep_alive and self._is_keep_alive_tick(body)
        violations = [
            self._explain(error, body)
            for error in self._validator.iter_errors(body)
            if not (tick and _is_reserved_id_error(error))
        ]
        violations += self._strict_checks(body)
        if check_session and "instanceId" in body and session_id != body.get("instanceId"):
            violations.append(
                Violation(
                    "instanceId",
                    f"must equal the message's SessionId ({session_id!r}), "
                    f"got {body.get('instanceId')!r}",
                )
            )
        if not violations:
            size = len(canonical_json(dict(body)).encode()) + HEADER_ALLOWANCE_BYTES
            if size > self.max_message_bytes:
                violations.append(
                    Violation(
                        None,
                        f"the message would be about {size} bytes, over the "
                        f"{self.max_message_bytes}-byte Service Bus limit",
                    )
                )
        if violations:
            # An unknown policy also fails the per-orchestrator enum: say it once.
            not_policies = {v.field for v in violations if "is not a policy" in v.message}
            violations = [
                v
                for v in violations
                if not (v.field in not_policies and "not allowed" in v.message)
            ]
            unique = list(dict.fromkeys(violations))
            raise ContractViolation(sorted(unique, key=lambda v: (v.field or "", v.message)))
        spec = self.registry.get(body["orchestrator"])
        assert spec is not None  # the schema's pattern admits registered names only
        return StartRequest(
            orchestrator=spec.name,
            instance_id=body["instanceId"],
            request_id=body["requestId"],
            input=body.get("input"),
            on_running=OnRunning(body["onRunning"]) if "onRunning" in body else None,
            on_finished=OnFinished(body["onFinished"]) if "onFinished" in body else None,
        )

    def validate_bytes(
        self, raw: bytes | str, *, session_id: str | None, admit_keep_alive: bool = False
    ) -> StartRequest:
        return self.validate(
            self.parse(raw), session_id=session_id, admit_keep_alive=admit_keep_alive
        )

    def _is_keep_alive_tick(self, body: Mapping[str, Any]) -> bool:
        spec = self.registry.get(str(body.get("orchestrator", "")))
        request_id = body.get("requestId")
        if (
            spec is None
            or not spec.keep_alive_schedule
            or spec.keep_alive_instance_id is None
            or body.get("instanceId") != spec.keep_alive_instance_id
            or not isinstance(request_id, str)
        ):
            return False
        try:
            fired_at = datetime.strptime(
                request_id[-_KEEP_ALIVE_SLOT_LENGTH:], _KEEP_ALIVE_SLOT
            ).replace(tzinfo=timezone.utc)
        except ValueError:
            return False
        return (
            request_id == keep_alive_request_id(spec.keep_alive_instance_id, fired_at)
            and canonical_json(body.get("input")) == canonical_json(spec.keep_alive_input)
            and body.get("onRunning") == OnRunning.USE_EXISTING.value
            and "onFinished" not in body
        )

    def _strict_checks(self, body: Mapping[str, Any]) -> list[Violation]:
        """What Python's `re.search` lets through the schema's patterns (a trailing newline)."""
        found = []
        instance_id, request_id = body.get("instanceId"), body.get("requestId")
        orchestrator = body.get("orchestrator")
        if isinstance(instance_id, str) and not is_instance_id(instance_id):
            found.append(
                Violation(
                    "instanceId", f"{instance_id!r} is not a valid instance ID: {INSTANCE_ID_RULE}"
                )
            )
        if isinstance(request_id, str) and not is_request_id(request_id):
            found.append(
                Violation(
                    "requestId", f"{request_id!r} is not a valid request ID: {REQUEST_ID_RULE}"
                )
            )
        if isinstance(orchestrator, str) and self.registry.get(orchestrator) is None:
            found.append(self._unknown_orchestrator(orchestrator))
        return found

    def _unknown_orchestrator(self, value: object) -> Violation:
        return Violation(
            "orchestrator",
            f"{value!r} is not a registered orchestrator (registered: "
            + ", ".join(self.registry.names)
            + ")",
        )

    def _explain(self, error: Any, body: Mapping[str, Any]) -> Violation:
        path = list(error.absolute_path)
        field = str(path[0]) if path else None
        value = error.instance
        if field is None:
            if error.validator == "required":
                missing = error.message.split("'")[1] if "'" in error.message else error.message
                return Violation(missing, "is required")
            if error.validator == "additionalProperties":
                unknown = sorted(set(body) - set(FIELDS))
                return Violation(None, "unknown field(s): " + ", ".join(unknown))
            return Violation(None, "the body must be a JSON object")
        if field == "schemaVersion":
            return Violation(
                field, f"unsupported schema version {value!r} (this starter reads {SCHEMA_VERSION})"
            )
        if field == "instanceId":
            return Violation(field, f"{value!r} is not a valid instance ID: {INSTANCE_ID_RULE}")
        if field == "requestId" and _is_reserved_id_error(error):
            return Violation(field, f"{value!r} is reserved: {RESERVED_REQUEST_ID_RULE}")
        if field == "requestId":
            return Violation(field, f"{value!r} is not a valid request ID: {REQUEST_ID_RULE}")
        if field == "orchestrator":
            return self._unknown_orchestrator(value)
        if field in ("onRunning", "onFinished"):
            spec = self.registry.get(str(body.get("orchestrator", "")))
            if spec is not None and error.validator == "enum" and "allOf" in error.schema_path:
                allowed = spec.running_policies if field == "onRunning" else spec.finished_policies
                return Violation(
                    field,
                    f"{value!r} is not allowed for {spec.name} (allowed: "
                    + ", ".join(sorted(p.value for p in allowed))
                    + ")",
                )
            choices = OnRunning if field == "onRunning" else OnFinished
            return Violation(
                field,
                f"{value!r} is not a policy (one of: " + ", ".join(p.value for p in choices) + ")",
            )
        if field == "input":
            where = "/".join(str(p) for p in path[1:])
            return Violation("input" + (f"/{where}" if where else ""), error.message)
        return Violation(field, error.message)


def _is_reserved_id_error(error: Any) -> bool:
    return list(error.absolute_path) == ["requestId"] and error.validator == "not"
