from __future__ import annotations

from datetime import timedelta

import pytest

from starters.functions.settings import (
    HandlerSettings,
    ServiceBusConnection,
    SettingsError,
    StarterSettings,
)
from starters.stores.from_settings import create_store
from starters.stores.memory import MemoryOutcomeStore
from starters.stores.sqlite import SqliteOutcomeStore
from starters.stores.table import TableOutcomeStore


def test_connection_string() -> None:
    env = {"ServiceBusConnection": "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k"}
    connection = ServiceBusConnection.from_settings(env)
    assert connection.kind == "connection-string"


def test_identity_connection_with_a_user_assigned_identity() -> None:
    env = {
        "ServiceBusConnection__fullyQualifiedNamespace": "ns.servicebus.windows.net",
        "ServiceBusConnection__credential": "managedidentity",
        "ServiceBusConnection__clientId": "1234",
    }
    connection = ServiceBusConnection.from_settings(env)
    assert (connection.kind, connection.fully_qualified_namespace) == (
        "identity",
        "ns.servicebus.windows.net",
    )
    assert (connection.credential, connection.client_id) == ("managedidentity", "1234")


def test_the_embedded_queue_is_found_from_the_runtimes_published_url() -> None:
    # The runtime publishes where it listens (and, with --enforce-keys, its queue key);
    # the app's own setting selects the embedded queue without naming a port.
    env = {
        "ServiceBusConnection": "UseEmbeddedServiceBus=true",
        "EMBEDDED_RUNTIME_URL": "http://127.0.0.1:7071",
        "EMBEDDED_RUNTIME_QUEUE_KEY": "k-1",
    }
    connection = ServiceBusConnection.from_settings(env)
    assert connection.connection_string == (
        "UseEmbeddedServiceBus=true;Endpoint=http://127.0.0.1:7071;SharedAccessKey=k-1"
    )
    explicit = {**env, "ServiceBusConnection": "UseEmbeddedServiceBus=true;Endpoint=http://x:1"}
    assert ServiceBusConnection.from_settings(explicit).connection_string == (
        "UseEmbeddedServiceBus=true;Endpoint=http://x:1"
    )


def test_missing_connection() -> None:
    assert ServiceBusConnection.from_settings({}).kind == "missing"


def test_defaults() -> None:
    settings = StarterSettings.from_env({})
    assert settings.queue_name == "start-requests"
    assert settings.max_message_bytes == 256 * 1024
    assert settings.handler.deadline == timedelta(seconds=25)
    assert settings.handler.claim_lease >= settings.handler.deadline


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"STARTER_HANDLER_DEADLINE_S": "soon"}, "STARTER_HANDLER_DEADLINE_S"),
        ({"STARTER_HANDLER_DEADLINE_S": "-1"}, "positive"),
        ({"STARTER_RETRY_ATTEMPTS": "1.5"}, "whole number"),
        ({"STARTER_HANDLER_DEADLINE_S": "30", "STARTER_CLAIM_LEASE_S": "10"}, "at least"),
    ],
)
def test_bad_settings_name_the_setting(env: dict[str, str], needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        HandlerSettings.from_settings(env)


def test_outcome_store_from_its_setting(tmp_path: object) -> None:
    assert isinstance(create_store("memory"), MemoryOutcomeStore)
    assert isinstance(create_store(f"sqlite:{tmp_path}/o.db"), SqliteOutcomeStore)
    for bad, needle in (("redis:x", "must be"), ("sqlite:", "file path")):
        with pytest.raises(SettingsError, match=needle):
            create_store(bad)
    # Unset means Table storage in the app's storage account, which needs its settings.
    with pytest.raises(SettingsError, match="AzureWebJobsStorage"):
        create_store("", {})
    table = create_store("", {"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert isinstance(table, TableOutcomeStore)
    assert table._client.table_name == "StartOutcomes"
