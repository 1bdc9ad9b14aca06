"""The app as the Python worker indexes it, and the blueprint's functions called directly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from embedded_functions.app_loader import load_app
from orchestrators import registry
from starters.functions.blueprint import build_blueprint, keep_alive_request
from starters.functions.components import Components
from starters.functions.settings import StarterSettings
from starters.messages import OutgoingMessage
from starters.stores.memory import MemoryOutcomeStore
from tests.fakes import FakeClock, RecordingSender

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def indexed() -> Iterator[dict[str, dict[str, dict[str, Any]]]]:
    # Loaded by path, as the worker loads it (another test may have put an app named
    # function_app on sys.path first).
    _, app, index = load_app(ROOT)
    assert type(app).__name__ == "DFApp"
    yield {f.name: {b["type"]: b for b in f.bindings} for f in index.functions}


def test_the_app_has_the_starter_and_the_jobs(indexed: dict[str, Any]) -> None:
    assert {
        "long_job",
        "eternal_monitor",
        "monitor_probe",
        "collector",
        "starter_start",
        "starter_request",
        "starter_instance",
        "starter_session_trigger",
        "starter_dead_letters",
        "keep_alive_eternal_monitor",
    } <= set(indexed)


def test_the_session_trigger(indexed: dict[str, Any]) -> None:
    trigger = indexed["starter_session_trigger"]["serviceBusTrigger"]
    assert trigger["isSessionsEnabled"] is True
    assert trigger["queueName"] == "%START_QUEUE_NAME%"
    assert trigger["connection"] == "ServiceBusConnection"
    assert "durableClient" in indexed["starter_session_trigger"]


def test_the_dead_letter_trigger(indexed: dict[str, Any]) -> None:
    trigger = indexed["starter_dead_letters"]["serviceBusTrigger"]
    assert trigger["queueName"] == "%START_QUEUE_NAME%/$DeadLetterQueue"
    assert not trigger.get("isSessionsEnabled")


def test_the_http_route_is_the_seeds(indexed: dict[str, Any]) -> None:
    http = indexed["starter_start"]["httpTrigger"]
    assert http["route"] == "orchestrators/{functionName}/{instanceId}"
    assert [str(getattr(m, "value", m)).lower() for m in http["methods"]] == ["post"]
    assert str(getattr(http["authLevel"], "value", http["authLevel"])).lower() == "function"


async def test_the_registered_http_function_serves_a_start() -> None:
    bp = build_blueprint(registry, StarterSettings.from_env({"OUTCOME_STORE": "memory"}))
    sender = RecordingSender()
    components = Components(
        registry=registry,
        settings=StarterSettings.from_env({"OUTCOME_STORE": "memory"}),
        store=MemoryOutcomeStore(),
        sender=sender,
        clock=FakeClock(),
    )
    bp.components.use(components)
    app = func.FunctionApp()
    app.register_functions(bp)
    functions = {f.get_function_name(): f for f in app.get_functions()}
    start = functions["starter_start"].get_user_function()
    req = func.HttpRequest(
        "POST",
        "http://localhost/api/orchestrators/long_job/job-9",
        route_params={"functionName": "long_job", "instanceId": "job-9"},
        body=json.dumps({"duration_s": 1}).encode(),
    )
    # The binding JSON the host passes; this path makes no Durable call.
    binding = json.dumps({"taskHubName": "hub", "creationUrls": {}, "managementUrls": {}})
    response = await start(req, client=binding)
    assert response.status_code == 202
    assert [m.session_id for m in sender.sent] == ["job-9"]


def test_keep_alive_request_ids_are_one_per_minute() -> None:
    spec = registry.get("eternal_monitor")
    assert spec is not None
    clock = FakeClock()
    first = keep_alive_request(spec, clock.now())
    clock.advance(30)
    assert keep_alive_request(spec, clock.now()).request_id == first.request_id
    clock.advance(31)
    assert keep_alive_request(spec, clock.now()).request_id != first.request_id
    message = OutgoingMessage.for_request(first)
    assert message.session_id == "eternal-monitor"
    assert json.loads(message.body)["onRunning"] == "use-existing"
