"""The start-request contract: the one wire format every producer uses.

A Service Bus message, content type application/json, SessionId = instance ID, body:

    {"schemaVersion": 1, "orchestrator": "<name>", "instanceId": "<id>",
     "requestId": "<id>", "input": <any JSON>, "onRunning": "<policy>"?,
     "onFinished": "<policy>"?}

The JSON Schema is generated from the registry (`build_schema`) and is the validator
(validation.py adds what a schema cannot say and names each violation in a sentence).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

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


def parse_body(raw: bytes | str) -> dict[str, Any]:
    """Parse a message body into a JSON object (the strict reader), or raise
    ContractViolation."""
    try:
        value = read_json(raw)
    except JsonRefused as refused:
        raise ContractViolation([Violation(None, str(refused))]) from None
    if not isinstance(value, dict):
        raise ContractViolation([Violation(None, "the body must be a JSON object")])
    return value


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


def __getattr__(name: str) -> Any:
    from ._moved import moved_attribute

    return moved_attribute(__name__, name, {"ContractValidator": "starters.validation"})
