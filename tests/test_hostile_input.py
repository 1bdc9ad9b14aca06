"""Hostile input at every entry point, generated (hypothesis).

Deep nesting, huge integers, numbers beyond a double, lone surrogates in values and keys,
invalid UTF-8, duplicate keys, repeated query parameters, oversized batches, out-of-range
broker properties. Asserted: no 5xx; every refusal a problem document (or an `invalid` /
`dead-lettered` record) whose reason names the class; nothing refused is acted on.

The start route, the events endpoint and the queue handlers run in-process here (the app's
code, with an in-memory store and a recording sender: Service Bus cannot run here); the
REST send API and the host's own limits run on a real host process in
`test_hostile_input_on_the_host.py`.
"""

from __future__ import annotations

import json
import string
from typing import Any

import azure.functions as func
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from embedded_functions.servicebus import strict_json as emulator_json
from orchestrators import EVENT_MAPPINGS, registry
from starters import strict_json
from starters.events.api import EventApi
from starters.events.mapping import MAX_BATCH_EVENTS, EventRouter
from starters.handling.handler import StartHandler
from starters.http.start_api import StartApi
from starters.messages import IncomingMessage
from starters.outcomes import Outcome, OutcomeRecord
from starters.stores.memory import MemoryOutcomeStore
from starters.unusable_messages import record_id_for_message
from starters.validation import ContractValidator
from tests.fakes import FakeClock, FakeDurable, RecordingSender
from tests.hostile import (
    CASES,
    Hostile,
    cloudevent_with,
    hostile_documents,
    kept_bytes,
    start_request_with,
)

CLASSES = {"size", "encoding", "syntax", "depth", "number", "duplicate-key"}
# Hypothesis reuses a test's fixtures across its examples; these tests build their own.
cases = settings(max_examples=CASES, suppress_health_check=[HealthCheck.too_slow])
message_ids = st.one_of(
    st.from_regex(r"[A-Za-z0-9_.-]{1,40}", fullmatch=True),
    st.text(max_size=60),  # anything: spaces, ':', surrogates, empty
)


def problem_of(response: func.HttpResponse) -> dict[str, Any]:
    assert response.status_code < 500, response.get_body()
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = json.loads(response.get_body())
    assert body["status"] == response.status_code and body["detail"] and body["type"]
    return body


async def all_records(store: MemoryOutcomeStore) -> list[OutcomeRecord]:
    return list(store._records.values())  # the fake's own dict: every record, whatever its ID


# -- the readers -------------------------------------------------------------------------


def assert_refused(hostile: Hostile, reader: Any) -> None:
    with pytest.raises(ValueError) as refused:
        reader.read_json(hostile.raw, what="the body")
    assert isinstance(refused.value, reader.JsonRefused)
    assert f"({hostile.refusal})" in str(refused.value)


@cases
@given(hostile_documents(), st.sampled_from([strict_json, emulator_json]))
def test_both_readers_refuse_and_name_the_class(hostile: Hostile, reader: Any) -> None:
    assert_refused(hostile, reader)


@pytest.mark.slow
@settings(max_examples=10_000, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_documents(), st.sampled_from([strict_json, emulator_json]))
def test_both_readers_thoroughly(hostile: Hostile, reader: Any) -> None:
    """10,000 cases behind the slow marker, whatever the profile (`make test-slow`)."""
    assert_refused(hostile, reader)


@cases
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(10**30), 10**30)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    )
)
def test_the_reader_keeps_every_ordinary_document(value: Any) -> None:
    raw = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        assume(False)  # text with lone surrogates is hostile, tested above
    assert strict_json.read_json(raw) == value
    assert emulator_json.read_json(raw, "the body") == value


# -- the HTTP start route ----------------------------------------------------------------


def start_api() -> tuple[StartApi, RecordingSender]:
    sender = RecordingSender()
    return StartApi(ContractValidator(registry), MemoryOutcomeStore(), sender, FakeClock()), sender


def start_request(
    body: bytes, query: str = "", headers: dict[str, str] | None = None
) -> func.HttpRequest:
    params = dict(pair.split("=", 1) for pair in query.split("&") if "=" in pair)
    return func.HttpRequest(
        "POST",
        f"http://h/api/orchestrators/long_job/job-1{'?' + query if query else ''}",
        headers=headers or {},
        params=params,
        route_params={"functionName": "long_job", "instanceId": "job-1"},
        body=body,
    )


@cases
@given(hostile_documents())
async def test_the_start_route_refuses_hostile_json(hostile: Hostile) -> None:
    api, sender = start_api()
    response = await api.start(start_request(hostile.raw))
    problem = problem_of(response)
    assert response.status_code == 400
    assert problem["refusal"] == hostile.refusal and f"({hostile.refusal})" in problem["detail"]
    assert sender.sent == []


@cases
@given(st.integers(256 * 1024 + 1, 600 * 1024))
async def test_the_start_route_refuses_an_oversized_body_with_413(size: int) -> None:
    api, sender = start_api()
    body = b'"' + b"x" * (size - 2) + b'"'
    problem = problem_of(await api.start(start_request(body)))
    assert problem["status"] == 413 and problem["refusal"] == "size"
    assert sender.sent == []


@cases
@given(
    st.lists(
        st.sampled_from(["onRunning", "onFinished", "wait", "code", "other"]),
        min_size=1,
        max_size=4,
    ),
    st.data(),
)
async def test_the_start_route_refuses_repeated_parameters(
    names: list[str], data: st.DataObject
) -> None:
    repeated = data.draw(st.sampled_from(names))
    values = st.sampled_from(["queue", "replace", "reject", "1", ""])
    pairs = [(n, data.draw(values)) for n in [*names, repeated]]
    api, sender = start_api()
    query = "&".join(f"{n}={v}" for n, v in pairs)
    problem = problem_of(await api.start(start_request(b"{}", query)))
    assert problem["status"] == 400 and "more than once" in problem["detail"]
    assert repeated in {v["field"] for v in problem["violations"]}
    assert sender.sent == []


@cases
@given(
    st.text(alphabet=string.ascii_letters, max_size=5),
    st.sampled_from(["\ud800", "\udfff", "\udcff"]),
    st.text(alphabet=string.ascii_letters, max_size=5),
)
async def test_the_start_route_refuses_a_header_that_is_not_text(
    head: str, surrogate: str, tail: str
) -> None:
    # An HTTP server decodes invalid UTF-8 in a header with surrogateescape: lone surrogates.
    api, sender = start_api()
    response = await api.start(
        start_request(b"{}", headers={"Idempotency-Key": head + surrogate + tail})
    )
    problem = problem_of(response)
    assert problem["status"] == 400 and problem["refusal"] == "encoding"
    assert "Idempotency-Key" in problem["detail"]
    assert sender.sent == []


# -- the events endpoint -----------------------------------------------------------------


def event_api() -> tuple[EventApi, MemoryOutcomeStore, RecordingSender]:
    store, sender = MemoryOutcomeStore(), RecordingSender()
    router = EventRouter(EVENT_MAPPINGS, ContractValidator(registry))
    return EventApi(router, store, sender, FakeClock()), store, sender


def events_request(body: bytes, content_type: str = "application/cloudevents+json") -> Any:
    return func.HttpRequest(
        "POST", "http://h/api/events", headers={"content-type": content_type}, body=body
    )


@cases
@given(hostile_documents(), st.booleans())
async def test_the_events_endpoint_refuses_hostile_json(hostile: Hostile, in_event: bool) -> None:
    api, store, sender = event_api()
    document = cloudevent_with(hostile) if in_event else hostile
    problem = problem_of(await api.handle(events_request(document.raw)))
    assert problem["status"] == 400
    assert problem["refusal"] == hostile.refusal and f"({hostile.refusal})" in problem["detail"]
    assert sender.sent == [] and await all_records(store) == []


def report_event(index: int) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"e-{index}",
        "source": "/contoso/reports",
        "type": "Contoso.Reports.ReportRequested",
        "data": {"reportId": str(index), "duration_s": 1},
    }


@cases
@given(st.integers(MAX_BATCH_EVENTS + 1, 3 * MAX_BATCH_EVENTS), st.booleans())
async def test_the_events_endpoint_refuses_an_oversized_batch(count: int, by_bytes: bool) -> None:
    api, store, sender = event_api()
    if by_bytes:  # few events, over 1 MiB
        events = [{**report_event(i), "data": {"pad": "x" * 600_000}} for i in range(2)]
    else:
        events = [report_event(i) for i in range(count)]
    body = json.dumps(events).encode()
    problem = problem_of(
        await api.handle(events_request(body, "application/cloudevents-batch+json"))
    )
    assert problem["status"] == 413 and problem["refusal"] == "size"
    assert sender.sent == [] and await all_records(store) == []


@cases
@given(
    st.lists(st.sampled_from(["mapped", "unmapped", "broken"]), min_size=1, max_size=8),
    st.integers(0, 8),
)
async def test_an_event_grid_handshake_keeps_the_events_beside_it(
    kinds: list[str], position: int
) -> None:
    api, _, sender = event_api()
    events: list[Any] = []
    for index, kind in enumerate(kinds):
        event = {
            "id": f"eg-{index}",
            "topic": "/subscriptions/x/providers/Microsoft.Storage/storageAccounts/s",
            "subject": f"/blobServices/default/containers/inbox/blobs/{index}.csv",
            "eventType": "Microsoft.Storage.BlobCreated",
            "eventTime": "2026-11-26T07:00:00Z",
            "data": {"url": "https://s.blob.core.windows.net/inbox"},
        }
        if kind == "unmapped":
            event["eventType"] = "Other.Thing"
        if kind == "broken":
            event = {"eventType": "Microsoft.Storage.BlobCreated"}  # no id
        events.append(event)
    validation = {
        "id": "v-1",
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "data": {"validationCode": "code-123"},
    }
    events.insert(min(position, len(events)), validation)
    response = await api.handle(events_request(json.dumps(events).encode(), "application/json"))
    assert response.status_code == 200
    answer = json.loads(response.get_body())
    assert answer["validationResponse"] == "code-123"
    assert len(answer["accepted"]) == kinds.count("mapped")
    assert len(answer["refused"]) == len(kinds) - kinds.count("mapped")
    assert all(r["reason"] for r in answer["refused"])
    assert len(sender.sent) == kinds.count("mapped")


# -- the queue handlers ------------------------------------------------------------------


def handler() -> tuple[StartHandler, MemoryOutcomeStore, FakeDurable]:
    store, durable = MemoryOutcomeStore(), FakeDurable()
    return (
        StartHandler(ContractValidator(registry), store, RecordingSender(), clock=FakeClock()),
        store,
        durable,
    )


@cases
@given(hostile_documents(), message_ids, st.booleans())
async def test_the_session_trigger_records_hostile_messages(
    hostile: Hostile, message_id: str, as_request: bool
) -> None:
    start, store, durable = handler()
    body = start_request_with(hostile, "job-1", "r-1") if as_request else hostile
    result = await start.handle(IncomingMessage(body.raw, "job-1", message_id), durable)
    assert result.outcome is Outcome.INVALID
    (record,) = await all_records(store)
    assert record.outcome is Outcome.INVALID and f"({hostile.refusal})" in (record.reason or "")
    # The strict reader refused it, so its requestId is not trusted: the MessageId's is used.
    assert record.request_id == record_id_for_message(message_id)
    assert kept_bytes(record) == body.raw
    assert durable.history == []


@cases
@given(st.one_of(hostile_documents().map(lambda h: h.raw), st.binary(max_size=300)), message_ids)
async def test_the_dead_letter_trigger_records_whatever_it_gets(
    raw: bytes, message_id: str
) -> None:
    start, store, _ = handler()
    message = IncomingMessage(raw, "job\ud800" if message_id else None, message_id, 10)
    await start.handle_dead_letter(message, "MaxDeliveryCountExceeded", "poison\udc80")
    await start.handle_dead_letter(message, "MaxDeliveryCountExceeded", None)  # again: same record
    (record,) = await all_records(store)
    assert record.outcome is Outcome.DEAD_LETTERED and "MaxDeliveryCountExceeded" in (
        record.reason or ""
    )
    assert kept_bytes(record) == raw


@cases
@given(hostile_documents(), message_ids, st.booleans())
async def test_the_inbox_records_hostile_messages(
    hostile: Hostile, message_id: str, in_event: bool
) -> None:
    api, store, sender = event_api()
    body = cloudevent_with(hostile) if in_event else hostile
    await api.handle_inbox(IncomingMessage(body.raw, None, message_id))
    (record,) = await all_records(store)
    assert record.outcome is Outcome.INVALID and f"({hostile.refusal})" in (record.reason or "")
    assert record.request_id == record_id_for_message(message_id)
    assert kept_bytes(record) == body.raw and sender.sent == []
    await api.handle_inbox_dead_letter(IncomingMessage(body.raw, None, message_id), "X", None)
    # Same ID, same body: the dead-lettered copy finds the record its first delivery left.
    assert len(await all_records(store)) == 1


@cases
@given(
    st.text(alphabet=string.ascii_letters + ".", max_size=10), st.sampled_from(["\ud800", "\udcff"])
)
async def test_the_webhook_handshake_refuses_an_origin_that_is_not_text(
    head: str, surrogate: str
) -> None:
    api, _, _ = event_api()
    req = func.HttpRequest(
        "OPTIONS",
        "http://h/api/events",
        headers={"webhook-request-origin": head + surrogate},
        body=b"",
    )
    problem = problem_of(await api.handle(req))
    assert problem["status"] == 400 and problem["refusal"] == "encoding"
