"""The OpenAPI paths and schemas of the listings and of resubmission (build_openapi adds
them to the document)."""

from __future__ import annotations

from typing import Any

from ..contract import INSTANCE_ID_PATTERN, INSTANCE_ID_RULE
from ..outcomes import Outcome
from ..policies import RuntimeStatus
from ..record_query import DEFAULT_LIMIT, MAX_LIMIT


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }


def _page(item: str, description: str) -> dict[str, Any]:
    schema = {
        "type": "object",
        "required": ["items", "continuationToken"],
        "properties": {
            "items": {"type": "array", "items": _ref(item)},
            "continuationToken": {
                "type": ["string", "null"],
                "description": "Pass it back, with the same filters, for the next page; "
                "null on the last page.",
            },
        },
    }
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _comma_list(values: list[str]) -> dict[str, Any]:
    one = "(" + "|".join(values) + ")"
    return {"type": "string", "pattern": f"^{one}(,{one})*$"}


LIMIT = _query(
    "limit",
    f"Page size, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT}).",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
)
TOKEN = _query(
    "continuationToken",
    "The previous page's continuationToken (the other filters unchanged).",
    {"type": "string"},
)

INSTANCE_SUMMARY = {
    "type": "object",
    "required": ["instanceId", "runtimeStatus"],
    "properties": {
        "instanceId": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "runtimeStatus": {"type": "string"},
        "createdTime": {"type": ["string", "null"]},
        "lastUpdatedTime": {"type": ["string", "null"]},
        "input": {"description": "With include=input only."},
        "output": {"description": "With include=input only."},
        "customStatus": {"description": "With include=input only."},
    },
}


def listing_paths(request_id: dict[str, Any]) -> dict[str, Any]:
    instance_id = {"type": "string", "pattern": INSTANCE_ID_PATTERN}
    moment = {"type": "string", "format": "date-time"}
    requests = {
        "get": {
            "operationId": "listRequests",
            "summary": "Outcome records, newest first (by receivedAt, ties by request ID).",
            "parameters": [
                _query("instanceId", f"Only this instance's ({INSTANCE_ID_RULE}).", instance_id),
                _query(
                    "outcome",
                    "Only these outcomes, comma-separated.",
                    _comma_list([o.value for o in Outcome]),
                ),
                _query("orchestrator", "Only this orchestrator's.", {"type": "string"}),
                _query("since", "receivedAt at or after (ISO 8601, with offset).", moment),
                _query("until", "receivedAt before (ISO 8601, with offset).", moment),
                LIMIT,
                TOKEN,
                _query(
                    "include",
                    "`body`: the kept body of invalid and dead-lettered records too.",
                    {"enum": ["body"]},
                ),
            ],
            "responses": {
                "200": _page("OutcomeRecord", "A page of records."),
                "400": _problem("A bad, unknown or repeated parameter, or a bad token."),
            },
        }
    }
    instances = {
        "get": {
            "operationId": "listInstances",
            "summary": "Durable instances by ID prefix and runtime status (no inputs).",
            "parameters": [
                _query(
                    "prefix",
                    "Instance IDs starting with this.",
                    {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,100}$"},
                ),
                _query(
                    "status",
                    "Only these runtime statuses, comma-separated.",
                    _comma_list([s.value for s in RuntimeStatus]),
                ),
                LIMIT,
                TOKEN,
                _query(
                    "include",
                    "`input`: each instance's input, output and customStatus too.",
                    {"enum": ["input"]},
                ),
            ],
            "responses": {
                "200": _page("InstanceSummary", "A page of instances."),
                "400": _problem("A bad, unknown or repeated parameter, or a bad token."),
                "503": _problem("The Durable query API did not answer; ask again."),
            },
        }
    }
    resubmit = {
        "post": {
            "operationId": "resubmitRequest",
            "summary": (
                "Decide a dead-lettered request again from its record: reopened `pending`, "
                "its kept body sent again; safe to repeat."
            ),
            "parameters": [
                {"name": "requestId", "in": "path", "required": True, "schema": request_id}
            ],
            "responses": {
                "202": {
                    "description": "Resubmitted (or already, and not decided yet).",
                    "content": {"application/json": {"schema": _ref("OutcomeRecord")}},
                },
                "400": _problem("A query parameter (there are none)."),
                "404": _problem("Unknown request."),
                "409": _problem("Not dead-lettered (or it kept no body), or changing now."),
                "422": _problem("Not a valid request ID."),
                "503": _problem("The queue did not take it; the record is unchanged."),
            },
        }
    }
    return {
        "/requests": requests,
        "/instances": instances,
        "/requests/{requestId}/resubmit": resubmit,
    }
