"""Events in: the HTTP endpoint (CloudEvents, Event Grid) and the inbox queue handler."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

import azure.functions as func

from .clock import Clock, SystemClock
from .contract import StartRequest, fingerprint, request_id_for
from .events import EVENT_GRID_VALIDATION, Event, EventError, EventRouter, parse_events
from .messages import IncomingMessage, OutgoingMessage, Sender
from .outcomes import Outcome, OutcomeRecord, OutcomeStore, RecordExists, pending_record
from .problems import problem

logger = logging.getLogger("starters.events")


class EventApi:
    def __init__(
        self,
        router: EventRouter,
        store: OutcomeStore,
        sender: Sender,
        clock: Clock | None = None,
    ) -> None:
        self.router = router
        self.store = store
        self.sender = sender
        self.clock: Clock = clock or SystemClock()

    async def handle(self, req: func.HttpRequest) -> func.HttpResponse:
        """`POST /api/events` (and the `OPTIONS` abuse-protection handshake)."""
        if req.method.upper() == "OPTIONS":
            return self._handshake(req)
        try:
            events = parse_events(req.get_body(), req.headers.get("content-type"))
        except EventError as error:
            return problem(400, "Invalid events", str(error), kind="invalid-event")
        for event in events:
            if isinstance(event, Event) and event.type == EVENT_GRID_VALIDATION:
                code = (
                    (event.data or {}).get("validationCode")
                    if isinstance(event.data, dict)
                    else None
                )
                if not code:
                    return problem(
                        400,
                        "Invalid events",
                        "validation event without a code",
                        kind="invalid-event",
                    )
                return func.HttpResponse(
                    json.dumps({"validationResponse": code}), mimetype="application/json"
                )
        accepted: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        requests: list[StartRequest] = []
        created: list[OutcomeRecord] = []
        for index, event in enumerate(events):
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
            record = pending_record(request, self.clock.now())
            # A redelivered event has a record already: the same request ID, sent again below.
            with contextlib.suppress(RecordExists):
                created.append(await self.store.insert(record))
            requests.append(request)
            accepted.append(
                {
                    "eventId": event.id,
                    "requestId": request.request_id,
                    "instanceId": request.instance_id,
                }
            )
        if requests:
            try:
                await self.sender.send([OutgoingMessage.for_request(r) for r in requests])
            except Exception as error:
                logger.exception("enqueueing events failed")
                for record in created:
                    await self.store.delete(record)
                return problem(
                    503,
                    "Queue unavailable",
                    f"the events could not be enqueued ({type(error).__name__}); deliver again",
                    kind="queue-unavailable",
                    headers={"Retry-After": "5"},
                )
        if refused:
            return problem(
                400,
                "Events not mapped",
                "; ".join(r["reason"] for r in refused),
                kind="unmapped-event",
                extra={"accepted": accepted, "refused": refused},
            )
        return func.HttpResponse(
            json.dumps({"accepted": accepted}), status_code=202, mimetype="application/json"
        )

    @staticmethod
    def _handshake(req: func.HttpRequest) -> func.HttpResponse:
        # CloudEvents webhook spec, section 4: abuse protection.
        origin = req.headers.get("webhook-request-origin")
        if not origin:
            return problem(
                400,
                "Missing WebHook-Request-Origin",
                "the OPTIONS handshake needs a WebHook-Request-Origin header",
                kind="invalid-handshake",
            )
        return func.HttpResponse(
            status_code=200,
            headers={
                "WebHook-Allowed-Origin": origin,
                "WebHook-Allowed-Rate": "*",
                "Allow": "POST",
            },
        )

    async def handle_inbox(self, message: IncomingMessage) -> None:
        """A message on the plain inbox queue: one event, a batch, or Event Grid's array.

        Mapped events are sent to the start queue; the rest are recorded as `invalid`
        with the reason and the body, and the message is completed (nothing loops).
        """
        text = message.body.decode("utf-8", errors="replace")
        try:
            events = parse_events(message.body, None)
        except EventError as error:
            await self._record_invalid(
                f"evt-{fingerprint(message.message_id)[:32]}", "", text, str(error)
            )
            return
        requests = []
        for index, event in enumerate(events):
            if isinstance(event, EventError):
                key = f"evt-{fingerprint([message.message_id, index])[:32]}"
                await self._record_invalid(key, "", text, str(event))
                continue
            try:
                requests.append(self.router.to_request(event))
            except EventError as error:
                await self._record_invalid(
                    request_id_for(event.source, event.id), "", text, str(error)
                )
        if requests:
            await self.sender.send([OutgoingMessage.for_request(r) for r in requests])

    async def _record_invalid(
        self, request_id: str, instance_id: str, body: str, reason: str
    ) -> None:
        now = self.clock.now()
        record = OutcomeRecord(
            request_id=request_id,
            instance_id=instance_id,
            orchestrator="",
            outcome=Outcome.INVALID,
            received_at=now,
            fingerprint=fingerprint(body),
            reason=reason,
            decided_at=now,
            body=body,
        )
        with contextlib.suppress(RecordExists):  # a redelivery of the same event
            await self.store.insert(record)
        logger.error(
            json.dumps({"event": "event-invalid", "requestId": request_id, "reason": reason})
        )
