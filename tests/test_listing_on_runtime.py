"""The listings and resubmission over HTTP on the local host: the real Durable client and
query API, the embedded queue, and the app's own dead-letter function running."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from embedded_functions.testing import EmbeddedRuntime
from starters.contract import StartRequest
from tests.embedded_app import app_settings, expire_into_dead_letters
from tests.test_local_end_to_end import ROOT, outcome

SETTINGS = app_settings(START_QUEUE_NAME="start-requests", TASKHUB_NAME="ListHub")


@pytest.fixture
async def app() -> AsyncIterator[EmbeddedRuntime]:
    async with EmbeddedRuntime(ROOT, settings=SETTINGS) as runtime:
        yield runtime


async def get(session: aiohttp.ClientSession, url: str, **params: str) -> tuple[int, Any]:
    async with session.get(url, params=params) as response:
        return response.status, await response.json(content_type=None)


async def every_page(session: aiohttp.ClientSession, url: str, **params: str) -> list[Any]:
    items: list[Any] = []
    token: str | None = None
    while True:
        status, page = await get(
            session, url, **params, **({"continuationToken": token} if token else {})
        )
        assert status == 200, page
        items += page["items"]
        token = page["continuationToken"]
        if token is None:
            return items


async def start(session: aiohttp.ClientSession, base: str, instance: str, key: str) -> None:
    async with session.post(
        f"{base}/api/orchestrators/long_job/{instance}",
        json={"duration_s": 60},
        headers={"Idempotency-Key": key},
    ) as response:
        assert response.status == 202
    await outcome(session, base, key)


async def test_requests_and_instances_are_listed_and_paged(app: EmbeddedRuntime) -> None:
    base = app.base_url
    async with aiohttp.ClientSession() as session:
        for key, instance in (("l-1", "list-a"), ("l-2", "list-a"), ("l-3", "list-b")):
            await start(session, base, instance, key)
        status, page = await get(session, f"{base}/api/requests", instanceId="list-a")
        assert status == 200 and page["continuationToken"] is None
        assert [(r["requestId"], r["outcome"]) for r in page["items"]] == [
            ("l-2", "rejected"),
            ("l-1", "started"),
        ]
        assert all("body" not in r and "input" not in r for r in page["items"])
        # long_job only: the sample app's keep-alive timer may add a request meanwhile.
        mine = {"orchestrator": "long_job"}
        paged = await every_page(session, f"{base}/api/requests", limit="1", **mine)
        assert [r["requestId"] for r in paged] == ["l-3", "l-2", "l-1"]
        started = await every_page(
            session, f"{base}/api/requests", outcome="started,queued", **mine
        )
        assert {r["requestId"] for r in started} == {"l-1", "l-3"}

        instances = await every_page(session, f"{base}/api/instances", prefix="list-", limit="1")
        assert sorted(i["instanceId"] for i in instances) == ["list-a", "list-b"]
        assert all(
            set(i) == {"instanceId", "name", "runtimeStatus", "createdTime", "lastUpdatedTime"}
            for i in instances
        )
        assert {i["runtimeStatus"] for i in instances} <= {"Pending", "Running"}
        status, done = await get(
            session, f"{base}/api/instances", prefix="list-", status="Completed"
        )
        assert status == 200 and done["items"] == []
        status, shown = await get(
            session, f"{base}/api/instances", prefix="list-b", include="input"
        )
        assert [i["input"] for i in shown["items"]] == [{"duration_s": 60}]


@pytest.mark.parametrize(
    ("route", "params", "named"),
    [
        ("requests", {"limit": "0"}, "limit"),
        ("requests", {"limit": "101"}, "limit"),
        ("requests", {"outcome": "started,done"}, "outcome"),
        ("requests", {"since": "yesterday"}, "since"),
        ("requests", {"until": "2024-05-01T12:00:00"}, "until"),  # no offset
        ("requests", {"instanceId": "a/b"}, "instanceId"),
        ("requests", {"include": "input"}, "include"),
        ("requests", {"continuationToken": "bm90IGEgdG9rZW4"}, "continuationToken"),
        ("requests", {"sort": "asc"}, "sort"),
        ("instances", {"status": "running"}, "status"),
        ("instances", {"prefix": "a b"}, "prefix"),
        ("instances", {"continuationToken": "%%%"}, "continuationToken"),
    ],
)
async def test_bad_parameters_are_400_problems_naming_them(
    app: EmbeddedRuntime, route: str, params: dict[str, str], named: str
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{app.base_url}/api/{route}", params=params) as response,
    ):
        assert response.status == 400
        assert response.content_type == "application/problem+json"
        problem = await response.json(content_type=None)
    assert [v["field"] for v in problem["violations"]] == [named], problem


async def test_a_token_is_refused_with_other_filters(app: EmbeddedRuntime) -> None:
    base = app.base_url
    async with aiohttp.ClientSession() as session:
        for key in ("t-1", "t-2"):
            await start(session, base, "tok", key)
        _, first = await get(session, f"{base}/api/requests", instanceId="tok", limit="1")
        token = first["continuationToken"]
        assert token is not None
        status, problem = await get(
            session, f"{base}/api/requests", instanceId="other", continuationToken=token
        )
        assert status == 400 and "other filters" in problem["detail"]
        status, second = await get(
            session, f"{base}/api/requests", instanceId="tok", limit="5", continuationToken=token
        )
        assert status == 200 and [r["requestId"] for r in second["items"]] == ["t-1"]


async def test_a_dead_letter_is_listed_and_resubmitted_from_its_record(
    app: EmbeddedRuntime,
) -> None:
    """The app's dead-letter function runs (and takes the message off the sub-queue): the
    record is what lists and resubmits it."""
    base = app.base_url
    queues = app.queues
    request = StartRequest("long_job", "dead-http", "dead-http-req", {"duration_s": 60})
    expire_into_dead_letters(app, request.to_bytes(), "dead-http-req", "dead-http")
    async with aiohttp.ClientSession() as session:
        record = await outcome(session, base, "dead-http-req")
        assert record["outcome"] == "dead-lettered"
        for _ in range(100):  # the dead-letter function takes it off the sub-queue
            if not queues.dead_letters("start-requests"):
                break
            await asyncio.sleep(0.05)
        assert queues.dead_letters("start-requests") == []
        _, listed = await get(session, f"{base}/api/requests", outcome="dead-lettered")
        assert [r["requestId"] for r in listed["items"]] == ["dead-http-req"]
        assert "body" not in listed["items"][0]
        _, with_body = await get(
            session, f"{base}/api/requests", outcome="dead-lettered", include="body"
        )
        assert json.loads(with_body["items"][0]["body"]) == json.loads(request.to_bytes())

        async with session.post(f"{base}/api/requests/dead-http-req/resubmit") as response:
            assert response.status == 202
            reopened = await response.json()
        assert reopened["outcome"] == "pending"
        assert reopened["attempts"][-1]["what"] == "resubmitted"
        decided = await outcome(session, base, "dead-http-req")
        assert decided["outcome"] == "started"
        assert app.runtime.get_status("dead-http")["runtimeStatus"] in ("Pending", "Running")

        async with session.post(f"{base}/api/requests/dead-http-req/resubmit") as response:
            assert response.status == 409
            assert (await response.json(content_type=None))["outcome"] == "started"
        async with session.post(f"{base}/api/requests/nope/resubmit") as response:
            assert response.status == 404
