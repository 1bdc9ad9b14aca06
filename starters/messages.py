"""Start-request messages as they travel: outgoing (to the queue) and incoming (from it).

The mapping to Service Bus lives here, once: SessionId = instance ID; MessageId = the
request ID on the first send and `{requestId}:{attempt}` on every re-send.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .contract import CONTENT_TYPE, StartRequest, message_id_for

ATTEMPT_PROPERTY = "attempt"
REASON_PROPERTY = "rescheduledBecause"
# Consecutive transient failures; bounds re-scheduling before the host's delivery count.
TRANSIENT_PROPERTY = "transientFailures"
# Set on an operator's resubmission of a dead-lettered request: the starter decides it again.
RESUBMISSION_PROPERTY = "resubmission"
# Set by intake on the producer's message: its `pending` record exists, received then.
RECORDED_PROPERTY = "recordedAt"


@dataclass(frozen=True)
class OutgoingMessage:
    body: bytes
    session_id: str
    message_id: str
    content_type: str = CONTENT_TYPE
    application_properties: Mapping[str, str | int] = field(default_factory=dict)
    scheduled_enqueue_time: datetime | None = None

    @classmethod
    def for_request(
        cls,
        request: StartRequest,
        *,
        attempt: int = 0,
        scheduled_enqueue_time: datetime | None = None,
        reason: str | None = None,
        transient_failures: int = 0,
        recorded_at: datetime | None = None,
    ) -> OutgoingMessage:
        properties: dict[str, str | int] = {}
        if recorded_at is not None:
            properties[RECORDED_PROPERTY] = recorded_at.isoformat()
        if attempt:
            properties[ATTEMPT_PROPERTY] = attempt
        if reason:
            properties[REASON_PROPERTY] = reason
        if transient_failures:
            properties[TRANSIENT_PROPERTY] = transient_failures
        return cls(
            body=request.to_bytes(),
            session_id=request.instance_id,
            message_id=message_id_for(request.request_id, attempt),
            application_properties=properties,
            scheduled_enqueue_time=scheduled_enqueue_time,
        )


@dataclass(frozen=True)
class IncomingMessage:
    """What the trigger hands the handler, independent of the binding's classes."""

    body: bytes
    session_id: str | None
    message_id: str
    delivery_count: int = 1
    enqueued_time: datetime | None = None
    application_properties: Mapping[str, Any] = field(default_factory=dict)

    @property
    def attempt(self) -> int:
        value = self.application_properties.get(ATTEMPT_PROPERTY, 0)
        try:
            return max(0, int(value))
        except (TypeError, ValueError):
            return 0

    @property
    def recorded_at(self) -> datetime | None:
        """When intake recorded the request `pending` (None: it came from elsewhere)."""
        value = self.application_properties.get(RECORDED_PROPERTY)
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            return None
        return moment if moment is not None and moment.tzinfo is not None else None


_MOVED = {"Sender": "starters.ports"}


def __getattr__(name: str) -> Any:
    from ._moved import moved_attribute

    return moved_attribute(__name__, name, _MOVED)
