"""The HTTP API: accept start requests onto the queue, and answer what became of them.

It never hands out the Durable webhook links: in Azure they carry the Durable system key,
which lets whoever holds them terminate, purge or raise events on any instance.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func

from .clock import Clock, SystemClock
from .contract import (
    INSTANCE_ID_RULE,
    REQUEST_ID_RULE,
    SCHEMA_VERSION,
    ContractValidator,
    ContractViolation,
    Violation,
    is_instance_id,
    is_request_id,
)
from .instances import InstanceClient
from .messages import OutgoingMessage, Sender
from .outcomes import Outcome, OutcomeRecord, OutcomeStore, RecordExists
from .problems import problem

logger = logging.getLogger("starters.http")

IDEMPOTENCY_HEADER = "Idempotency-Key"
# `code` carries the function key in Azure; anything else unknown is refused, so that a
# misspelt policy is not silently ignored.
START_QUERY_KEYS = frozenset({"onRunning", "onFinished", "code"})
RETRY_AFTER_S = 1


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body), status_code=status, headers=headers or {}, mimetype="application/json"
    )


def _origin(req: func.HttpRequest) -> str:
    parts = urlsplit(req.url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def request_uri(request_id: str) -> str:
    return f"/api/requests/{request_id}"


def instance_uri(instance_id: str) -> str:
    return f"/api/instances/{instance_id}"


class StartApi:
    def __init__(
        self,
        validator: ContractValidator,
        store: OutcomeStore,
        sender: Sender,
        clock: Clock | None = None,
    ) -> None:
        self.validator = validator
        self.store = store
        self.sender = sender
        self.clock: Clock = clock or SystemClock()

    async def start(self, req: func.HttpRequest) -> func.HttpResponse:
        """POST /api/orchestrators/{functionName}/{instanceId}: validate, record, enqueue."""
        unknown = sorted(set(req.params) - START_QUERY_KEYS)
        if unknown:
            return problem(
                400,
                "Unknown query parameter",
                "unknown query parameter(s): "
                + ", ".join(unknown)
                + " (accepted: onRunning, onFinished)",
                kind="unknown-parameter",
            )
        raw = req.get_body() or b""
        if raw.strip():
            try:
                input_value = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                return problem(
                    400,
                    "Malformed JSON",
                    f"the request body (the orchestration input) is not valid JSON: {error}",
                    kind="malformed-json",
                )
        else:
            input_value = None
        key = req.headers.get(IDEMPOTENCY_HEADER)
        body: dict[str, Any] = {
            "schemaVersion": SCHEMA_VERSION,
            "orchestrator": req.route_params.get("functionName", ""),
            "instanceId": req.route_params.get("instanceId", ""),
            "requestId": key if key is not None else uuid.uuid4().hex,
            "input": input_value,
        }
        for name in ("onRunning", "onFinished"):
            if name in req.params:
                body[name] = req.params[name]
        try:
            request = self.validator.validate(body, check_session=False)
        except ContractViolation as violation:
            violations = [
                Violation(IDEMPOTENCY_HEADER, v.message) if v.field == "requestId" else v
                for v in violation.violations
            ]
            return problem(
                422,
                "Invalid start request",
                "; ".join(str(v) for v in violations),
                kind="contract-violation",
                violations=violations,
            )
        record = OutcomeRecord(
            request_id=request.request_id,
            instance_id=request.instance_id,
            orchestrator=request.orchestrator,
            outcome=Outcome.PENDING,
            received_at=self.clock.now(),
            fingerprint=request.fingerprint,
        )
        created = True
        try:
            record = await self.store.insert(record)
        except RecordExists as exists:
            created = False
            record = exists.existing
            if record.fingerprint != request.fingerprint:
                return problem(
                    422,
                    "Idempotency-Key reused",
                    f"{IDEMPOTENCY_HEADER} {request.request_id} was already used for "
                    f"instance {record.instance_id} with a different request; use a new key",
                    kind="idempotency-key-reused",
                )
        if created or record.outcome is Outcome.PENDING:
            # A retried POST re-sends under the same MessageId: duplicate detection drops
            # it if the first send got through, and it heals one that did not.
            try:
                await self.sender.send([OutgoingMessage.for_request(request)])
            except Exception as error:
                logger.exception("enqueueing request %s failed", request.request_id)
                if created:
                    await self.store.delete(record)
                return problem(
                    503,
                    "Queue unavailable",
                    f"the start request could not be enqueued ({type(error).__name__}); "
                    "nothing was started, retry with the same Idempotency-Key",
                    kind="queue-unavailable",
                    headers={"Retry-After": "5"},
                )
        payload = {
            "requestId": request.request_id,
            "instanceId": request.instance_id,
            "orchestrator": request.orchestrator,
            "outcome": record.outcome.value,
            "statusUri": instance_uri(request.instance_id),
            "requestUri": request_uri(request.request_id),
        }
        location = _origin(req) + request_uri(request.request_id)
        return _json(202, payload, {"Location": location})

    async def request_outcome(self, req: func.HttpRequest) -> func.HttpResponse:
        """GET /api/requests/{requestId}: the outcome record."""
        request_id = req.route_params.get("requestId", "")
        if not is_request_id(request_id):
            return problem(
                422,
                "Invalid request ID",
                f"{request_id!r} is not a valid request ID: {REQUEST_ID_RULE}",
                kind="contract-violation",
                violations=[Violation("requestId", REQUEST_ID_RULE)],
            )
        record = await self.store.get(request_id)
        if record is None:
            return problem(
                404, "Unknown request", f"no start request {request_id} is known", kind="not-found"
            )
        if record.outcome.is_final:
            return _json(200, record.to_public())
        return _json(202, record.to_public(), {"Retry-After": str(RETRY_AFTER_S)})

    async def instance_status(
        self, req: func.HttpRequest, client: InstanceClient
    ) -> func.HttpResponse:
        """GET /api/instances/{instanceId}: the instance's status, in this API's own shape."""
        instance_id = req.route_params.get("instanceId", "")
        if not is_instance_id(instance_id):
            return problem(
                422,
                "Invalid instance ID",
                f"{instance_id!r} is not a valid instance ID: {INSTANCE_ID_RULE}",
                kind="contract-violation",
                violations=[Violation("instanceId", INSTANCE_ID_RULE)],
            )
        status = await client.get_status(instance_id)
        if status is None:
            return problem(
                404, "Unknown instance", f"no instance {instance_id} exists", kind="not-found"
            )
        return _json(200, status.to_public())
