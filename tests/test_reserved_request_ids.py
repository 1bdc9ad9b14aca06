"""Keep-alive ticks live in a request-ID namespace producers cannot use: refused at every
intake (HTTP, the Python client's and the command line's validation, the published JSON
Schema, the queue), so no one can take a tick's predictable ID first and block it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from orchestrators import eternal_monitor
from starters.contract import ContractViolation, is_request_id, keep_alive_request_id
from starters.functions.blueprint import keep_alive_request
from starters.handling.handler import StartHandler
from starters.http.start_api import StartApi
from starters.messages import IncomingMessage
from starters.outcomes import Outcome
from starters.registry import OrchestratorSpec
from starters.stores.memory import MemoryOutcomeStore
from starters.validation import ContractValidator
from tests.fakes import FakeClock, FakeDurable, RecordingSender
from tests.test_cli import run
from tests.test_handler import delivery
from tests.test_http_api import post, problem_of

ROOT = Path(__file__).resolve().parent.parent
TICK_AT = datetime(2026, 12, 1, 22, 5, tzinfo=timezone.utc)
SPEC = eternal_monitor.SPEC


def tick_body() -> dict[str, Any]:
    return keep_alive_request(SPEC, TICK_AT).to_body()


def forged(**changes: Any) -> dict[str, Any]:
    return {**tick_body(), **changes}


def test_the_published_schema_refuses_reserved_request_ids() -> None:
    schema = json.loads((ROOT / "schemas" / "start-request.schema.json").read_text())
    validator = Draft202012Validator(schema)
    assert not validator.is_valid(tick_body())  # not even a genuine tick, from a producer
    assert validator.is_valid(forged(requestId="my-keepalive-1"))  # only the prefix


def test_the_command_line_refuses_them_with_the_reason() -> None:
    result = run("validate", "-", stdin=json.dumps(forged(onRunning="reject")))
    assert result.returncode == 2
    assert "is reserved" in result.stderr and "keep-alive" in result.stderr


def test_producers_validation_refuses_even_a_genuine_tick(validator: ContractValidator) -> None:
    with pytest.raises(ContractViolation, match="is reserved"):
        validator.validate(tick_body(), session_id=SPEC.keep_alive_instance_id)


def test_the_starter_admits_exactly_its_own_ticks(validator: ContractValidator) -> None:
    request = validator.validate(tick_body(), check_session=False, admit_keep_alive=True)
    assert request.request_id.startswith("keepalive-")
    for body in (
        forged(onRunning="reject"),
        forged(input={"interval_s": 1}),
        forged(onFinished="reject"),
        forged(requestId=keep_alive_request_id("eternal-monitor", TICK_AT)[:-1] + "x"),
        forged(requestId="keepalive-other-20261201T2205", instanceId="other"),
    ):
        with pytest.raises(ContractViolation, match="is reserved"):
            validator.validate(body, check_session=False, admit_keep_alive=True)


async def test_http_refuses_a_reserved_idempotency_key(
    validator: ContractValidator, sender: RecordingSender
) -> None:
    api = StartApi(validator, MemoryOutcomeStore(), sender, FakeClock())
    key = keep_alive_request_id(str(SPEC.keep_alive_instance_id), TICK_AT)
    response = await api.start(
        post("eternal_monitor", "eternal-monitor", {}, headers={"Idempotency-Key": key}),
        FakeDurable(),
    )
    assert response.status_code == 422
    problem = problem_of(response)
    assert any(
        v["field"] == "Idempotency-Key" and "reserved" in v["message"]
        for v in problem["violations"]
    )
    assert sender.sent == []


async def test_a_forged_tick_on_the_queue_is_recorded_invalid_and_the_real_one_starts(
    validator: ContractValidator, sender: RecordingSender
) -> None:
    handler = StartHandler(validator, MemoryOutcomeStore(), sender, clock=FakeClock())
    durable = FakeDurable()
    body = forged(onRunning="reject", input={"interval_s": 86400})
    message = IncomingMessage(
        json.dumps(body).encode(), body["instanceId"], body["requestId"], delivery_count=1
    )
    refused = await handler.handle(message, durable)
    assert refused.outcome is Outcome.INVALID
    assert refused.reason is not None and "is reserved" in refused.reason
    assert durable.history == []
    # The tick of the next minute is the starter's own: it starts the monitor.
    tick = keep_alive_request(SPEC, TICK_AT + timedelta(minutes=1))
    started = await handler.handle(delivery(tick), durable)
    assert started.outcome is Outcome.STARTED


def test_a_long_instance_id_keeps_one_id_per_minute() -> None:
    instance = "m" * 100
    spec = OrchestratorSpec(
        name="eternal_monitor", keep_alive_schedule="0 * * * * *", keep_alive_instance_id=instance
    )
    first = keep_alive_request(spec, TICK_AT).request_id
    second = keep_alive_request(spec, TICK_AT + timedelta(minutes=1)).request_id
    assert first != second
    assert is_request_id(first) and is_request_id(second)
