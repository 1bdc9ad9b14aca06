"""Import paths from before the package had subpackages keep working, each with a
DeprecationWarning naming the new path (the only test that uses them)."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

MOVED = [
    ("starters.producer", "StartRequestSender", "starters.client.producer"),
    ("starters.cli", "main", "starters.client.cli"),
    ("starters.app_client", "AppClient", "starters.client.app_client"),
    ("starters.dead_letters", "resubmit", "starters.client.dead_letters"),
    ("starters.handler", "StartHandler", "starters.handling.handler"),
    ("starters.handler", "TransientFailure", "starters.handling.handler"),
    ("starters.http_api", "StartApi", "starters.http.start_api"),
    ("starters.problems", "problem", "starters.http.problems"),
    ("starters.openapi", "build_openapi", "starters.http.openapi"),
    ("starters.event_api", "EventApi", "starters.events.api"),
    ("starters.blueprint", "build_blueprint", "starters.functions.blueprint"),
    ("starters.components", "Components", "starters.functions.components"),
    ("starters.settings", "StarterSettings", "starters.functions.settings"),
    ("starters.memory_store", "MemoryOutcomeStore", "starters.stores.memory"),
    ("starters.sqlite_store", "SqliteOutcomeStore", "starters.stores.sqlite"),
    ("starters.table_store", "TableOutcomeStore", "starters.stores.table"),
    ("starters.servicebus_sender", "ServiceBusQueueSender", "starters.senders.servicebus"),
    ("starters.rest_sender", "RestQueueSender", "starters.senders.rest"),
    ("starters.sdk_event_fifo", "install", "starters._sdk_event_fifo"),
    ("starters.outcomes", "OutcomeStore", "starters.ports"),
    ("starters.outcomes", "record_to_storage", "starters.stores._codec"),
    ("starters.messages", "Sender", "starters.ports"),
    ("starters.instances", "InstanceClient", "starters.ports"),
    ("starters.contract", "ContractValidator", "starters.validation"),
]


@pytest.mark.parametrize(("old", "name", "new"), MOVED)
def test_an_old_path_warns_and_gives_the_same_object(old: str, name: str, new: str) -> None:
    with pytest.warns(DeprecationWarning, match=rf"{old}.*{new}"):
        value = getattr(importlib.import_module(old), name)
    assert value is getattr(importlib.import_module(new), name)


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("starters.contract", "request_id_for"),
        ("starters.forwarding", "ACKNOWLEDGED_KEY"),
        ("starters.events", "EventMapping"),
        ("starters", "build_blueprint"),
        ("starters", "StartHandler"),
    ],
)
def test_paths_that_did_not_move_do_not_warn(module: str, name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert getattr(importlib.import_module(module), name) is not None


def test_the_public_api_still_holds_every_name_it_held() -> None:
    import starters

    before = {
        "Action", "ContractValidator", "ContractViolation", "Decision", "DurableInstanceClient",
        "HandlingResult", "IncomingMessage", "InstanceClient", "InstanceSnapshot", "OnFinished",
        "OnRunning", "OrchestratorSpec", "Outcome", "OutcomeRecord", "OutcomeStore",
        "OutgoingMessage", "Policy", "Registry", "RegistryError", "RuntimeStatus", "Sender",
        "StartHandler", "StartRequest", "TransientFailure", "Violation", "acknowledges",
        "build_blueprint", "build_schema", "decide", "forward_payload", "message_id_for",
        "read_forwarded",
    }  # fmt: skip
    assert before <= set(starters.__all__)
    for name in starters.__all__:
        assert getattr(starters, name) is not None


def test_python_dash_m_starters_keeps_its_options() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "starters", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    for option in ("--registry", "--emulator", "--app-url", "--function-key", "enqueue"):
        assert option in done.stdout
