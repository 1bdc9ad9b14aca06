"""Events into start requests: CloudEvents and Event Grid parsing and mapping (mapping.py),
and the events route's core (api.py)."""

from .mapping import (
    CLOUDEVENTS_BATCH,
    CLOUDEVENTS_JSON,
    EVENT_GRID_VALIDATION,
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    Event,
    EventError,
    EventMapping,
    EventRouter,
    event_request_id,
    parse_cloudevent,
    parse_event_grid,
    parse_events,
    render,
    render_input,
)

__all__ = [
    "CLOUDEVENTS_BATCH",
    "CLOUDEVENTS_JSON",
    "EVENT_GRID_VALIDATION",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_EVENTS",
    "Event",
    "EventError",
    "EventMapping",
    "EventRouter",
    "event_request_id",
    "parse_cloudevent",
    "parse_event_grid",
    "parse_events",
    "render",
    "render_input",
]
