"""Service Bus's REST send API, so curl or any HTTP client can produce.

    POST /{queue}/messages                     one message; `BrokerProperties` header (JSON:
                                               SessionId, MessageId, ScheduledEnqueueTimeUtc,
                                               TimeToLive, Label, CorrelationId); other
                                               custom headers become application properties
    POST /{queue}/messages                     a batch, with Content-Type
                                               application/vnd.microsoft.servicebus.json:
                                               [{"Body", "BrokerProperties", "UserProperties"}]
    GET  /{queue}/$DeadLetterQueue/messages    operators: the dead-lettered messages
    GET  /{queue}/$DeadLetterQueue/messages/{sequenceNumber}
    DELETE /{queue}/$DeadLetterQueue/messages/{sequenceNumber}

Answers `201` on send. Refusals are RFC 9457 problem documents naming the violation.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from aiohttp import web

from ..durable.history import parse_time
from .session_queue import NewMessage, QueueError, SessionQueues, UnknownQueue

BATCH_CONTENT_TYPE = "application/vnd.microsoft.servicebus.json"
# Headers that are HTTP's own, not custom message properties.
_STANDARD_HEADERS = frozenset(
    {
        "host",
        "content-type",
        "content-length",
        "user-agent",
        "accept",
        "accept-encoding",
        "accept-language",
        "connection",
        "authorization",
        "brokerproperties",
        "expect",
        "date",
        "transfer-encoding",
        "keep-alive",
        "origin",
        "referer",
        "cookie",
    }
)


def _problem(status: int, title: str, detail: str) -> web.Response:
    # No problem type of its own: `about:blank` says the status code is the whole story,
    # and the title names which refusal it is.
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    return web.json_response(body, status=status, content_type="application/problem+json")


def _when(value: Any) -> datetime:
    text = str(value)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        moment = parse_time(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _message(body: bytes, content_type: str | None, broker: Any, user: Any) -> NewMessage:
    if broker is None:
        broker = {}
    if not isinstance(broker, dict):
        raise QueueError("BrokerProperties must be a JSON object")
    if user is not None and not isinstance(user, dict):
        raise QueueError("UserProperties must be a JSON object")
    message = NewMessage(body=body, content_type=content_type)
    for key, value in broker.items():
        if key == "SessionId":
            message.session_id = None if value is None else str(value)
        elif key == "MessageId":
            message.message_id = None if value is None else str(value)
        elif key == "ScheduledEnqueueTimeUtc":
            try:
                message.scheduled_enqueue_time = _when(value)
            except ValueError:
                raise QueueError(f"ScheduledEnqueueTimeUtc {value!r} is not a date") from None
        elif key == "TimeToLive":
            try:
                message.time_to_live = timedelta(seconds=float(value))
            except (TypeError, ValueError):
                raise QueueError(f"TimeToLive {value!r} is not a number of seconds") from None
        elif key == "Label":
            message.label = str(value)
        elif key == "CorrelationId":
            message.correlation_id = str(value)
        elif key == "ContentType":
            message.content_type = str(value)
    message.application_properties = dict(user or {})
    return message


class ServiceBusRestApi:
    def __init__(self, queues: SessionQueues) -> None:
        self.queues = queues

    def routes(self) -> list[web.RouteDef]:
        dead = "/{queue}/$DeadLetterQueue/messages"
        return [
            web.post("/{queue}/messages", self.send),
            web.get(dead, self.list_dead_letters),
            web.get(dead + "/{seq}", self.get_dead_letter),
            web.delete(dead + "/{seq}", self.delete_dead_letter),
        ]

    async def send(self, request: web.Request) -> web.Response:
        queue = request.match_info["queue"]
        raw = await request.read()
        try:
            if request.content_type == BATCH_CONTENT_TYPE:
                messages = self._batch(raw)
            else:
                header = request.headers.get("BrokerProperties")
                try:
                    broker = json.loads(header) if header else {}
                except json.JSONDecodeError as error:
                    raise QueueError(f"BrokerProperties is not valid JSON: {error}") from None
                user = {
                    key: value
                    for key, value in request.headers.items()
                    if key.lower() not in _STANDARD_HEADERS and not key.lower().startswith("x-ms-")
                }
                content_type = request.headers.get("Content-Type")
                messages = [_message(raw, content_type, broker, user)]
            self.queues.send(queue, messages)
        except UnknownQueue as error:
            return _problem(404, "Unknown queue", str(error))
        except QueueError as error:
            return _problem(400, "Invalid message", str(error))
        return web.Response(status=201)

    @staticmethod
    def _batch(raw: bytes) -> list[NewMessage]:
        try:
            items = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise QueueError(f"the batch is not valid JSON: {error}") from None
        if not isinstance(items, list) or not items:
            raise QueueError("a batch is a non-empty JSON array of messages")
        messages = []
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("Body"), str):
                raise QueueError(f"batch item {index}: needs a Body string")
            broker = item.get("BrokerProperties")
            content_type = (broker or {}).get("ContentType") if isinstance(broker, dict) else None
            try:
                messages.append(
                    _message(
                        item["Body"].encode(), content_type, broker, item.get("UserProperties")
                    )
                )
            except QueueError as error:
                raise QueueError(f"batch item {index}: {error}") from None
        return messages

    async def list_dead_letters(self, request: web.Request) -> web.Response:
        try:
            messages = self.queues.dead_letters(request.match_info["queue"])
        except UnknownQueue as error:
            return _problem(404, "Unknown queue", str(error))
        return web.json_response([m.to_json() for m in messages])

    def _seq(self, request: web.Request) -> int | None:
        try:
            return int(request.match_info["seq"])
        except ValueError:
            return None

    async def get_dead_letter(self, request: web.Request) -> web.Response:
        seq = self._seq(request)
        message = (
            self.queues.dead_letter_by_number(request.match_info["queue"], seq)
            if seq is not None
            else None
        )
        if message is None:
            return _problem(404, "Unknown message", "no such dead-lettered message")
        return web.json_response(message.to_json())

    async def delete_dead_letter(self, request: web.Request) -> web.Response:
        seq = self._seq(request)
        if seq is None or not self.queues.delete_dead_letter(request.match_info["queue"], seq):
            return _problem(404, "Unknown message", "no such dead-lettered message")
        return web.Response(status=204)
