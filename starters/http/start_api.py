"""The HTTP API: accept start requests onto the queue, and answer what became of them.

It never hands out the Durable webhook links: in Azure they carry the Durable system key,
which lets whoever holds them terminate, purge or raise events on any instance.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any
from urllib.parse import urlsplit

from ..clock import Clock, SystemClock
from ..contract import (
    INSTANCE_ID_RULE,
    REQUEST_ID_RULE,
    SCHEMA_VERSION,
    ContractViolation,
    Violation,
    is_instance_id,
    is_request_id,
)
from ..intake import Intake, QueueUnavailable
from ..outcomes import Outcome, OutcomeRecord, VersionConflict
from ..ports import InstanceClient, OutcomeStore, QueueSender
from ..strict_json import JsonRefused, check_text, read_json
from ..validation import ContractValidator
from .core import OUTCOME_ANSWERS, HttpAnswer, HttpRequest, json_answer
from .cross_site import cross_site_refusal
from .media_types import unsupported_media_type
from .problems import json_problem, problem, queue_unavailable
from .query import read_wait

logger = logging.getLogger("starters.http")

IDEMPOTENCY_HEADER = "Idempotency-Key"
# `code` carries the function key in Azure; anything else unknown is refused, so that a
# misspelt policy is not silently ignored.
START_QUERY_KEYS = frozenset({"onRunning", "onFinished", "wait", "code"})
RETRY_AFTER_S = 1
POLL_S = 0.1
# `GET /api/requests/{id}?wait=N` for an ID with no record yet (sent straight to the queue,
# not yet seen by the handler) waits for the record to appear. Such a wait may be for an
# ID that never will: they are bounded per process, and polled more slowly.
MAX_UNRECORDED_WAITS = 64
UNRECORDED_POLL_MAX_S = 0.5


_REFUSAL_DETAIL = {
    Outcome.INVALID: "invalid",
    Outcome.DEAD_LETTERED: "the request ended in the dead-letter queue",
}


def _origin(req: HttpRequest) -> str:
    parts = urlsplit(req.url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _invalid_id(field: str, label: str, value: str, rule: str) -> HttpAnswer:
    return problem(
        422,
        f"Invalid {label}",
        f"{value!r} is not a valid {label}: {rule}",
        kind="contract-violation",
        violations=[Violation(field, rule)],
    )


def _invalid_request_id(request_id: str) -> HttpAnswer:
    return _invalid_id("requestId", "request ID", request_id, REQUEST_ID_RULE)


def _unknown_request(request_id: str) -> HttpAnswer:
    detail = f"no start request {request_id} is known"
    return problem(404, "Unknown request", detail, kind="not-found")


def _empty_body_violation(violation: Violation) -> Violation:
    # The schema's own words for a missing input ("None is not of type 'object'") say
    # nothing to someone who sent no body.
    return Violation(
        violation.field or "input",
        "the request body is empty, but this orchestrator needs an input: send it as the JSON body",
    )


def _too_many_waits(request_id: str, bound: int) -> HttpAnswer:
    return problem(
        429,
        "Too many waits",
        f"no start request {request_id} is recorded yet, and {bound} waits for requests "
        "not yet recorded are already open; ask again later",
        kind="too-many-waits",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def request_uri(request_id: str) -> str:
    return f"/api/requests/{request_id}"


def instance_uri(instance_id: str) -> str:
    return f"/api/instances/{instance_id}"


class StartApi:
    def __init__(
        self,
        validator: ContractValidator,
        store: OutcomeStore,
        sender: QueueSender,
        clock: Clock | None = None,
        *,
        max_unrecorded_waits: int = MAX_UNRECORDED_WAITS,
    ) -> None:
        self.validator = validator
        self.store = store
        self.sender = sender
        self.clock: Clock = clock or SystemClock()
        self.intake = Intake(store, sender, self.clock)
        self.max_unrecorded_waits = max_unrecorded_waits
        self.unrecorded_waits = 0  # one event loop: a plain counter is enough

    async def start(self, req: HttpRequest, client: InstanceClient | None = None) -> HttpAnswer:
        """POST /api/orchestrators/{functionName}/{instanceId}: validate, record, enqueue.

        With `?wait=<seconds>` it answers with the decision (201, 200, 409) when it comes in time.
        """
        refused = cross_site_refusal(req)
        if refused is not None:
            return refused
        wait = read_wait(req)
        if isinstance(wait, HttpAnswer):
            return wait
        unknown = sorted(set(req.params) - START_QUERY_KEYS)
        if unknown:
            return problem(
                400,
                "Unknown query parameter",
                "unknown query parameter(s): "
                + ", ".join(unknown)
                + " (accepted: onRunning, onFinished, wait)",
                kind="unknown-parameter",
            )
        refused_type = unsupported_media_type(req)
        if refused_type is not None:
            return refused_type
        raw = req.get_body() or b""
        key = req.headers.get(IDEMPOTENCY_HEADER)
        try:
            if key is not None:
                check_text(key, f"the {IDEMPOTENCY_HEADER} header")
            input_value = (
                read_json(
                    raw,
                    what="the request body (the orchestration input)",
                    max_bytes=self.validator.max_message_bytes,
                )
                if raw.strip()
                else None
            )
        except JsonRefused as refusal:
            return json_problem(refusal)
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
                Violation(IDEMPOTENCY_HEADER, v.message)
                if v.field == "requestId"
                else _empty_body_violation(v)
                if input_value is None and not raw.strip() and (v.field or "").startswith("input")
                else v
                for v in violation.violations
            ]
            return problem(
                422,
                "Invalid start request",
                "; ".join(str(v) for v in violations),
                kind="contract-violation",
                violations=violations,
            )
        reservation = await self.intake.reserve(request)
        record = reservation.record
        if not reservation.created and record.fingerprint != request.fingerprint:
            return problem(
                422,
                "Idempotency-Key reused",
                f"{IDEMPOTENCY_HEADER} {request.request_id} was already used for "
                f"instance {record.instance_id} with a different request; use a new key",
                kind="idempotency-key-reused",
            )
        if reservation.needs_send:
            try:
                await self.intake.enqueue([reservation])
            except QueueUnavailable as unavailable:
                return queue_unavailable(
                    unavailable, "nothing was started, retry with the same Idempotency-Key"
                )
        if wait > 0 and not record.outcome.is_final:
            # A queued request answers 202 at once: its wait may be far longer.
            record = (
                await self.wait_for_decision(record.request_id, wait, settle_on_queued=True)
                or record
            )
        return await self._answer(req, record, client)

    async def _answer(
        self, req: HttpRequest, record: OutcomeRecord, client: InstanceClient | None
    ) -> HttpAnswer:
        """The answer for a decided request (OUTCOME_ANSWERS); 202 while it is not decided."""
        payload = {
            "requestId": record.request_id,
            "instanceId": record.instance_id,
            "orchestrator": record.orchestrator,
            "outcome": record.outcome.value,
            "reason": record.reason,
            "existingStatus": record.existing_status,
            "statusUri": instance_uri(record.instance_id),
            "requestUri": request_uri(record.request_id),
        }
        origin = _origin(req)
        outcome = record.outcome
        answer = OUTCOME_ANSWERS[outcome]
        if answer.kind is not None and answer.title is not None:  # a refusal: a problem
            extra: dict[str, Any] = dict(payload)
            if answer.status == 409:  # the instance in the way, as it is now
                instance = None
                if client is not None:
                    snapshot = await client.get_status(record.instance_id)
                    instance = snapshot.to_public() if snapshot else None
                extra["instance"] = instance
            detail = record.reason or _REFUSAL_DETAIL.get(outcome, outcome.value)
            return problem(answer.status, answer.title, detail, kind=answer.kind, extra=extra)
        if answer.status == 201:
            return json_answer(
                201, payload, {"Location": origin + instance_uri(record.instance_id)}
            )
        if answer.status == 202:  # accepted, not decided (yet)
            headers = {
                "Location": origin + request_uri(record.request_id),
                "Retry-After": str(RETRY_AFTER_S),
            }
            return json_answer(202, payload, headers)
        return json_answer(answer.status, payload)

    async def wait_for_decision(
        self, request_id: str, seconds: float, *, settle_on_queued: bool = False
    ) -> OutcomeRecord | None:
        """The record once decided (or queued), or as it stands when `seconds` have passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds

        def waiting(record: OutcomeRecord | None) -> bool:
            if record is None or record.outcome.is_final:
                return False
            return not (settle_on_queued and record.outcome is Outcome.QUEUED)

        record = await self.store.get(request_id)
        while waiting(record) and loop.time() < deadline:
            await asyncio.sleep(min(POLL_S, max(0.0, deadline - loop.time())))
            record = await self.store.get(request_id)
        return record

    async def request_outcome(self, req: HttpRequest) -> HttpAnswer:
        """GET /api/requests/{requestId}: the outcome record."""
        request_id = req.route_params.get("requestId", "")
        if not is_request_id(request_id):
            return _invalid_request_id(request_id)
        wait = read_wait(req)
        if isinstance(wait, HttpAnswer):
            return wait
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        record = await self.store.get(request_id)
        if record is None and wait > 0:
            if self.unrecorded_waits >= self.max_unrecorded_waits:
                return _too_many_waits(request_id, self.max_unrecorded_waits)
            self.unrecorded_waits += 1
            try:
                record = await self._wait_for_record(request_id, deadline)
            finally:
                self.unrecorded_waits -= 1
        if record is not None and not record.outcome.is_final and loop.time() < deadline:
            record = await self.wait_for_decision(request_id, deadline - loop.time())
        if record is None:
            return _unknown_request(request_id)
        if record.outcome.is_final:
            return json_answer(200, record.to_public())
        return json_answer(202, record.to_public(), {"Retry-After": str(RETRY_AFTER_S)})

    async def _wait_for_record(self, request_id: str, deadline: float) -> OutcomeRecord | None:
        loop = asyncio.get_running_loop()
        delay = POLL_S
        while (remaining := deadline - loop.time()) > 0:
            await asyncio.sleep(min(delay, remaining))
            record = await self.store.get(request_id)
            if record is not None:
                return record
            delay = min(delay * 2, UNRECORDED_POLL_MAX_S)
        return None

    async def cancel(self, req: HttpRequest) -> HttpAnswer:
        """DELETE /api/requests/{requestId}: cancel a request that is pending or queued."""
        refused = cross_site_refusal(req)
        if refused is not None:
            return refused
        request_id = req.route_params.get("requestId", "")
        if not is_request_id(request_id):
            return _invalid_request_id(request_id)
        for _ in range(3):
            record = await self.store.get(request_id)
            if record is None:
                return _unknown_request(request_id)
            if record.outcome is Outcome.CANCELED:
                return json_answer(200, record.to_public())
            if record.outcome.is_final:
                return problem(
                    409,
                    "Already decided",
                    f"request {request_id} was already decided: {record.outcome.value}",
                    kind="already-decided",
                    extra={"outcome": record.outcome.value},
                )
            now = self.clock.now()
            if record.claim_until is not None and record.claim_until > now:
                return problem(
                    409,
                    "Being decided",
                    f"request {request_id} is being decided right now; ask again",
                    kind="being-decided",
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                )
            canceled = record.evolve(
                outcome=Outcome.CANCELED,
                reason=f"canceled while {record.outcome.value}",
                decided_at=now,
            )
            try:
                stored = await self.store.replace(canceled)
            except VersionConflict:
                continue
            return json_answer(200, stored.to_public())
        return problem(
            409,
            "Being decided",
            f"request {request_id} kept changing; ask again",
            kind="being-decided",
        )

    async def instance_status(self, req: HttpRequest, client: InstanceClient) -> HttpAnswer:
        """GET /api/instances/{instanceId}: the instance's status, in this API's own shape."""
        instance_id = req.route_params.get("instanceId", "")
        if not is_instance_id(instance_id):
            return _invalid_id("instanceId", "instance ID", instance_id, INSTANCE_ID_RULE)
        status = await client.get_status(instance_id)
        if status is None:
            return problem(
                404, "Unknown instance", f"no instance {instance_id} exists", kind="not-found"
            )
        return json_answer(200, status.to_public())
