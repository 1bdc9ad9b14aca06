"""Dead-lettered start requests, for operators: list them, and resubmit one.

A resubmission is a copy under a derived MessageId (`{requestId}:r{sequenceNumber}`,
which duplicate detection would not confuse with the request's other sends) and carries
the `resubmission` property, which lets the starter reopen the request's `dead-lettered`
record and decide it again.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from ..messages import RESUBMISSION_PROPERTY, OutgoingMessage
from ..ports import QueueSender
from ..senders.rest import key_headers


@dataclass(frozen=True)
class DeadLetter:
    sequence_number: int
    message_id: str
    session_id: str | None
    body: bytes
    reason: str | None
    description: str | None
    enqueued_time: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "sequenceNumber": self.sequence_number,
            "messageId": self.message_id,
            "sessionId": self.session_id,
            "reason": self.reason,
            "description": self.description,
            "enqueuedTimeUtc": self.enqueued_time,
            "body": self.body.decode("utf-8", errors="replace"),
        }


def resubmission_message_id(message_id: str, sequence_number: int) -> str:
    request_id = message_id.split(":")[0]
    return f"{request_id}:r{sequence_number}"


def resubmission_of(letter: DeadLetter) -> OutgoingMessage:
    if not letter.session_id:
        raise ValueError(f"message {letter.message_id} has no SessionId to resubmit into")
    return OutgoingMessage(
        body=letter.body,
        session_id=letter.session_id,
        message_id=resubmission_message_id(letter.message_id, letter.sequence_number),
        application_properties={RESUBMISSION_PROPERTY: letter.sequence_number},
    )


class DeadLetterSource(Protocol):
    async def list(self) -> list[DeadLetter]: ...

    async def remove(self, letter: DeadLetter) -> None: ...


class EmbeddedDeadLetters:
    """The embedded queue's operator endpoints (`/{queue}/$DeadLetterQueue/messages`)."""

    def __init__(self, endpoint: str, queue: str, key: str | None = None) -> None:
        self.url = f"{endpoint.rstrip('/')}/{queue}/$DeadLetterQueue/messages"
        self.headers = key_headers(key)

    async def list(self) -> list[DeadLetter]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.url, headers=self.headers) as response,
        ):
            if response.status != 200:
                raise ConnectionError(f"listing dead letters failed ({response.status})")
            items = await response.json()
        letters = []
        for item in items:
            raw = item["body"]
            body = base64.b64decode(raw) if item.get("bodyEncoding") == "base64" else raw.encode()
            letters.append(
                DeadLetter(
                    item["sequenceNumber"],
                    item["messageId"],
                    item.get("sessionId"),
                    body,
                    item.get("deadLetterReason"),
                    item.get("deadLetterErrorDescription"),
                    item.get("enqueuedTimeUtc"),
                )
            )
        return letters

    async def remove(self, letter: DeadLetter) -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.delete(
                f"{self.url}/{letter.sequence_number}", headers=self.headers
            ) as response,
        ):
            if response.status not in (204, 404):
                raise ConnectionError(f"removing dead letter failed ({response.status})")


class ServiceBusDeadLetters:
    """Azure Service Bus's dead-letter sub-queue, through `azure-servicebus`.

    Listing peeks (nothing is locked or removed); removing receives and completes the one
    message. Not exercised here: Service Bus cannot run on these machines.
    """

    def __init__(self, client: Any, queue: str) -> None:
        self._client = client
        self._queue = queue

    def _receiver(self) -> Any:
        from azure.servicebus import ServiceBusSubQueue

        return self._client.get_queue_receiver(
            self._queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER
        )

    async def list(self) -> list[DeadLetter]:
        async with self._receiver() as receiver:
            messages = await receiver.peek_messages(max_message_count=250)
        return [
            DeadLetter(
                m.sequence_number,
                m.message_id,
                m.session_id,
                b"".join(m.body) if not isinstance(m.body, bytes) else m.body,
                m.dead_letter_reason,
                m.dead_letter_error_description,
                m.enqueued_time_utc.isoformat() if m.enqueued_time_utc else None,
            )
            for m in messages
        ]

    async def remove(self, letter: DeadLetter) -> None:
        async with self._receiver() as receiver:
            for message in await receiver.receive_messages(max_message_count=250, max_wait_time=5):
                if message.sequence_number == letter.sequence_number:
                    await receiver.complete_message(message)
                else:
                    await receiver.abandon_message(message)


async def resubmit(source: DeadLetterSource, sender: QueueSender, message_id: str) -> DeadLetter:
    """Send the dead-lettered message `message_id` again, then remove it from the DLQ."""
    letters = [letter for letter in await source.list() if letter.message_id == message_id]
    if not letters:
        raise LookupError(f"no dead-lettered message {message_id}")
    letter = letters[0]
    await sender.send([resubmission_of(letter)])
    await source.remove(letter)
    return letter
