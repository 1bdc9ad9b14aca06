"""The start-request contract: IDs, fields, policies, sizes and the published schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from starters.contract import (
    ContractViolation,
    build_schema,
    is_instance_id,
    is_request_id,
    message_id_for,
)
from starters.policies import OnFinished, OnRunning
from starters.registry import OrchestratorSpec, Registry, RegistryError
from starters.validation import ContractValidator

ROOT = Path(__file__).resolve().parent.parent


def body(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "schemaVersion": 1,
        "orchestrator": "long_job",
        "instanceId": "job-1",
        "requestId": "req-1",
        "input": {"duration_s": 5},
    }
    value.update(changes)
    return {k: v for k, v in value.items() if v is not ...}


def violations(validator: ContractValidator, value: dict[str, Any], session: Any = "job-1") -> str:
    with pytest.raises(ContractViolation) as caught:
        validator.validate(value, session_id=session)
    return str(caught.value)


def test_a_valid_request_round_trips(validator: ContractValidator) -> None:
    request = validator.validate(body(onRunning="queue", onFinished="reject"), session_id="job-1")
    assert request.orchestrator == "long_job"
    assert request.on_running is OnRunning.QUEUE
    assert request.on_finished is OnFinished.REJECT
    assert validator.validate_bytes(request.to_bytes(), session_id="job-1") == request


def test_orchestrator_names_match_case_insensitively(validator: ContractValidator) -> None:
    request = validator.validate(body(orchestrator="LONG_Job"), session_id="job-1")
    assert request.orchestrator == "long_job"
    same = validator.validate(body(), session_id="job-1")
    assert request.fingerprint == same.fingerprint


def test_input_defaults_to_null(validator: ContractValidator) -> None:
    request = validator.validate(body(orchestrator="collector", input=...), session_id="job-1")
    assert request.input is None


@pytest.mark.parametrize(
    "instance_id",
    [
        "a/b",  # a path separator in the SDK's URL
        "a%41b",  # percent-decoding: aAb
        "a+b",  # + may become a space
        ".",  # instances/./ lists every instance
        "..",  # climbs a level
        ".hidden",
        "-leading",
        "_leading",
        "with space",
        "tab\there",
        "trailing-newline\n",
        "",
        "x" * 101,
        "naïve",
        "a?b",
        "a#b",
    ],
)
def test_bad_instance_ids_are_refused(validator: ContractValidator, instance_id: str) -> None:
    message = violations(validator, body(instanceId=instance_id), session=instance_id)
    assert "instanceId" in message and "not a valid instance ID" in message
    assert not is_instance_id(instance_id)


@pytest.mark.parametrize("instance_id", ["a", "A1", "job-1", "tenant:42", "x.y_z", "9" * 100])
def test_good_instance_ids_pass(validator: ContractValidator, instance_id: str) -> None:
    assert validator.validate(body(instanceId=instance_id), session_id=instance_id)


@pytest.mark.parametrize(
    "request_id", ["a:b", ".", "..", "a/b", "", "r" * 101, "has space", "line\n", "a%20"]
)
def test_bad_request_ids_are_refused(validator: ContractValidator, request_id: str) -> None:
    assert "not a valid request ID" in violations(validator, body(requestId=request_id))
    assert not is_request_id(request_id)


@pytest.mark.parametrize("request_id", ["r", "_r", "-r", "a.b", "7f3c-9e_x", "r" * 100])
def test_good_request_ids_pass(validator: ContractValidator, request_id: str) -> None:
    assert validator.validate(body(requestId=request_id), session_id="job-1")


def test_session_id_must_equal_instance_id(validator: ContractValidator) -> None:
    assert "must equal the message's SessionId" in violations(validator, body(), session="job-2")
    assert "SessionId" in violations(validator, body(), session=None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (body(extra=1), "unknown field(s): extra"),
        (body(schemaVersion=2), "unsupported schema version 2"),
        (body(schemaVersion=...), "schemaVersion: is required"),
        (body(requestId=...), "requestId: is required"),
        (body(orchestrator="nope"), "'nope' is not a registered orchestrator"),
        (body(orchestrator=7), "is not a registered orchestrator"),
        (body(onRunning="forward"), "'forward' is not allowed for long_job"),
        (body(onRunning="kill"), "'kill' is not a policy"),
        (body(onFinished="always"), "'always' is not a policy"),
        (body(input={"duration_s": "soon"}), "input/duration_s: 'soon' is not of type 'number'"),
        (body(input=None), "input: None is not of type 'object'"),
    ],
)
def test_violations_name_the_rule(
    validator: ContractValidator, value: dict[str, Any], expected: str
) -> None:
    assert expected in violations(validator, value)


def test_every_violation_is_reported_at_once(validator: ContractValidator) -> None:
    with pytest.raises(ContractViolation) as caught:
        validator.validate(body(instanceId="a/b", requestId="x:y", extra=True), session_id="a/b")
    fields = {v.field for v in caught.value.violations}
    assert {"instanceId", "requestId", None} <= fields


@pytest.mark.parametrize("raw", [b"{", b"[]", b'"text"', b"\xff\xfe", b"null"])
def test_bodies_that_are_not_json_objects(validator: ContractValidator, raw: bytes) -> None:
    with pytest.raises(ContractViolation):
        validator.validate_bytes(raw, session_id="job-1")


def test_a_message_over_the_service_bus_limit_is_refused(registry: Registry) -> None:
    validator = ContractValidator(registry, max_message_bytes=4096)
    small = body(orchestrator="collector", input={"blob": "x" * 1000})
    assert validator.validate(small, session_id="job-1")
    big = body(orchestrator="collector", input={"blob": "x" * 4000})
    assert "over the 4096-byte Service Bus limit" in violations(validator, big)


def test_the_standard_tier_limit_is_the_default(validator: ContractValidator) -> None:
    big = body(orchestrator="collector", input={"blob": "x" * 262_000})
    assert "262144-byte" in violations(validator, big)


def test_message_ids_of_first_send_and_resends() -> None:
    assert message_id_for("req-1") == "req-1"
    assert message_id_for("req-1", 1) == "req-1:1"
    assert message_id_for("req-1", 12) == "req-1:12"
    with pytest.raises(ValueError):
        message_id_for("req-1", -1)


def test_the_published_schema_is_generated_from_the_registry(registry: Registry) -> None:
    published = json.loads((ROOT / "schemas" / "start-request.schema.json").read_text())
    assert published == build_schema(registry), "run `make schema` after changing the registry"


def test_registry_refuses_contradictions() -> None:
    with pytest.raises(RegistryError, match="forward needs an event_name"):
        OrchestratorSpec(name="x", allowed_on_running=frozenset({OnRunning.FORWARD}))
    with pytest.raises(RegistryError, match="default onRunning replace is not allowed"):
        OrchestratorSpec(name="x", on_running=OnRunning.REPLACE)
    with pytest.raises(RegistryError, match="registered twice"):
        Registry([OrchestratorSpec(name="Job"), OrchestratorSpec(name="job")])
    with pytest.raises(RegistryError, match="not a valid function name"):
        OrchestratorSpec(name="bad name")


def test_replace_is_allowed_only_where_the_entry_lists_it() -> None:
    plain = OrchestratorSpec(name="plain")
    assert OnRunning.REPLACE not in plain.running_policies
    assert OnRunning.FORWARD not in plain.running_policies
    forwarding = OrchestratorSpec(name="fwd", event_name="work")
    assert OnRunning.FORWARD in forwarding.running_policies
