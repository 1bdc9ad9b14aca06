"""Can the sender reach its queue? Checked without sending a message (`GET /api/health`)."""

from __future__ import annotations

import aiohttp

from ..functions.settings import SettingsError, StarterSettings
from .rest import embedded_endpoint, embedded_key, key_headers
from .servicebus import service_bus_client


class SenderUnavailable(Exception):
    """The sender's configuration or connection is broken; the message says how."""


async def probe_sender(settings: StarterSettings) -> None:
    """The configured queue answers: the embedded queue's dead-letter listing (a read), or
    a Service Bus sender link opened and closed (authenticates, sends nothing)."""
    connection = settings.service_bus
    if connection.kind == "missing":
        raise SenderUnavailable("ServiceBusConnection is not set")
    endpoint = None
    if connection.kind == "connection-string" and connection.connection_string:
        endpoint = embedded_endpoint(connection.connection_string)  # SettingsError if broken
    if endpoint is not None:
        key = embedded_key(connection.connection_string or "")
        url = f"{endpoint}/{settings.queue_name}/$DeadLetterQueue/messages"
        async with (
            aiohttp.ClientSession(headers=key_headers(key)) as session,
            session.get(url) as response,
        ):
            if response.status == 404:
                raise SenderUnavailable(f"the embedded queue {settings.queue_name} does not exist")
            if response.status in (401, 403):
                raise SenderUnavailable("the embedded queue refused the key")
            if response.status >= 400:
                raise SenderUnavailable(f"the embedded queue answered {response.status}")
        return
    try:
        client = service_bus_client(connection)
    except (SettingsError, ValueError) as error:
        raise SenderUnavailable(f"ServiceBusConnection: {error}") from None
    async with client, client.get_queue_sender(settings.queue_name):
        pass  # entering opens the connection and the link: the namespace, the queue, the rights
