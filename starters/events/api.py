"""Events in: the HTTP endpoint (CloudEvents, Event Grid) and the inbox queue handler."""

from __future__ import annotations

import json
import logging
from typing import Any

from ..clock import Clock, SystemClock
from ..contract import fingerprint, request_id_for
from ..handling.records import insert_decided, refusal_record
from ..http.core import HttpAnswer, HttpRequest, json_answer
from ..http.cross_site import cross_site_refusal
from ..http.media_types import unsupported_media_type
from ..http.problems import json_problem, problem, queue_unavailable
from ..intake import Intake, QueueUnavailable, Reservation
from ..messages import IncomingMessage, OutgoingMessage
from ..outcomes import Outcome
from ..ports import OutcomeStore, QueueSender
from ..strict_json import JsonRefused, check_text
from ..unusable_messages import KeptBody, keep_body, printable, record_id_for_message
from .mapping import (
    EVENT_GRID_VALIDATION,
    Event,
    EventError,
    EventRouter,
    is_binary_cloudevent,
    parse_binary_cloudevent,
    parse_events,
)

logger = logging.getLogger("starters.events")


def _is_validation(event: Event | EventError) -> bool:
    return isinstance(event, Event) and event.type == EVENT_GRID_VALIDATION


def _validation_code(event: Event | EventError) -> str | None:
    if not isinstance(event, Event):
        return None
    code = event.data.get("validationCode") if isinstance(event.data, dict) else None
    return code if isinstance(code, str) and code else None


class EventApi:
    def __init__(
        self,
        router: EventRouter,
        store: OutcomeStore,
        sender: QueueSender,
        clock: Clock | None = None,
    ) -> None:
        self.router = router
        self.store = store
        self.sender = sender
        self.clock: Clock = clock or SystemClock()
        self.intake = Intake(store, sender, self.clock)

    async def handle(self, req: HttpRequest) -> HttpAnswer:
        """`POST /api/events` (and the `OPTIONS` abuse-protection handshake)."""
        if req.method.upper() == "OPTIONS":
            return self._handshake(req)
        cross_site = cross_site_refusal(req)
        if cross_site is not None:
            return cross_site
        refused_type = unsupported_media_type(req)
        if refused_type is not None:
            return refused_type
        try:
            events: list[Event | EventError] = (
                [parse_binary_cloudevent(req.headers, req.get_body() or b"")]
                if is_binary_cloudevent(req.headers)
                else parse_events(req.get_body(), req.headers.get("content-type"))
            )
        except JsonRefused as refusal:
            return json_problem(refusal)
        except EventError as error:
            return problem(400, "Invalid events", str(error), kind="invalid-event")
        # Event Grid's handshake may share a batch with real events: it is answered, and the
        # others are handled as in any batch (each accepted or refused with its reason).
        validations = [e for e in events if _is_validation(e)]
        others = [(index, e) for index, e in enumerate(events) if not _is_validation(e)]
        code = _validation_code(validations[0]) if validations else None
        if validations and not code:
            return problem(
                400, "Invalid events", "validation event without a code", kind="invalid-event"
            )
        if validations and not others:
            return json_answer(200, {"validationResponse": code})
        accepted: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        reservations: list[Reservation] = []
        for index, event in others:
            if isinstance(event, EventError):
                refused.append({"index": index, "reason": str(event)})
                continue
            try:
                request = self.router.to_request(event)
            except EventError as error:
                refused.append(
                    {"index": index, "eventId": event.id, "type": event.type, "reason": str(error)}
                )
                continue
            # A redelivered event has a record already: the same request ID, sent again below.
            reservations.append(await self.intake.reserve(request))
            accepted.append(
                {
                    "eventId": event.id,
                    "requestId": request.request_id,
                    "instanceId": request.instance_id,
                }
            )
        try:
            await self.intake.enqueue(reservations)
        except QueueUnavailable as unavailable:
            return queue_unavailable(unavailable, "deliver the events again")
        if code:
            # The handshake must answer 200 with the code; what became of the rest is beside it.
            answer = {"validationResponse": code, "accepted": accepted, "refused": refused}
            return json_answer(200, answer)
        if refused:
            return problem(
                400,
                "Events not mapped",
                "; ".join(r["reason"] for r in refused),
                kind="unmapped-event",
                extra={"accepted": accepted, "refused": refused},
            )
        return json_answer(202, {"accepted": accepted})

    @staticmethod
    def _handshake(req: HttpRequest) -> HttpAnswer:
        # CloudEvents webhook spec, section 4: abuse protection.
        origin = req.headers.get("webhook-request-origin")
        try:
            check_text(origin or "", "the WebHook-Request-Origin header")
        except JsonRefused as refusal:  # it is echoed back: it must be text
            return json_problem(refusal)
        if not origin:
            return problem(
                400,
                "Missing WebHook-Request-Origin",
                "the OPTIONS handshake needs a WebHook-Request-Origin header",
                kind="invalid-handshake",
            )
        return HttpAnswer(
            200,
            headers={
                "WebHook-Allowed-Origin": origin,
                "WebHook-Allowed-Rate": "*",
                "Allow": "POST",
            },
        )

    async def handle_inbox(self, message: IncomingMessage) -> None:
        """A message on the plain inbox queue: one event, a batch, or Event Grid's array.

        Mapped events are sent to the start queue; the rest are recorded as `invalid`
        with the reason and the body, and the message is completed (nothing loops). A body
        that holds no events is recorded under the message's ID (`record_id_for_message`).
        """
        body = keep_body(message.body)
        try:
            events = parse_events(message.body, None)
        except (EventError, JsonRefused) as error:
            await self._record(
                record_id_for_message(message.message_id), body, str(error), Outcome.INVALID
            )
            return
        requests = []
        for index, event in enumerate(events):
            if isinstance(event, EventError):
                key = f"evt-{fingerprint([printable(message.message_id), index])[:32]}"
                await self._record(key, body, str(event), Outcome.INVALID)
                continue
            if _is_validation(event):
                continue  # a handshake belongs to the webhook; on a queue it means nothing
            try:
                requests.append(self.router.to_request(event))
            except EventError as error:
                await self._record(
                    request_id_for(event.source, event.id), body, str(error), Outcome.INVALID
                )
        if requests:
            await self.sender.send([OutgoingMessage.for_request(r) for r in requests])

    async def handle_inbox_dead_letter(
        self, message: IncomingMessage, reason: str | None, description: str | None
    ) -> None:
        """Record `dead-lettered` for an inbox message that ended in the dead-letter queue.

        Never fails on content: the record goes under the message's ID with its body.
        """
        why = "; ".join(p for p in (reason, description) if p) or "dead-lettered by Service Bus"
        await self._record(
            record_id_for_message(message.message_id),
            keep_body(message.body),
            f"inbox message dead-lettered: {why}",
            Outcome.DEAD_LETTERED,
        )

    async def _record(self, request_id: str, body: KeptBody, reason: str, outcome: Outcome) -> None:
        record = refusal_record(
            outcome, request_id=request_id, body=body, reason=reason, now=self.clock.now()
        )
        await insert_decided(self.store, record)
        logger.error(
            json.dumps(
                {"event": f"event-{outcome.value}", "requestId": request_id, "reason": reason}
            )
        )
