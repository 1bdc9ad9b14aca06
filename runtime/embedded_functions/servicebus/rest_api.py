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

import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from aiohttp import web

from ..durable.history import parse_time
from ..http_limits import problem_response
from .session_queue import NewMessage, QueueError, SessionQueues, UnknownQueue
from .strict_json import JsonRefused, check_text, read_json

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


# TimeSpan.MaxValue, in seconds: the longest TimeToLive Service Bus accepts.
MAX_TIME_TO_LIVE_S = 922_337_203_685.4775807
MAX_SEQUENCE_NUMBER = 2**63 - 1
_STRING_PROPERTIES = ("SessionId", "MessageId", "Label", "CorrelationId", "ContentType")


def _when(value: Any) -> datetime:
    if not isinstance(value, str):
        raise QueueError(f"ScheduledEnqueueTimeUtc must be a date string, got {value!r}")
    try:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            moment = parse_time(value)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise QueueError(
            f"ScheduledEnqueueTimeUtc {value!r} is not a date between 0001-01-01 and 9999-12-31"
        ) from None


def _time_to_live(value: Any) -> timedelta:
    """Seconds, as the REST API takes it: positive and at most TimeSpan.MaxValue."""
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        seconds = float(value)
    except (ValueError, OverflowError):
        raise QueueError(f"TimeToLive {value!r} is not a number of seconds") from None
    if not 0 < seconds <= MAX_TIME_TO_LIVE_S:  # also refuses NaN and infinities
        raise QueueError(
            f"TimeToLive {value!r} is out of range: more than 0 and at most "
            f"{MAX_TIME_TO_LIVE_S} seconds (TimeSpan.MaxValue)"
        )
    return timedelta(seconds=seconds)


def _message(body: bytes, content_type: str | None, broker: Any, user: Any) -> NewMessage:
    if broker is None:
        broker = {}
    if not isinstance(broker, dict):
        raise QueueError("BrokerProperties must be a JSON object")
    if user is not None and not isinstance(user, dict):
        raise QueueError("UserProperties must be a JSON object")
    for key in _STRING_PROPERTIES:
        if broker.get(key) is not None and not isinstance(broker[key], str):
            raise QueueError(f"BrokerProperties {key} must be a string, got {broker[key]!r}")
    message = NewMessage(body=body, content_type=content_type)
    for key, value in broker.items():
        if key == "SessionId":
            message.session_id = value
        elif key == "MessageId":
            message.message_id = value
        elif key == "ScheduledEnqueueTimeUtc":
            message.scheduled_enqueue_time = _when(value)
        elif key == "TimeToLive":
            message.time_to_live = _time_to_live(value)
        elif key == "Label":
            message.label = value
        elif key == "CorrelationId":
            message.correlation_id = value
        elif key == "ContentType":
            message.content_type = value
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
                broker = read_json(header, "the BrokerProperties header") if header else {}
                user = {
                    key: value
                    for key, value in request.headers.items()
                    if key.lower() not in _STANDARD_HEADERS and not key.lower().startswith("x-ms-")
                }
                for key, value in user.items():
                    check_text(key, "a header name")
                    check_text(value, f"the {key} header")
                content_type = request.headers.get("Content-Type")
                messages = [_message(raw, content_type, broker, user)]
            self.queues.send(queue, messages)
        except UnknownQueue as error:
            return problem_response(404, str(error))
        except (QueueError, JsonRefused) as error:
            return problem_response(400, str(error))
        return web.Response(status=201)

    @staticmethod
    def _batch(raw: bytes) -> list[NewMessage]:
        items = read_json(raw, "the batch")
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
            return problem_response(404, str(error))
        return web.json_response([m.to_json() for m in messages])

    @staticmethod
    def _seq(request: web.Request) -> int:
        text = request.match_info["seq"]
        if re.fullmatch(r"[0-9]{1,19}", text) is None or int(text) > MAX_SEQUENCE_NUMBER:
            raise QueueError(
                f"sequence number {text[:40]!r} is not an integer from 0 to {MAX_SEQUENCE_NUMBER}"
            )
        return int(text)

    async def get_dead_letter(self, request: web.Request) -> web.Response:
        try:
            message = self.queues.dead_letter_by_number(
                request.match_info["queue"], self._seq(request)
            )
        except QueueError as error:
            return problem_response(400, str(error))
        if message is None:
            return problem_response(404, "no such dead-lettered message")
        return web.json_response(message.to_json())

    async def delete_dead_letter(self, request: web.Request) -> web.Response:
        try:
            deleted = self.queues.delete_dead_letter(
                request.match_info["queue"], self._seq(request)
            )
        except QueueError as error:
            return problem_response(400, str(error))
        if not deleted:
            return problem_response(404, "no such dead-lettered message")
        return web.Response(status=204)
