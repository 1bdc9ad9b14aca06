"""The OpenAPI 3.1 document of the starter's HTTP API, generated from the registry.

Published at `schemas/openapi.json` (a test keeps it in step) and served at
`GET /api/openapi.json`.
"""

from __future__ import annotations

from typing import Any

from ..contract import (
    INSTANCE_ID_PATTERN,
    INSTANCE_ID_RULE,
    REQUEST_ID_PATTERN,
    REQUEST_ID_RULE,
    RESERVED_REQUEST_ID_PATTERN,
    RESERVED_REQUEST_ID_RULE,
    build_schema,
)
from ..outcomes import Outcome
from ..policies import OnFinished, OnRunning, RuntimeStatus
from ..registry import Registry
from ..strict_json import RefusalClass
from .openapi_browser import with_browser_parts
from .openapi_listing import INSTANCE_SUMMARY, listing_paths
from .query import MAX_WAIT_S

VERSION = "1.0.0"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }


WAIT = {
    "name": "wait",
    "in": "query",
    "required": False,
    "description": f"Seconds to wait for the decision (at most {MAX_WAIT_S:g}).",
    "schema": {"type": "number", "minimum": 0},
}


_CHECK = {
    "type": "object",
    "required": ["status", "durationMs"],
    "properties": {
        "status": {"enum": ["ok", "failed"]},
        "detail": {"type": "string", "description": "Why the check failed."},
        "durationMs": {"type": "integer", "minimum": 0},
    },
}
HEALTH = {
    "type": "object",
    "required": ["checks"],
    "properties": {
        "status": {"type": ["string", "integer"]},
        "checks": {
            "type": "object",
            "required": ["outcomeStore", "durable", "sender"],
            "properties": {"outcomeStore": _CHECK, "durable": _CHECK, "sender": _CHECK},
        },
    },
}


def build_openapi(registry: Registry, *, with_events: bool = True) -> dict[str, Any]:
    contract = build_schema(registry)
    request_id = {
        "type": "string",
        "pattern": REQUEST_ID_PATTERN,
        "description": REQUEST_ID_RULE,
    }
    instance_id = {
        "type": "string",
        "pattern": INSTANCE_ID_PATTERN,
        "description": INSTANCE_ID_RULE,
    }
    # What both the POST answer and the outcome record carry.
    decided = {
        "requestId": {"type": "string"},
        "instanceId": {"type": "string"},
        "orchestrator": {"type": "string"},
        "outcome": {"enum": [o.value for o in Outcome]},
        "reason": {"type": ["string", "null"]},
        "existingStatus": {"type": ["string", "null"]},
    }
    answer = {
        "type": "object",
        "required": [
            "requestId",
            "instanceId",
            "orchestrator",
            "outcome",
            "statusUri",
            "requestUri",
        ],
        "properties": {
            **decided,
            "statusUri": {"type": "string"},
            "requestUri": {"type": "string"},
        },
    }
    record = {
        "type": "object",
        "required": ["requestId", "instanceId", "orchestrator", "outcome", "receivedAt"],
        "properties": {
            **decided,
            "receivedAt": {"type": "string", "format": "date-time"},
            "decidedAt": {"type": ["string", "null"], "format": "date-time"},
            "deliveryCount": {"type": "integer"},
            "fingerprint": {"type": "string"},
            "attempts": {
                "type": "array",
                "description": "The last deliveries' results, oldest first (at most 10).",
                "items": {
                    "type": "object",
                    "required": ["deliveryCount", "at", "what"],
                    "properties": {
                        "deliveryCount": {"type": "integer"},
                        "at": {"type": "string", "format": "date-time"},
                        "what": {"type": "string"},
                    },
                },
            },
            "body": {
                "type": "string",
                "description": "The original body (invalid, dead-lettered).",
            },
            "bodyEncoding": {
                "enum": ["base64"],
                "description": "Present when the body was not UTF-8 text: `body` is its base64.",
            },
        },
    }
    instance = {
        "type": "object",
        "required": ["instanceId", "runtimeStatus"],
        "properties": {
            "instanceId": {"type": "string"},
            "name": {"type": ["string", "null"]},
            "runtimeStatus": {"enum": [s.value for s in RuntimeStatus]},
            "createdTime": {"type": ["string", "null"]},
            "lastUpdatedTime": {"type": ["string", "null"]},
            "customStatus": {},
            "output": {},
        },
    }
    problem = {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "refusal": {
                "enum": [c.value for c in RefusalClass],
                "description": "For a body or header the strict JSON reader refused: why.",
            },
            "violations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "field": {"type": ["string", "null"]},
                        "message": {"type": "string"},
                    },
                },
            },
        },
    }
    names = [spec.name for spec in registry]
    start = {
        "operationId": "startOrchestration",
        "summary": "Enqueue a start request for a singleton instance.",
        "parameters": [
            {
                "name": "functionName",
                "in": "path",
                "required": True,
                "description": "A registered orchestrator (case-insensitive): " + ", ".join(names),
                "schema": {"type": "string"},
            },
            {"name": "instanceId", "in": "path", "required": True, "schema": instance_id},
            {
                "name": "onRunning",
                "in": "query",
                "required": False,
                "schema": {"enum": [p.value for p in OnRunning]},
            },
            {
                "name": "onFinished",
                "in": "query",
                "required": False,
                "schema": {"enum": [p.value for p in OnFinished]},
            },
            WAIT,
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "The request ID; a retried POST with the same key is one request.",
                "schema": {
                    **request_id,
                    "not": {"pattern": RESERVED_REQUEST_ID_PATTERN},
                    "description": f"{REQUEST_ID_RULE}; {RESERVED_REQUEST_ID_RULE}",
                },
            },
        ],
        "requestBody": {
            "required": False,
            "description": "The orchestration input (any JSON; empty means null).",
            "content": {"application/json": {"schema": {}}},
        },
        "responses": {
            "201": _json(_ref("Answer"), "Started (or replaced) by this request."),
            "200": _json(_ref("Answer"), "Used the existing instance, or forwarded to it."),
            "202": _json(_ref("Answer"), "Accepted; not decided yet (or queued)."),
            "400": _problem(
                "Malformed JSON (the `refusal` member names the class: syntax, encoding, "
                "depth, number, duplicate-key), an unknown or repeated query parameter."
            ),
            "413": _problem("The body is over the Service Bus message size."),
            "415": _problem(
                "A Content-Type that is not JSON (application/json, application/*+json); "
                "none is taken as JSON."
            ),
            "409": _problem("Rejected: an instance runs (or expired, canceled)."),
            "422": _problem("The request breaks the contract, or reuses a key."),
            "503": _problem("The queue is unavailable (nothing was kept), or dead-lettered."),
        },
    }
    events = {
        "post": {
            "operationId": "postEvents",
            "summary": (
                "CloudEvents 1.0 (structured, batched, or binary: the attributes in ce-* "
                "headers, the data in the body) or Event Grid events."
            ),
            "requestBody": {
                "required": True,
                "content": {
                    "application/cloudevents+json": {"schema": {"type": "object"}},
                    "application/cloudevents-batch+json": {"schema": {"type": "array"}},
                    "application/json": {"schema": {"type": ["array", "object"]}},
                },
            },
            "responses": {
                "200": _json({"type": "object"}, "Event Grid subscription validation answered."),
                "202": _json({"type": "object"}, "Every event was mapped and enqueued."),
                "400": _problem("Invalid or unmapped events (the mapped ones were enqueued)."),
                "413": _problem("Over 1 MiB or 100 events in one batch."),
                "415": _problem("A Content-Type that is not JSON."),
                "503": _problem("The queue is unavailable; deliver again."),
            },
        },
        "options": {
            "operationId": "eventsHandshake",
            "summary": "The CloudEvents webhook abuse-protection handshake.",
            "parameters": [
                {
                    "name": "WebHook-Request-Origin",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string"},
                }
            ],
            "responses": {
                "200": {"description": "Allowed (WebHook-Allowed-Origin)."},
                "400": _problem("No WebHook-Request-Origin header."),
            },
        },
    }
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "Singleton starter",
            "version": VERSION,
            "description": (
                "Race-free singleton orchestrations: start requests go through a Service Bus "
                "session queue keyed by instance ID; each gets a durable outcome."
            ),
        },
        "servers": [{"url": "/api"}],
        "security": [{"functionKey": []}, {"functionKeyHeader": []}],
        "paths": {
            "/orchestrators/{functionName}/{instanceId}": {"post": start},
            "/requests/{requestId}": {
                "parameters": [
                    {"name": "requestId", "in": "path", "required": True, "schema": request_id}
                ],
                "get": {
                    "operationId": "getRequestOutcome",
                    "summary": "What became of a start request.",
                    "parameters": [WAIT],
                    "responses": {
                        "200": _json(_ref("OutcomeRecord"), "Decided."),
                        "202": _json(_ref("OutcomeRecord"), "Pending or queued."),
                        "400": _problem("A bad wait."),
                        "404": _problem("Unknown request (after the wait, when one was asked)."),
                        "422": _problem("Not a valid request ID."),
                        "429": _problem(
                            "Too many waits are open for requests not yet recorded; "
                            "ask again after Retry-After."
                        ),
                    },
                },
                "delete": {
                    "operationId": "cancelRequest",
                    "summary": "Cancel a pending or queued request.",
                    "responses": {
                        "200": _json(_ref("OutcomeRecord"), "Canceled."),
                        "404": _problem("Unknown request."),
                        "409": _problem("Already decided, or being decided now."),
                        "422": _problem("Not a valid request ID."),
                    },
                },
            },
            "/instances/{instanceId}": {
                "get": {
                    "operationId": "getInstance",
                    "summary": "An instance's status (without its input).",
                    "parameters": [
                        {
                            "name": "instanceId",
                            "in": "path",
                            "required": True,
                            "schema": instance_id,
                        }
                    ],
                    "responses": {
                        "200": _json(_ref("InstanceStatus"), "The instance."),
                        "404": _problem("No such instance."),
                        "422": _problem("Not a valid instance ID."),
                    },
                }
            },
            "/health": {
                "get": {
                    "operationId": "getHealth",
                    "summary": (
                        "Checks the outcome store (a read), the Durable API (a status read) and "
                        "the sender (its configuration and connection; nothing is sent)."
                    ),
                    "responses": {
                        "200": _json(_ref("Health"), "Every check answered."),
                        "503": {
                            "description": "A check failed: `checks` names it and says why.",
                            "content": {
                                "application/problem+json": {
                                    "schema": {
                                        "allOf": [_ref("Problem"), _ref("Health")],
                                    }
                                }
                            },
                        },
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document.",
                    "security": [],
                    "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "query", "name": "code"},
                "functionKeyHeader": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
            },
            "schemas": {
                "StartRequest": {k: v for k, v in contract.items() if k not in ("$schema", "$id")},
                "Answer": answer,
                "OutcomeRecord": record,
                "InstanceStatus": instance,
                "InstanceSummary": INSTANCE_SUMMARY,
                "Problem": problem,
                "Health": HEALTH,
            },
        },
    }
    document["paths"].update(listing_paths(request_id))  # type: ignore[attr-defined]
    if with_events:
        document["paths"]["/events"] = events  # type: ignore[index]
    return with_browser_parts(document)
