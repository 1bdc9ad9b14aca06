"""The queue sender the app's settings name: the embedded queue or Azure Service Bus."""

from __future__ import annotations

from ..functions.settings import StarterSettings
from ..ports import QueueSender
from .rest import RestQueueSender, embedded_endpoint, embedded_key
from .servicebus import ServiceBusQueueSender


def create_sender(settings: StarterSettings) -> QueueSender:
    """The embedded queue's REST sender for `UseEmbeddedServiceBus=true`, else Service Bus."""
    connection = settings.service_bus
    if connection.kind == "connection-string" and connection.connection_string:
        endpoint = embedded_endpoint(connection.connection_string)
        if endpoint is not None:
            key = embedded_key(connection.connection_string)
            return RestQueueSender(endpoint, settings.queue_name, key)
    return ServiceBusQueueSender.from_connection(connection, settings.queue_name)
