"""The Functions blueprint: HTTP API, session trigger, dead-letter trigger, keep-alive timers.

Wiring only: each function converts the binding's types and calls the starter. An existing
Functions app registers it with `app.register_functions(build_blueprint(registry))`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from .._sdk_event_fifo import install as install_event_fifo
from .._sdk_event_fifo import is_supported as event_fifo_supported
from ..contract import StartRequest, keep_alive_request_id
from ..dashboard.page import dashboard_asset, dashboard_page
from ..events.mapping import EventMapping
from ..http.core import HttpAnswer
from ..http.listing_api import list_instances, list_requests
from ..http.openapi import build_openapi
from ..http.refusal_log import log_refusal
from ..http.resubmit_api import resubmit_request
from ..instances import DurableInstanceClient
from ..messages import IncomingMessage
from ..policies import OnRunning
from ..registry import OrchestratorSpec, Registry
from .components import LazyComponents
from .health_checks import health_of
from .settings import SERVICE_BUS_CONNECTION, StarterSettings

logger = logging.getLogger("starters.blueprint")

QUEUE_EXPRESSION = "%START_QUEUE_NAME%"
INBOX_EXPRESSION = "%EVENT_INBOX_QUEUE%"
# Daily, at a quiet minute.
RETENTION_SCHEDULE = "0 17 3 * * *"


def to_response(answer: HttpAnswer, req: func.HttpRequest | None = None) -> func.HttpResponse:
    """The worker's response for an answer of the framework-free HTTP core; a refusal is
    logged (one line: request ID, status, problem type)."""
    log_refusal(answer, req)
    return func.HttpResponse(
        answer.body,
        status_code=answer.status_code,
        headers=dict(answer.headers),
        mimetype=answer.mimetype,
    )


def to_incoming(msg: func.ServiceBusMessage) -> IncomingMessage:
    enqueued = getattr(msg, "enqueued_time_utc", None)
    if isinstance(enqueued, datetime) and enqueued.tzinfo is None:
        enqueued = enqueued.replace(tzinfo=timezone.utc)
    return IncomingMessage(
        body=msg.get_body(),
        session_id=getattr(msg, "session_id", None),
        message_id=msg.message_id or "",
        delivery_count=getattr(msg, "delivery_count", None) or 1,
        enqueued_time=enqueued,
        application_properties=dict(getattr(msg, "application_properties", None) or {}),
    )


def build_blueprint(
    registry: Registry,
    settings: StarterSettings | None = None,
    *,
    events: Sequence[EventMapping] = (),
) -> df.Blueprint:
    """The starter's functions for `registry`; settings are read on first use if not given.

    With event mappings it also takes events: `POST /api/events` (CloudEvents, Event Grid)
    and a trigger on the plain inbox queue `%EVENT_INBOX_QUEUE%`.
    """
    _fix_early_events(registry)
    bp = df.Blueprint()
    components = LazyComponents(registry, settings, events)
    bp.components = components  # for apps (and tests) that put in their own parts

    @bp.function_name("starter_start")
    @bp.route(
        route="orchestrators/{functionName}/{instanceId}",
        methods=["POST"],
        auth_level=func.AuthLevel.FUNCTION,
    )
    @bp.durable_client_input(client_name="client")
    async def starter_start(req: func.HttpRequest, client: Any) -> func.HttpResponse:
        return to_response(
            await (await components.get()).api.start(req, DurableInstanceClient(client)), req
        )

    @bp.function_name("starter_request")
    @bp.route(route="requests/{requestId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
    async def starter_request(req: func.HttpRequest) -> func.HttpResponse:
        return to_response(await (await components.get()).api.request_outcome(req), req)

    @bp.function_name("starter_cancel")
    @bp.route(route="requests/{requestId}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
    async def starter_cancel(req: func.HttpRequest) -> func.HttpResponse:
        return to_response(await (await components.get()).api.cancel(req), req)

    @bp.function_name("starter_list_requests")
    @bp.route(route="requests", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
    async def starter_list_requests(req: func.HttpRequest) -> func.HttpResponse:
        return to_response(await list_requests(req, (await components.get()).store), req)

    @bp.function_name("starter_resubmit")
    @bp.route(
        route="requests/{requestId}/resubmit", methods=["POST"], auth_level=func.AuthLevel.FUNCTION
    )
    async def starter_resubmit(req: func.HttpRequest) -> func.HttpResponse:
        parts = await components.get()
        answer = await resubmit_request(req, parts.store, parts.sender, parts.clock)
        return to_response(answer, req)

    @bp.function_name("starter_list_instances")
    @bp.route(route="instances", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
    @bp.durable_client_input(client_name="client")
    async def starter_list_instances(req: func.HttpRequest, client: Any) -> func.HttpResponse:
        return to_response(await list_instances(req, DurableInstanceClient(client)), req)

    @bp.function_name("starter_openapi")
    @bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def starter_openapi(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(
            json.dumps(build_openapi(registry, with_events=bool(events))),
            mimetype="application/json",
        )

    @bp.function_name("starter_dashboard")
    @bp.route(route="dashboard", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def starter_dashboard(req: func.HttpRequest) -> func.HttpResponse:
        return to_response(dashboard_page(req), req)

    @bp.function_name("starter_dashboard_asset")
    @bp.route(route="dashboard/{asset}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def starter_dashboard_asset(req: func.HttpRequest) -> func.HttpResponse:
        return to_response(dashboard_asset(req), req)

    @bp.function_name("starter_outcome_retention")
    @bp.timer_trigger(arg_name="timer", schedule=RETENTION_SCHEDULE)
    async def starter_outcome_retention(timer: func.TimerRequest) -> None:
        parts = await components.get()
        cutoff = parts.clock.now() - parts.settings.retention
        purged = await parts.store.purge_decided_before(cutoff)
        logger.info("purged %d outcome records decided before %s", purged, cutoff.isoformat())

    @bp.function_name("starter_instance")
    @bp.route(route="instances/{instanceId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
    @bp.durable_client_input(client_name="client")
    async def starter_instance(req: func.HttpRequest, client: Any) -> func.HttpResponse:
        api = (await components.get()).api
        return to_response(await api.instance_status(req, DurableInstanceClient(client)), req)

    @bp.function_name("starter_health")
    @bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
    @bp.durable_client_input(client_name="client")
    async def starter_health(req: func.HttpRequest, client: Any) -> func.HttpResponse:
        return to_response(await health_of(components, DurableInstanceClient(client)), req)

    @bp.function_name("starter_session_trigger")
    @bp.service_bus_queue_trigger(
        arg_name="msg",
        connection=SERVICE_BUS_CONNECTION,
        queue_name=QUEUE_EXPRESSION,
        is_sessions_enabled=True,
    )
    @bp.durable_client_input(client_name="client")
    async def starter_session_trigger(msg: func.ServiceBusMessage, client: Any) -> None:
        parts = await components.get()
        await parts.handler.handle(to_incoming(msg), DurableInstanceClient(client))

    @bp.function_name("starter_dead_letters")
    @bp.service_bus_queue_trigger(
        arg_name="msg",
        connection=SERVICE_BUS_CONNECTION,
        queue_name=QUEUE_EXPRESSION + "/$DeadLetterQueue",
    )
    async def starter_dead_letters(msg: func.ServiceBusMessage) -> None:
        parts = await components.get()
        await parts.handler.handle_dead_letter(
            to_incoming(msg),
            getattr(msg, "dead_letter_reason", None),
            getattr(msg, "dead_letter_error_description", None),
        )

    for spec in registry:
        if spec.keep_alive_schedule:
            _register_keep_alive(bp, components, spec)
    if events:
        _register_events(bp, components)
    return bp


def _fix_early_events(registry: Registry) -> None:
    """Patch the SDK's early-event handling (starters/sdk_event_fifo.py) for this process.

    `forward` depends on it, so an app that registers a forward spec on an SDK version the
    fix was not tested with fails here, at start-up, with the version in the message.
    """
    forwards = any(OnRunning.FORWARD in spec.running_policies for spec in registry)
    if forwards or event_fifo_supported():
        install_event_fifo()  # raises on an untested version; other events benefit too
    else:
        logger.warning("the Durable SDK's early-event fix is not installed on this version")


def _register_events(bp: df.Blueprint, components: LazyComponents) -> None:
    @bp.function_name("starter_events")
    @bp.route(route="events", methods=["POST", "OPTIONS"], auth_level=func.AuthLevel.FUNCTION)
    async def starter_events(req: func.HttpRequest) -> func.HttpResponse:
        return to_response(await (await components.get()).events.handle(req), req)

    @bp.function_name("starter_event_inbox")
    @bp.service_bus_queue_trigger(
        arg_name="msg", connection=SERVICE_BUS_CONNECTION, queue_name=INBOX_EXPRESSION
    )
    async def starter_event_inbox(msg: func.ServiceBusMessage) -> None:
        await (await components.get()).events.handle_inbox(to_incoming(msg))

    @bp.function_name("starter_event_inbox_dead_letters")
    @bp.service_bus_queue_trigger(
        arg_name="msg",
        connection=SERVICE_BUS_CONNECTION,
        queue_name=INBOX_EXPRESSION + "/$DeadLetterQueue",
    )
    async def starter_event_inbox_dead_letters(msg: func.ServiceBusMessage) -> None:
        await (await components.get()).events.handle_inbox_dead_letter(
            to_incoming(msg),
            getattr(msg, "dead_letter_reason", None),
            getattr(msg, "dead_letter_error_description", None),
        )


def keep_alive_request(spec: OrchestratorSpec, fired_at: datetime) -> StartRequest:
    """The start request of one keep-alive tick, under a reserved request ID producers
    cannot take (`keep_alive_request_id`)."""
    assert spec.keep_alive_instance_id is not None
    return StartRequest(
        orchestrator=spec.name,
        instance_id=spec.keep_alive_instance_id,
        request_id=keep_alive_request_id(spec.keep_alive_instance_id, fired_at),
        input=spec.keep_alive_input,
        on_running=OnRunning.USE_EXISTING,
    )


def _register_keep_alive(
    bp: df.Blueprint, components: LazyComponents, spec: OrchestratorSpec
) -> None:
    name = f"keep_alive_{spec.name}"

    async def keep_alive(timer: func.TimerRequest) -> None:
        parts = await components.get()
        request = parts.validator.validate(
            keep_alive_request(spec, parts.clock.now()).to_body(),
            check_session=False,
            admit_keep_alive=True,
        )
        reservation = await parts.intake.reserve(request)
        if reservation.created:  # else this tick was already enqueued
            await parts.intake.enqueue([reservation])  # on failure the next tick tries again

    keep_alive.__name__ = name
    bp.function_name(name)(
        bp.timer_trigger(arg_name="timer", schedule=spec.keep_alive_schedule)(keep_alive)
    )
