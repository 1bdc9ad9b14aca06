"""Events in: mapping, CloudEvents and Event Grid over HTTP, and the inbox queue."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from embedded_functions.testing import EmbeddedRuntime
from orchestrators import EVENT_MAPPINGS
from starters.contract import request_id_for
from starters.events.mapping import EventError, EventRouter, parse_events, render
from starters.strict_json import JsonRefused
from starters.validation import ContractValidator
from tests.embedded_app import app_settings

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = app_settings(
    START_QUEUE_NAME="start-requests",
    TASKHUB_NAME="EventHub",
    EVENT_INBOX_QUEUE="event-inbox",
)


def cloudevent(event_id: str = "e-1", **changes: Any) -> dict[str, Any]:
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": "/contoso/reports",
        "type": "Contoso.Reports.ReportRequested",
        "subject": "reports/42",
        "data": {"reportId": "42", "duration_s": 60},
    }
    event.update(changes)
    return event


def blob_created(event_id: str = "eg-1") -> dict[str, Any]:
    return {
        "id": event_id,
        "topic": "/subscriptions/x/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/s",
        "subject": "/blobServices/default/containers/inbox/blobs/a.csv",
        "eventType": "Microsoft.Storage.BlobCreated",
        "eventTime": "2026-11-26T07:00:00Z",
        "dataVersion": "1",
        "data": {"url": "https://s.blob.core.windows.net/inbox"},
    }


# -- mapping ------------------------------------------------------------------------


def test_mapping_templates_and_derived_request_ids(validator: ContractValidator) -> None:
    router = EventRouter(EVENT_MAPPINGS, validator)
    (event,) = parse_events(json.dumps(cloudevent()), "application/cloudevents+json")
    assert not isinstance(event, EventError)
    request = router.to_request(event)
    assert (request.orchestrator, request.instance_id) == ("long_job", "report-42")
    assert request.input == {"duration_s": 60, "reportId": "42"}
    assert request.request_id == request_id_for("/contoso/reports", "e-1")
    (grid,) = parse_events(json.dumps([blob_created()]), "application/json")
    assert not isinstance(grid, EventError)
    blob = router.to_request(grid)
    assert blob.instance_id == "blobs-https:-s.blob.core.windows.net-inbox"  # |slug
    assert blob.input == {"item": grid.subject, "window_s": 30}
    assert blob.on_running is not None and blob.on_running.value == "forward"


def test_unmappable_events_say_why(validator: ContractValidator) -> None:
    router = EventRouter(EVENT_MAPPINGS, validator)
    (other,) = parse_events(json.dumps(cloudevent(type="Other.Type")), None)
    assert not isinstance(other, EventError)
    with pytest.raises(EventError, match=re.escape("no mapping for event type 'Other.Type'")):
        router.to_request(other)
    (missing,) = parse_events(json.dumps(cloudevent(data={"duration_s": 1})), None)
    assert not isinstance(missing, EventError)
    with pytest.raises(EventError, match=re.escape("no data.reportId")):
        router.to_request(missing)
    (bad,) = parse_events(json.dumps(cloudevent(data={"reportId": "a/b", "duration_s": 1})), None)
    assert not isinstance(bad, EventError)
    with pytest.raises(EventError, match="not a valid instance ID"):
        router.to_request(bad)
    parsed = parse_events(json.dumps([{"specversion": "0.3", "id": "x"}]), None)
    assert isinstance(parsed[0], EventError) and "specversion" in str(parsed[0])
    with pytest.raises(JsonRefused, match=re.escape("(syntax): not valid JSON")):
        parse_events(b"{nope", None)
    assert render("{id}", parse_events(json.dumps(cloudevent("x")), None)[0]) == "x"  # type: ignore[arg-type]


# -- over HTTP and the inbox queue, on the local host ------------------------------------


@pytest.fixture
async def app() -> AsyncIterator[EmbeddedRuntime]:
    async with EmbeddedRuntime(ROOT, settings=SETTINGS) as runtime:
        yield runtime


async def outcome(session: aiohttp.ClientSession, base: str, request_id: str) -> dict[str, Any]:
    for _ in range(200):
        async with session.get(f"{base}/api/requests/{request_id}") as response:
            if response.status == 200:
                record: dict[str, Any] = await response.json()
                return record
        await asyncio.sleep(0.05)
    raise TimeoutError(request_id)


async def test_cloudevents_webhook_handshake(app: EmbeddedRuntime) -> None:
    async with aiohttp.ClientSession() as session:
        url = f"{app.base_url}/api/events"
        async with session.options(
            url, headers={"WebHook-Request-Origin": "eventgrid.azure.net"}
        ) as r:
            assert r.status == 200
            assert r.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"
        async with session.options(url) as r:
            assert r.status == 400


async def test_event_grid_subscription_validation(app: EmbeddedRuntime) -> None:
    validation = [
        {
            "id": "v-1",
            "topic": "t",
            "subject": "",
            "eventTime": "2026-11-26T07:00:00Z",
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
            "dataVersion": "1",
        }
    ]
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{app.base_url}/api/events", json=validation) as r,
    ):
        assert r.status == 200
        assert await r.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}


async def test_structured_and_batched_cloudevents_start_once(app: EmbeddedRuntime) -> None:
    base = app.base_url
    async with aiohttp.ClientSession() as session:
        headers = {"Content-Type": "application/cloudevents+json"}
        async with session.post(
            f"{base}/api/events", data=json.dumps(cloudevent("e-1")), headers=headers
        ) as r:
            assert r.status == 202
            (accepted,) = (await r.json())["accepted"]
        # Redelivered (Event Grid retries), and inside a batch with a second report.
        batch = [cloudevent("e-1"), cloudevent("e-2", data={"reportId": "43", "duration_s": 60})]
        headers = {"Content-Type": "application/cloudevents-batch+json"}
        async with session.post(f"{base}/api/events", data=json.dumps(batch), headers=headers) as r:
            assert r.status == 202
            assert [a["instanceId"] for a in (await r.json())["accepted"]] == [
                "report-42",
                "report-43",
            ]
        first = await outcome(session, base, accepted["requestId"])
        assert first["outcome"] == "started"
        second = await outcome(session, base, request_id_for("/contoso/reports", "e-2"))
        assert second["outcome"] == "started"
    history = app.runtime.get_status("report-42", show_history=True)["historyEvents"]
    assert sum(e["EventType"] == "ExecutionStarted" for e in history) == 1


async def test_unmapped_events_are_answered_with_the_reason(app: EmbeddedRuntime) -> None:
    batch = [
        cloudevent("ok-1", data={"reportId": "77", "duration_s": 1}),
        cloudevent("bad-1", type="Other.Type"),
    ]
    headers = {"Content-Type": "application/cloudevents-batch+json"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{app.base_url}/api/events", data=json.dumps(batch), headers=headers) as r,
    ):
        assert r.status == 400
        problem = await r.json()
        assert problem["refused"][0]["eventId"] == "bad-1"
        assert "no mapping" in problem["refused"][0]["reason"]
        assert [a["instanceId"] for a in problem["accepted"]] == ["report-77"]  # still sent


async def test_events_through_the_inbox_queue(app: EmbeddedRuntime) -> None:
    base = app.base_url
    async with aiohttp.ClientSession() as session:
        for body, message_id in (
            (json.dumps([blob_created("eg-9")]), "m-1"),
            (json.dumps(cloudevent("bad-2", type="Other.Type")), "m-2"),
            ("{broken", "m-3"),
        ):
            headers = {
                "Content-Type": "application/json",
                "BrokerProperties": json.dumps({"MessageId": message_id}),
            }
            async with session.post(
                f"{base}/event-inbox/messages", data=body, headers=headers
            ) as r:
                assert r.status == 201
        started = await outcome(session, base, request_id_for(blob_created()["topic"], "eg-9"))
        assert started["outcome"] == "started" and started["orchestrator"] == "collector"
        unmapped = await outcome(session, base, request_id_for("/contoso/reports", "bad-2"))
        assert unmapped["outcome"] == "invalid" and "no mapping" in unmapped["reason"]
        assert json.loads(unmapped["body"])["id"] == "bad-2"
