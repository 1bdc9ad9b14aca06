"""The Sender over Azure Service Bus (`azure-servicebus`, async).

One client per process: AMQP connections are expensive to open, and the SDK multiplexes
senders over one connection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import MessageSizeExceededError, ServiceBusError

from ..functions.settings import ServiceBusConnection, SettingsError
from ..messages import OutgoingMessage


def to_service_bus_message(message: OutgoingMessage) -> ServiceBusMessage:
    properties: dict[str | bytes, Any] = {k: v for k, v in message.application_properties.items()}
    return ServiceBusMessage(
        message.body,
        session_id=message.session_id,
        message_id=message.message_id,
        content_type=message.content_type,
        application_properties=properties or None,
        scheduled_enqueue_time_utc=message.scheduled_enqueue_time,
    )


def _by_session(messages: Sequence[OutgoingMessage]) -> dict[str, list[OutgoingMessage]]:
    groups: dict[str, list[OutgoingMessage]] = {}
    for message in messages:
        groups.setdefault(message.session_id, []).append(message)
    return groups


class ServiceBusQueueSender:
    """Sends start requests in batches, one session per batch.

    One session per batch because a partitioned entity refuses a batch that spans sessions,
    and it keeps each session's messages in the order given.
    """

    # Lost connections, timeouts, throttling and busy servers. (A message too large is a
    # ServiceBusError too; the contract's size bound keeps it from happening here.)
    transient_errors: tuple[type[Exception], ...] = (ServiceBusError,)

    def __init__(self, queue_sender_factory: Callable[[], Any], client: Any = None) -> None:
        self._factory = queue_sender_factory
        self._sender: Any = None
        self._client = client

    @classmethod
    def from_connection(
        cls, connection: ServiceBusConnection, queue_name: str
    ) -> ServiceBusQueueSender:
        client = service_bus_client(connection)
        return cls(lambda: client.get_queue_sender(queue_name), client)

    async def send(self, messages: Sequence[OutgoingMessage]) -> None:
        if self._sender is None:
            self._sender = self._factory()
        for group in _by_session(messages).values():
            batch = await self._sender.create_message_batch()
            for message in group:
                sb_message = to_service_bus_message(message)
                try:
                    batch.add_message(sb_message)
                except MessageSizeExceededError:
                    if len(batch) == 0:
                        raise
                    await self._sender.send_messages(batch)
                    batch = await self._sender.create_message_batch()
                    batch.add_message(sb_message)
            if len(batch):
                await self._sender.send_messages(batch)

    async def close(self) -> None:
        if self._sender is not None:
            await self._sender.close()
            self._sender = None
        if self._client is not None:
            await self._client.close()
            self._client = None


def service_bus_client(connection: ServiceBusConnection) -> Any:
    from azure.servicebus.aio import ServiceBusClient

    if connection.kind == "connection-string":
        assert connection.connection_string is not None
        return ServiceBusClient.from_connection_string(connection.connection_string)
    if connection.kind == "identity":
        assert connection.fully_qualified_namespace is not None
        return ServiceBusClient(connection.fully_qualified_namespace, _credential(connection))
    raise SettingsError(
        "no Service Bus connection: set ServiceBusConnection (a connection string) or "
        "ServiceBusConnection__fullyQualifiedNamespace"
    )


def _credential(connection: ServiceBusConnection) -> Any:
    from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

    # The host uses a managed-identity credential with __clientId; DefaultAzureCredential
    # would ignore __clientId unless AZURE_CLIENT_ID is set, and pick the wrong identity.
    if (connection.credential or "").lower() == "managedidentity":
        if connection.client_id:
            return ManagedIdentityCredential(client_id=connection.client_id)
        return ManagedIdentityCredential()
    if connection.client_id:
        return DefaultAzureCredential(managed_identity_client_id=connection.client_id)
    return DefaultAzureCredential()
