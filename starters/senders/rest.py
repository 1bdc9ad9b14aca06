"""The Sender over Service Bus's REST send API: the embedded runtime's queue.

Selected by a `ServiceBusConnection` value of `UseEmbeddedServiceBus=true;Endpoint=<url>`
(as `UseDevelopmentStorage=true` selects Azurite); the embedded host sets it. One batch
per session, in the REST API's batch format.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from email.utils import format_datetime
from typing import Any

import aiohttp

from ..functions.settings import SettingsError
from ..messages import OutgoingMessage
from .http_session_per_loop import HttpSessionPerLoop

EMBEDDED_MARKER = "UseEmbeddedServiceBus=true"
BATCH_CONTENT_TYPE = "application/vnd.microsoft.servicebus.json"


def embedded_endpoint(connection_string: str) -> str | None:
    """The endpoint of an embedded-queue connection value, or None for any other value."""
    parts = dict(part.split("=", 1) for part in connection_string.split(";") if "=" in part)
    if parts.get("UseEmbeddedServiceBus", "").lower() != "true":
        return None
    endpoint = parts.get("Endpoint", "").strip().rstrip("/")
    if not endpoint.startswith(("http://", "https://")):
        raise SettingsError(
            "ServiceBusConnection selects the embedded queue but has no Endpoint=http://..."
        )
    return endpoint


def embedded_key(connection_string: str) -> str | None:
    """The queue key (`SharedAccessKey=`) of an embedded-queue connection value, if any:
    the runtime asks for it when it enforces keys."""
    parts = dict(part.split("=", 1) for part in connection_string.split(";") if "=" in part)
    return parts.get("SharedAccessKey", "").strip() or None


def key_headers(key: str | None) -> dict[str, str]:
    return {"x-functions-key": key} if key else {}


def to_batch_item(message: OutgoingMessage) -> dict[str, Any]:
    broker: dict[str, Any] = {
        "SessionId": message.session_id,
        "MessageId": message.message_id,
        "ContentType": message.content_type,
    }
    if message.scheduled_enqueue_time is not None:
        broker["ScheduledEnqueueTimeUtc"] = format_datetime(
            message.scheduled_enqueue_time, usegmt=True
        )
    return {
        "Body": message.body.decode("utf-8"),
        "BrokerProperties": broker,
        "UserProperties": dict(message.application_properties),
    }


class RestQueueSender:
    """Sends over one HTTP session per event loop (a new session and TCP connection per
    send cost 19% of the host's CPU under load). The Functions worker has no shutdown hook,
    so the session is closed by its loop's own shutdown (`HttpSessionPerLoop`)."""

    transient_errors: tuple[type[Exception], ...] = (aiohttp.ClientError,)

    def __init__(self, endpoint: str, queue_name: str, key: str | None = None) -> None:
        self.url = f"{endpoint.rstrip('/')}/{queue_name}/messages"
        self.headers = key_headers(key)
        self._sessions = HttpSessionPerLoop(aiohttp.ClientTimeout(total=30))

    async def send(self, messages: Sequence[OutgoingMessage]) -> None:
        groups: dict[str, list[OutgoingMessage]] = {}
        for message in messages:
            groups.setdefault(message.session_id, []).append(message)
        session = await self._sessions.current()
        for group in groups.values():
            body = json.dumps([to_batch_item(m) for m in group])
            headers = {"Content-Type": BATCH_CONTENT_TYPE, **self.headers}
            async with session.post(self.url, data=body, headers=headers) as response:
                if response.status != 201:
                    detail = await response.text()
                    raise ConnectionError(
                        f"the queue refused the send ({response.status}): {detail}"
                    )

    async def close(self) -> None:
        await self._sessions.close_current()
