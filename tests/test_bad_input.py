"""Bad input, generated: property-based tests of the contract and the instance-ID rules
through the HTTP API and the queue path, and schemathesis against the OpenAPI document on
a running host. No 5xx; every refusal names its reason; nothing invalid is acted on.

`make test` runs a small profile; `make test-slow` (HYPOTHESIS_PROFILE=thorough) a large one.
"""

from __future__ import annotations

import asyncio
import json
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedded_functions.testing import start_serve, stop_serve, wait_listening
from orchestrators import registry
from starters.contract import INSTANCE_ID_PATTERN
from starters.handling.handler import StartHandler
from starters.http.start_api import StartApi
from starters.messages import IncomingMessage
from starters.outcomes import Outcome
from starters.stores.memory import MemoryOutcomeStore
from starters.validation import ContractValidator
from tests import hostile  # noqa: F401 - registers and loads the hypothesis profiles
from tests.embedded_app import app_settings
from tests.fakes import FakeClock, FakeDurable, RecordingSender
from tests.hostile import kept_bytes

ROOT = Path(__file__).resolve().parent.parent
ID_START = set(string.ascii_letters + string.digits)
ID_CHARACTERS = ID_START | set("_.:-")


def allowed_instance_id(candidate: str) -> bool:
    """The rule, written out independently of the pattern that implements it."""
    return (
        1 <= len(candidate) <= 100
        and candidate[0] in ID_START
        and all(c in ID_CHARACTERS for c in candidate)
    )


ids = st.one_of(
    st.text(max_size=120),
    st.from_regex(INSTANCE_ID_PATTERN, fullmatch=True),
    st.text(alphabet="ab/%+.: -_\n\t?#", max_size=8),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(ids)
def test_instance_ids_are_an_allow_list(candidate: str) -> None:
    expected = allowed_instance_id(candidate)
    body = {
        "schemaVersion": 1,
        "orchestrator": "collector",
        "instanceId": candidate,
        "requestId": "r-1",
    }
    validator = ContractValidator(registry)
    try:
        validator.validate(body, session_id=candidate)
        accepted = True
    except ValueError as violation:
        accepted = False
        assert str(violation)  # a refusal always names its reason
    assert accepted is expected


@given(ids, json_values, st.sampled_from(["long_job", "collector", "LONG_JOB", "nope", ""]))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_the_http_api_refuses_with_a_problem_never_a_5xx(
    instance_id: str, value: Any, orchestrator: str
) -> None:
    sender = RecordingSender()
    api = StartApi(ContractValidator(registry), MemoryOutcomeStore(), sender, FakeClock())
    req = func.HttpRequest(
        "POST",
        f"http://h/api/orchestrators/{orchestrator}/x",
        route_params={"functionName": orchestrator, "instanceId": instance_id},
        body=json.dumps(value).encode(),
    )
    response = await api.start(req)
    assert response.status_code < 500
    if response.status_code == 202:
        (message,) = sender.sent
        assert message.session_id == instance_id and allowed_instance_id(instance_id)
    else:
        assert response.status_code in (400, 422)
        assert response.mimetype == "application/problem+json"
        assert json.loads(response.get_body())["detail"]
        assert sender.sent == []


@given(
    st.one_of(
        st.binary(max_size=200),
        st.builds(
            lambda body: json.dumps(body).encode(),
            st.dictionaries(
                st.sampled_from(
                    [
                        "schemaVersion",
                        "orchestrator",
                        "instanceId",
                        "requestId",
                        "input",
                        "onRunning",
                        "extra",
                    ]
                ),
                json_values,
            ),
        ),
    ),
    ids,
)
async def test_the_queue_path_records_what_it_refuses(body: bytes, session: str) -> None:
    store = MemoryOutcomeStore()
    durable = FakeDurable()
    handler = StartHandler(ContractValidator(registry), store, RecordingSender(), clock=FakeClock())
    message = IncomingMessage(body, session or None, "m-1")
    result = await handler.handle(message, durable)  # never raises on bad input
    assert result.outcome is not None
    if result.outcome is Outcome.INVALID:
        assert result.record is not None
        assert result.record.reason and kept_bytes(result.record) == body
        assert durable.history == []
    else:
        assert result.outcome is Outcome.STARTED and len(durable.history) == 1


# -- schemathesis against a running host ---------------------------------------------------


@pytest.fixture(scope="module")
def host_url() -> Iterator[str]:
    settings = app_settings(
        START_QUEUE_NAME="start-requests",
        TASKHUB_NAME="FuzzHub",
        EVENT_INBOX_QUEUE="event-inbox",
    )
    process, port = start_serve(ROOT, settings=settings, args=("--log-level", "ERROR"))
    url = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(wait_listening(port, process))
        yield url
        # The host keeps serving after everything it was sent.
        assert requests.get(f"{url}/api/openapi.json", timeout=5).status_code == 200
    finally:
        stop_serve(process)


schema = schemathesis.openapi.from_path(ROOT / "schemas" / "openapi.json")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_against_its_openapi_document(case: Any, host_url: str) -> None:
    # A generated `wait` holds the call for up to 30 s, most often for a request that is
    # never recorded: keep it short so the run fits `make test` (the full wait and its
    # bound have their own tests in test_request_wait.py).
    if isinstance(case.query, dict) and "wait" in case.query:
        try:
            if float(case.query["wait"]) > 0.5:
                case.query["wait"] = "0.5"
        except (TypeError, ValueError):
            pass  # not a number: the refusal is what is tested
    response = case.call(base_url=f"{host_url}/api", timeout=60)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    if 400 <= response.status_code < 500 and response.content:
        content_type = next(
            (v for k, v in response.headers.items() if k.lower() == "content-type"), ""
        )
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith("application/problem+json"), response.text
        problem = response.json()
        assert problem["detail"] and problem["status"] == response.status_code
    if 400 <= response.status_code < 500 and not response.content:
        # Only the host's own "no function here" answers are bare.
        assert response.status_code in (404, 405), response.status_code
