"""`GET /api/requests/{id}?wait=N` for a request the handler has not recorded yet (one sent
straight to the queue): it waits for the record, 404 only when the wait ends with nothing,
and such waits are bounded (429 past the bound)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timezone

import azure.functions as func

from starters.contract import StartRequest
from starters.http.start_api import StartApi
from starters.outcomes import Outcome, pending_record
from starters.stores.memory import MemoryOutcomeStore
from starters.validation import ContractValidator
from tests.fakes import FakeClock, RecordingSender
from tests.test_http_api import problem_of

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


def get(request_id: str, wait: float) -> func.HttpRequest:
    return func.HttpRequest(
        "GET",
        f"http://localhost:7071/api/requests/{request_id}",
        params={"wait": str(wait)},
        route_params={"requestId": request_id},
        body=b"",
    )


def make_api(validator: ContractValidator, bound: int = 64) -> StartApi:
    return StartApi(
        validator,
        MemoryOutcomeStore(),
        RecordingSender(),
        FakeClock(),
        max_unrecorded_waits=bound,
    )


async def record_later(api: StartApi, request_id: str, outcome: Outcome) -> None:
    """What the session handler does for a request that came straight off the queue."""
    request = StartRequest("long_job", "job-1", request_id, {"duration_s": 1})
    stored = await api.store.insert(pending_record(request, NOW))
    await asyncio.sleep(0.2)
    await api.store.replace(stored.evolve(outcome=outcome, reason="decided", decided_at=NOW))


async def until(condition: Callable[[], bool], timeout: float = 5) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_a_wait_for_a_request_not_yet_recorded_answers_its_decision(
    validator: ContractValidator,
) -> None:
    api = make_api(validator)
    waiting = asyncio.create_task(api.request_outcome(get("r-late", 5)))
    await until(lambda: api.unrecorded_waits == 1)
    await record_later(api, "r-late", Outcome.STARTED)
    response = await waiting
    assert response.status_code == 200
    assert json.loads(response.get_body())["outcome"] == "started"
    assert api.unrecorded_waits == 0


async def test_404_only_when_the_wait_ends_with_nothing(validator: ContractValidator) -> None:
    api = make_api(validator)
    loop = asyncio.get_running_loop()
    began = loop.time()
    response = await api.request_outcome(get("r-never", 0.4))
    assert response.status_code == 404
    assert problem_of(response)["type"].endswith(":not-found")
    assert loop.time() - began >= 0.4
    assert api.unrecorded_waits == 0


async def test_waits_for_unrecorded_requests_are_bounded(validator: ContractValidator) -> None:
    api = make_api(validator, bound=2)
    first = asyncio.create_task(api.request_outcome(get("r-a", 10)))
    second = asyncio.create_task(api.request_outcome(get("r-b", 10)))
    await until(lambda: api.unrecorded_waits == 2)
    refused = await api.request_outcome(get("r-c", 10))
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    body = problem_of(refused)
    assert body["type"].endswith(":too-many-waits") and "2 waits" in body["detail"]
    # A request already recorded is not held back by the bound.
    await record_later(api, "r-known", Outcome.REJECTED)
    known = await api.request_outcome(get("r-known", 10))
    assert known.status_code == 200
    await record_later(api, "r-a", Outcome.STARTED)
    await record_later(api, "r-b", Outcome.STARTED)
    assert [(await first).status_code, (await second).status_code] == [200, 200]
    assert api.unrecorded_waits == 0
