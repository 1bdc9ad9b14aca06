"""The start-request contract: the one wire format every producer uses.

A Service Bus message, content type application/json, SessionId = instance ID, body:

    {"schemaVersion": 1, "orchestrator": "<name>", "instanceId": "<id>",
     "requestId": "<id>", "input": <any JSON>, "onRunning": "<policy>"?,
     "onFinished": "<policy>"?}

The JSON Schema is generated from the registry (`build_schema`) and is the validator: the
code below only adds what a schema cannot say (the SessionId, the message size) and turns
schema errors into sentences that name the violation.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from jsonschema import Draft202012Validator

from .policies import OnFinished, OnRunning, Policy
from .registry import OrchestratorSpec, Registry
from .strict_json import JsonRefused, read_json

SCHEMA_VERSION = 1
CONTENT_TYPE = "application/json"

# An allow-list, because the Durable SDK puts IDs into URLs unescaped: `/`, `%`, `+`, `.`
# and `..` would be rewritten or re-routed on their way to the host.
INSTANCE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
INSTANCE_ID_RULE = "1 to 100 characters from A-Z a-z 0-9 - _ . : starting with a letter or digit"
# No `:` in request IDs: derived MessageIds use it as their separator. A lone `.` or `..`
# would re-route /api/requests/{requestId}.
REQUEST_ID_PATTERN = r"^(?!\.\.?$)[A-Za-z0-9_.-]{1,100}$"
REQUEST_ID_RULE = "1 to 100 characters from A-Z a-z 0-9 - _ . (not '.' or '..')"

# The starter's own request IDs (keep-alive ticks) start with this; producers cannot use
# it, so no one can take a tick's predictable ID before the tick does and block it.
RESERVED_REQUEST_ID_PREFIX = "keepalive-"
RESERVED_REQUEST_ID_PATTERN = f"^{re.escape(RESERVED_REQUEST_ID_PREFIX)}"
RESERVED_REQUEST_ID_RULE = (
    f"request IDs starting with {RESERVED_REQUEST_ID_PREFIX!r} are reserved for the "
    "starter's keep-alive ticks"
)
_KEEP_ALIVE_SLOT = "%Y%m%dT%H%M"
_KEEP_ALIVE_SLOT_LENGTH = len("20260101T0000")

_INSTANCE_ID_RE = re.compile(INSTANCE_ID_PATTERN)
_REQUEST_ID_RE = re.compile(REQUEST_ID_PATTERN)

# Standard tier: 256 KB per message, headers included. Premium raises it (a setting).
STANDARD_MAX_MESSAGE_BYTES = 256 * 1024
# Room kept for the broker properties and application properties this project sets.
HEADER_ALLOWANCE_BYTES = 1024

FIELDS = (
    "schemaVersion",
    "orchestrator",
    "instanceId",
    "requestId",
    "input",
    "onRunning",
    "onFinished",
)


# fullmatch, never match/search: in Python `$` also matches before a trailing newline, so
# "job-1\n" would pass the schema's pattern (ECMA-262 regexes, the schema's dialect, do not
# have that quirk).
def is_instance_id(value: object) -> bool:
    return isinstance(value, str) and _INSTANCE_ID_RE.fullmatch(value) is not None


def is_request_id(value: object) -> bool:
    return isinstance(value, str) and _REQUEST_ID_RE.fullmatch(value) is not None


def is_reserved_request_id(value: object) -> bool:
    return isinstance(value, str) and value.startswith(RESERVED_REQUEST_ID_PREFIX)


def keep_alive_request_id(instance_id: str, fired_at: datetime) -> str:
    """The request ID of a keep-alive tick: one per instance and minute, so a tick that
    fires twice (a host restart, two instances) enqueues one request."""
    slot = fired_at.astimezone(timezone.utc).strftime(_KEEP_ALIVE_SLOT)
    name = instance_id.replace(":", "_")
    room = 100 - len(RESERVED_REQUEST_ID_PREFIX) - 1 - len(slot)
    if len(name) > room:  # keep the minute: a cut one would make every tick the same ID
        name = hashlib.sha256(instance_id.encode()).hexdigest()[:room]
    return f"{RESERVED_REQUEST_ID_PREFIX}{name}-{slot}"


def message_id_for(request_id: str, attempt: int = 0) -> str:
    """The MessageId of a request's send number `attempt`.

    The first send uses the request ID, so Service Bus duplicate detection drops a retried
    send; every re-send (re-scheduling, resubmission) needs its own deterministic ID, or
    duplicate detection would silently drop it.
    """
    if attempt < 0:
        raise ValueError("attempt must not be negative")
    return request_id if attempt == 0 else f"{request_id}:{attempt}"


def request_id_for(*parts: object) -> str:
    """A deterministic request ID for "at most once per X": the same parts, the same ID."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return f"rq-{digest[:40]}"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


@dataclass(frozen=True)
class Violation:
    """One broken rule: the field it concerns (None for the whole message) and why."""

    field: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ContractViolation(ValueError):
    """A start request that breaks the contract, with every rule it breaks."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        super().__init__("; ".join(str(v) for v in violations))


@dataclass(frozen=True)
class StartRequest:
    """A validated start request; `orchestrator` is the registered spelling of the name."""

    orchestrator: str
    instance_id: str
    request_id: str
    input: Any = None
    on_running: OnRunning | None = None
    on_finished: OnFinished | None = None

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "schemaVersion": SCHEMA_VERSION,
            "orchestrator": self.orchestrator,
            "instanceId": self.instance_id,
            "requestId": self.request_id,
            "input": self.input,
        }
        if self.on_running is not None:
            body["onRunning"] = self.on_running.value
        if self.on_finished is not None:
            body["onFinished"] = self.on_finished.value
        return body

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_body(), separators=(",", ":"), ensure_ascii=False).encode()

    def policy(self, spec: OrchestratorSpec) -> Policy:
        return Policy(
            on_running=self.on_running or spec.on_running,
            on_finished=self.on_finished or spec.on_finished,
        )

    @property
    def fingerprint(self) -> str:
        """Identifies what was asked, so a reused request ID with other content is caught."""
        body = self.to_body()
        body["orchestrator"] = self.orchestrator.casefold()
        return fingerprint(body)

    @property
    def input_fingerprint(self) -> str:
        return fingerprint(self.input)


def _case_insensitive(name: str) -> str:
    # JSON Schema patterns have no flags; spell each letter both ways instead.
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in name)


def build_schema(registry: Registry) -> dict[str, Any]:
    """The JSON Schema (2020-12) of a start request for the orchestrators in `registry`."""
    names = "|".join(_case_insensitive(spec.name) for spec in registry)
    per_orchestrator: list[dict[str, Any]] = []
    for spec in registry:
        then: dict[str, Any] = {
            "properties": {
                "onRunning": {"enum": sorted(p.value for p in spec.running_policies)},
                "onFinished": {"enum": sorted(p.value for p in spec.finished_policies)},
            }
        }
        if spec.input_schema is not None:
            then["properties"]["input"] = dict(spec.input_schema)
        per_orchestrator.append(
            {
                "if": {
                    "properties": {
                        "orchestrator": {"pattern": f"^{_case_insensitive(spec.name)}$"}
                    },
                    "required": ["orchestrator"],
                },
                "then": then,
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:singleton-starters:start-request:1",
        "title": "Start request",
        "description": (
            "Body of a Service Bus message (content type application/json) whose SessionId "
            "equals instanceId. Orchestrator names match case-insensitively."
        ),
        "type": "object",
        "required": ["schemaVersion", "orchestrator", "instanceId", "requestId"],
        "additionalProperties": False,
        "properties": {
            "schemaVersion": {"const": SCHEMA_VERSION},
            "orchestrator": {
                "type": "string",
                "pattern": f"^(?:{names})$" if names else "^$",
                "description": "Registered orchestrator: " + ", ".join(registry.names),
            },
            "instanceId": {
                "type": "string",
                "pattern": INSTANCE_ID_PATTERN,
                "description": INSTANCE_ID_RULE,
            },
            "requestId": {
                "type": "string",
                "pattern": REQUEST_ID_PATTERN,
                "not": {"pattern": RESERVED_REQUEST_ID_PATTERN},
                "description": f"{REQUEST_ID_RULE}; {RESERVED_REQUEST_ID_RULE}",
            },
            "input": {"description": "Any JSON value; null when absent."},
            "onRunning": {"enum": [p.value for p in OnRunning]},
            "onFinished": {"enum": [p.value for p in OnFinished]},
        },
        "allOf": per_orchestrator,
    }


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
        try:
            value = read_json(raw)
        except JsonRefused as refused:
            raise ContractViolation([Violation(None, str(refused))]) from None
        if not isinstance(value, dict):
            raise ContractViolation([Violation(None, "the body must be a JSON object")])
        return value

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
