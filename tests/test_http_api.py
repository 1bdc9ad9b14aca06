"""The HTTP API: 202 with the request's links, 400/422 problems, idempotency keys."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest

from starters.http.start_api import StartApi
from starters.outcomes import Outcome
from starters.policies import RuntimeStatus
from starters.stores.memory import MemoryOutcomeStore
from starters.validation import ContractValidator
from tests.fakes import FakeClock, FakeDurable, RecordingSender

BASE = "http://localhost:7071/api/orchestrators"


def post(
    function: str,
    instance: str,
    body: Any = b"",
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> func.HttpRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return func.HttpRequest(
        "POST",
        f"{BASE}/{function}/{instance}",
        headers=headers or {},
        params=params or {},
        route_params={"functionName": function, "instanceId": instance},
        body=raw,
    )


def get(route: str, **route_params: str) -> func.HttpRequest:
    return func.HttpRequest(
        "GET", f"http://localhost:7071/api/{route}", route_params=route_params, body=b""
    )


@pytest.fixture
def api(validator: ContractValidator, sender: RecordingSender) -> StartApi:
    return StartApi(validator, MemoryOutcomeStore(), sender, FakeClock())


def problem_of(response: func.HttpResponse) -> dict[str, Any]:
    assert response.mimetype == "application/problem+json"
    body = json.loads(response.get_body())
    assert body["status"] == response.status_code
    assert body["type"].startswith("urn:singleton-starters:problem:") and body["detail"]
    return body


async def test_accepted_request_answers_202_and_is_enqueued(
    api: StartApi, sender: RecordingSender
) -> None:
    response = await api.start(post("long_job", "job-1", {"duration_s": 5}))
    assert response.status_code == 202
    body = json.loads(response.get_body())
    request_id = body["requestId"]
    assert body == {
        "requestId": request_id,
        "instanceId": "job-1",
        "orchestrator": "long_job",
        "outcome": "pending",
        "reason": None,
        "existingStatus": None,
        "statusUri": "/api/instances/job-1",
        "requestUri": f"/api/requests/{request_id}",
    }
    assert response.headers["Location"] == f"http://localhost:7071/api/requests/{request_id}"
    assert "runtime/webhooks" not in response.get_body().decode()  # no Durable system key
    (message,) = sender.sent
    assert (message.session_id, message.message_id) == ("job-1", request_id)
    assert json.loads(message.body) == {
        "schemaVersion": 1,
        "orchestrator": "long_job",
        "instanceId": "job-1",
        "requestId": request_id,
        "input": {"duration_s": 5},
    }
    record = await api.store.get(request_id)
    assert record is not None and record.outcome is Outcome.PENDING


async def test_empty_body_is_a_null_input(api: StartApi, sender: RecordingSender) -> None:
    response = await api.start(post("Collector", "bag-1", b""))
    assert response.status_code == 202
    assert json.loads(sender.sent[0].body)["input"] is None
    assert json.loads(sender.sent[0].body)["orchestrator"] == "collector"


async def test_policies_come_from_the_query(api: StartApi, sender: RecordingSender) -> None:
    params = {"onRunning": "queue", "onFinished": "restart-failed-only", "code": "key"}
    response = await api.start(post("long_job", "job-1", {"duration_s": 1}, params))
    assert response.status_code == 202
    body = json.loads(sender.sent[0].body)
    assert (body["onRunning"], body["onFinished"]) == ("queue", "restart-failed-only")


@pytest.mark.parametrize(
    ("function", "instance", "body", "params", "status", "needle"),
    [
        ("long_job", "job-1", b"{oops", {}, 400, "not valid JSON"),
        ("long_job", "job-1", {"duration_s": 1}, {"onrunning": "queue"}, 400, "onrunning"),
        ("nope", "job-1", {"duration_s": 1}, {}, 422, "not a registered orchestrator"),
        ("long_job", "a%2Fb", {"duration_s": 1}, {}, 422, "not a valid instance ID"),
        ("long_job", "..", {"duration_s": 1}, {}, 422, "not a valid instance ID"),
        ("long_job", "x" * 101, {"duration_s": 1}, {}, 422, "not a valid instance ID"),
        ("long_job", "job-1", {"duration_s": 1}, {"onRunning": "forward"}, 422, "not allowed"),
        ("long_job", "job-1", {"duration_s": 1}, {"onFinished": "never"}, 422, "not a policy"),
        ("long_job", "job-1", {"duration_s": "x"}, {}, 422, "input/duration_s"),
        ("long_job", "job-1", b"", {}, 422, "input"),
    ],
)
async def test_refusals_are_problems_naming_the_violation(
    api: StartApi,
    sender: RecordingSender,
    function: str,
    instance: str,
    body: Any,
    params: dict[str, str],
    status: int,
    needle: str,
) -> None:
    response = await api.start(post(function, instance, body, params))
    assert response.status_code == status
    assert needle in problem_of(response)["detail"]
    assert sender.sent == []


async def test_a_bad_idempotency_key_is_named(api: StartApi) -> None:
    response = await api.start(
        post("long_job", "job-1", {"duration_s": 1}, headers={"Idempotency-Key": "a:b"})
    )
    assert response.status_code == 422
    problem = problem_of(response)
    assert problem["violations"][0]["field"] == "Idempotency-Key"


async def test_a_retried_post_with_the_same_key_is_the_same_request(
    api: StartApi, sender: RecordingSender
) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = await api.start(post("long_job", "job-1", {"duration_s": 1}, headers=headers))
    second = await api.start(post("LONG_JOB", "job-1", {"duration_s": 1}, headers=headers))
    assert first.status_code == second.status_code == 202
    assert json.loads(first.get_body()) == json.loads(second.get_body())
    # Re-sent under the same MessageId: Service Bus duplicate detection drops the copy.
    assert [m.message_id for m in sender.sent] == ["order-42", "order-42"]


async def test_a_retried_post_after_the_decision_is_not_resent(
    api: StartApi, sender: RecordingSender
) -> None:
    headers = {"Idempotency-Key": "order-42"}
    await api.start(post("long_job", "job-1", {"duration_s": 1}, headers=headers))
    record = await api.store.get("order-42")
    assert record is not None
    await api.store.replace(record.evolve(outcome=Outcome.STARTED))
    again = await api.start(post("long_job", "job-1", {"duration_s": 1}, headers=headers))
    assert json.loads(again.get_body())["outcome"] == "started"
    assert len(sender.sent) == 1


@pytest.mark.parametrize(
    ("instance", "body"), [("job-2", {"duration_s": 1}), ("job-1", {"duration_s": 2})]
)
async def test_a_key_reused_for_another_request_is_refused(
    api: StartApi, sender: RecordingSender, instance: str, body: Any
) -> None:
    headers = {"Idempotency-Key": "order-42"}
    await api.start(post("long_job", "job-1", {"duration_s": 1}, headers=headers))
    response = await api.start(post("long_job", instance, body, headers=headers))
    assert response.status_code == 422
    assert "already used" in problem_of(response)["detail"]
    assert len(sender.sent) == 1


async def test_queue_outage_answers_503_and_keeps_no_orphan_record(
    api: StartApi, sender: RecordingSender
) -> None:
    sender.failures = 1
    headers = {"Idempotency-Key": "order-7"}
    response = await api.start(post("long_job", "job-1", {"duration_s": 1}, headers=headers))
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert problem_of(response)["type"].endswith("queue-unavailable")
    assert await api.store.get("order-7") is None
    retry = await api.start(post("long_job", "job-1", {"duration_s": 1}, headers=headers))
    assert retry.status_code == 202 and len(sender.sent) == 1


async def test_request_outcome(api: StartApi) -> None:
    missing = await api.request_outcome(get("requests/nope", requestId="nope"))
    assert missing.status_code == 404 and problem_of(missing)
    bad = await api.request_outcome(get("requests/a:b", requestId="a:b"))
    assert bad.status_code == 422
    accepted = await api.start(
        post("long_job", "job-1", {"duration_s": 1}, headers={"Idempotency-Key": "k1"})
    )
    assert accepted.status_code == 202
    pending = await api.request_outcome(get("requests/k1", requestId="k1"))
    assert pending.status_code == 202 and pending.headers["Retry-After"] == "1"
    record = await api.store.get("k1")
    assert record is not None
    await api.store.replace(record.evolve(outcome=Outcome.REJECTED, reason="busy"))
    decided = await api.request_outcome(get("requests/k1", requestId="k1"))
    assert decided.status_code == 200
    assert json.loads(decided.get_body())["outcome"] == "rejected"


async def test_instance_status(api: StartApi) -> None:
    durable = FakeDurable()
    missing = await api.instance_status(get("instances/job-1", instanceId="job-1"), durable)
    assert missing.status_code == 404 and problem_of(missing)
    durable.put("job-1", RuntimeStatus.RUNNING, {"secret": "not shown"})
    found = await api.instance_status(get("instances/job-1", instanceId="job-1"), durable)
    assert found.status_code == 200
    body = json.loads(found.get_body())
    assert body["instanceId"] == "job-1" and body["runtimeStatus"] == "Running"
    assert "input" not in body
    bad = await api.instance_status(get("instances/a b", instanceId="a b"), durable)
    assert bad.status_code == 422


# -- waiting for the decision, and canceling -----------------------------------------


async def decide_later(
    api: StartApi, request_id: str, outcome: Outcome, delay: float = 0.05
) -> None:
    await asyncio.sleep(delay)
    record = await api.store.get(request_id)
    assert record is not None
    await api.store.replace(
        record.evolve(outcome=outcome, reason=f"decided {outcome.value}", existing_status="Running")
    )


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (Outcome.STARTED, 201),
        (Outcome.REPLACED, 201),
        (Outcome.USED_EXISTING, 200),
        (Outcome.FORWARDED, 200),
        (Outcome.REJECTED, 409),
        (Outcome.DEAD_LETTERED, 503),
    ],
)
async def test_post_with_wait_answers_like_the_seed(
    api: StartApi, outcome: Outcome, status: int
) -> None:
    durable = FakeDurable()
    durable.put("job-1", RuntimeStatus.RUNNING)
    headers = {"Idempotency-Key": "w-1"}
    decider = asyncio.create_task(decide_later(api, "w-1", outcome))
    response = await api.start(
        post("long_job", "job-1", {"duration_s": 1}, {"wait": "5"}, headers), durable
    )
    await decider
    assert response.status_code == status
    body = json.loads(response.get_body())
    assert body["outcome"] == outcome.value and body["requestId"] == "w-1"
    if status == 201:
        assert response.headers["Location"].endswith("/api/instances/job-1")
    if status == 409:
        assert body["instance"]["runtimeStatus"] == "Running"
        assert response.mimetype == "application/problem+json"


async def test_post_with_wait_that_runs_out_answers_202(api: StartApi) -> None:
    response = await api.start(post("long_job", "job-1", {"duration_s": 1}, {"wait": "0.2"}))
    assert response.status_code == 202
    assert json.loads(response.get_body())["outcome"] == "pending"


@pytest.mark.parametrize("wait", ["soon", "-1", "nan"])
async def test_a_bad_wait_is_a_400(api: StartApi, wait: str) -> None:
    response = await api.start(post("long_job", "job-1", {"duration_s": 1}, {"wait": wait}))
    assert response.status_code == 400
    assert problem_of(response)["violations"][0]["field"] == "wait"


async def test_get_with_wait_long_polls(api: StartApi) -> None:
    await api.start(
        post("long_job", "job-1", {"duration_s": 1}, headers={"Idempotency-Key": "g-1"})
    )
    decider = asyncio.create_task(decide_later(api, "g-1", Outcome.STARTED))
    req = func.HttpRequest(
        "GET",
        "http://h/api/requests/g-1",
        params={"wait": "5"},
        route_params={"requestId": "g-1"},
        body=b"",
    )
    response = await api.request_outcome(req)
    await decider
    assert response.status_code == 200
    assert json.loads(response.get_body())["outcome"] == "started"
    short = func.HttpRequest(
        "GET",
        "http://h/api/requests/g-2",
        params={"wait": "0.1"},
        route_params={"requestId": "g-2"},
        body=b"",
    )
    assert (await api.request_outcome(short)).status_code == 404


def delete(request_id: str) -> func.HttpRequest:
    return func.HttpRequest(
        "DELETE",
        f"http://h/api/requests/{request_id}",
        route_params={"requestId": request_id},
        body=b"",
    )


async def test_cancel_a_queued_request(api: StartApi) -> None:
    await api.start(
        post("long_job", "job-1", {"duration_s": 1}, headers={"Idempotency-Key": "c-1"})
    )
    record = await api.store.get("c-1")
    assert record is not None
    await api.store.replace(record.evolve(outcome=Outcome.QUEUED))
    response = await api.cancel(delete("c-1"))
    assert response.status_code == 200
    assert json.loads(response.get_body())["outcome"] == "canceled"
    assert (await api.cancel(delete("c-1"))).status_code == 200  # idempotent
    assert (await api.cancel(delete("nope"))).status_code == 404
    assert (await api.cancel(delete("a:b"))).status_code == 422


async def test_cancel_refuses_a_decided_or_claimed_request(api: StartApi) -> None:
    for key in ("d-1", "d-2"):
        await api.start(
            post("long_job", "job-1", {"duration_s": 1}, headers={"Idempotency-Key": key})
        )
    decided = await api.store.get("d-1")
    assert decided is not None
    await api.store.replace(decided.evolve(outcome=Outcome.STARTED))
    response = await api.cancel(delete("d-1"))
    assert response.status_code == 409 and problem_of(response)["outcome"] == "started"
    claimed = await api.store.get("d-2")
    assert claimed is not None
    until = api.clock.now() + timedelta(seconds=30)
    await api.store.replace(claimed.evolve(claim_token="t", claim_until=until))
    response = await api.cancel(delete("d-2"))
    assert response.status_code == 409 and response.headers["Retry-After"] == "1"
