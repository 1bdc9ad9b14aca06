"""The `TableClient` the Table outcome store uses, from the app's storage settings, with
every HTTP request it sends counted as a store round trip."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.data.tables.aio import TableClient

from ..functions.settings import SettingsError
from .round_trips import round_trip

# Azurite's well-known development account (public, documented; not a secret).
DEVELOPMENT_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
    "K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


class RoundTripPolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Counts every HTTP request the Table client sends (retries included)."""

    def on_request(self, request: Any) -> None:
        round_trip()


def counted(**kwargs: Any) -> dict[str, Any]:
    """The TableClient keyword arguments that count its round trips."""
    return {"per_retry_policies": [RoundTripPolicy()], **kwargs}


def table_client_from_settings(env: Mapping[str, str], table: str) -> TableClient:
    """A TableClient from the `AzureWebJobsStorage` settings, as the Functions host reads them:
    a connection string, `UseDevelopmentStorage=true` (Azurite), or identity-based
    `AzureWebJobsStorage__tableServiceUri` (or `__accountName`) with `__credential` and
    `__clientId`."""
    value = env.get("AzureWebJobsStorage", "").strip()
    if value:
        if value.replace(" ", "").lower() == "usedevelopmentstorage=true":
            value = DEVELOPMENT_STORAGE
        return TableClient.from_connection_string(value, **counted(table_name=table))
    endpoint = env.get("AzureWebJobsStorage__tableServiceUri", "").strip()
    account = env.get("AzureWebJobsStorage__accountName", "").strip()
    if not endpoint and account:
        endpoint = f"https://{account}.table.core.windows.net"
    if not endpoint:
        raise SettingsError(
            "OUTCOME_STORE=table needs AzureWebJobsStorage (a connection string or "
            "UseDevelopmentStorage=true) or AzureWebJobsStorage__tableServiceUri"
        )
    from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

    client_id = env.get("AzureWebJobsStorage__clientId", "").strip() or None
    credential: Any
    if env.get("AzureWebJobsStorage__credential", "").strip().lower() == "managedidentity":
        credential = (
            ManagedIdentityCredential(client_id=client_id)
            if client_id
            else ManagedIdentityCredential()
        )
    else:
        credential = DefaultAzureCredential(managed_identity_client_id=client_id)
    return TableClient(endpoint, **counted(table_name=table, credential=credential))
