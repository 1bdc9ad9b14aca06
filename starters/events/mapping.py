"""Event-driven input: CloudEvents 1.0 and Event Grid events mapped to start requests.

Event Grid cannot deliver to session-enabled queues, so events enter through the app: an
HTTP endpoint (CloudEvents structured and batched JSON with the webhook abuse-protection
`OPTIONS` handshake; Event Grid schema with the `SubscriptionValidationEvent` handshake),
or a plain inbox queue that Event Grid or a topic subscription delivers to. A declarative
mapping, kept next to the orchestrators, says which event type starts which orchestrator,
where the instance ID and the input come from, and with which policies.

The request ID is derived from the event's `source` and `id`, so a redelivered event has
its effect once (duplicate detection drops the send, the starter finds the decided record).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from ..contract import SCHEMA_VERSION, ContractViolation, StartRequest, request_id_for
from ..policies import OnFinished, OnRunning
from ..strict_json import JsonRefused, RefusalClass, read_json
from ..validation import ContractValidator

EVENT_GRID_VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
CLOUDEVENTS_JSON = "application/cloudevents+json"
CLOUDEVENTS_BATCH = "application/cloudevents-batch+json"
# Event Grid delivers at most 1 MB per request (preferredBatchSizeInKilobytes <= 1024);
# a batch's events are sent to the queue together, so their number is bounded too.
MAX_BATCH_BYTES = 1024 * 1024
MAX_BATCH_EVENTS = 100
_PLACEHOLDER = re.compile(r"\{([^{}|]+)(?:\|(\w+))?\}")


class EventError(ValueError):
    """An event that cannot become a start request; the message says why."""


@dataclass(frozen=True)
class Event:
    """An event in CloudEvents terms, whichever schema it came in."""

    id: str
    source: str
    type: str
    subject: str | None
    time: str | None
    data: Any
    schema: str  # "cloudevents" or "eventgrid"

    def field(self, path: str) -> Any:
        head, _, rest = path.partition(".")
        value: Any = {
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "subject": self.subject,
            "time": self.time,
            "data": self.data,
        }.get(head, _MISSING)
        for key in rest.split(".") if rest else []:
            if isinstance(value, dict) and key in value:
                value = value[key]
            elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                return _MISSING
        return value


_MISSING = object()


def _slug(value: str) -> str:
    """Fold a value into the instance-ID alphabet (for subjects such as blob paths)."""
    folded = re.sub(r"[^A-Za-z0-9_.:-]+", "-", value).strip("-._:")
    return folded[:100]


@dataclass(frozen=True)
class EventMapping:
    """Which event type starts which orchestrator, and how.

    `instance_id` is a template over the event: `{subject}`, `{id}`, `{source}`,
    `{data.reportId}`, with `|slug` to fold a value into the instance-ID alphabet
    (`{subject|slug}`). `input` is `"data"` (the event's data), a path such as
    `"data.payload"`, a template dict whose string values may be single placeholders, or
    None.
    """

    event_type: str
    orchestrator: str
    instance_id: str
    input: Any = "data"
    on_running: OnRunning | None = None
    on_finished: OnFinished | None = None

    def matches(self, event_type: str) -> bool:
        if self.event_type.endswith("*"):
            return event_type.startswith(self.event_type[:-1])
        return event_type == self.event_type


def render(template: str, event: Event) -> str:
    def value(match: re.Match[str]) -> str:
        found = event.field(match.group(1).strip())
        if found is _MISSING or found is None:
            raise EventError(f"the event has no {match.group(1).strip()} for {template!r}")
        text = found if isinstance(found, str) else json.dumps(found)
        return _slug(text) if match.group(2) == "slug" else text

    return _PLACEHOLDER.sub(value, template)


def render_input(spec: Any, event: Event) -> Any:
    if spec is None:
        return None
    if isinstance(spec, str):
        whole = _PLACEHOLDER.fullmatch(spec)
        if whole and whole.group(2) is None:
            found = event.field(whole.group(1).strip())
            return None if found is _MISSING else found
        if "{" in spec:
            return render(spec, event)
        found = event.field(spec)
        if found is _MISSING:
            raise EventError(f"the event has no {spec} for the input")
        return found
    if isinstance(spec, dict):
        return {key: render_input(value, event) for key, value in spec.items()}
    if isinstance(spec, list):
        return [render_input(item, event) for item in spec]
    return spec


def _text(raw: dict[str, Any], key: str, schema: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise EventError(f"a {schema} event needs a non-empty string {key!r}")
    return value


def parse_cloudevent(raw: Any) -> Event:
    if not isinstance(raw, dict):
        raise EventError("a CloudEvent must be a JSON object")
    if raw.get("specversion") != "1.0":
        raise EventError(f"specversion must be '1.0', got {raw.get('specversion')!r}")
    data = raw.get("data")
    if "data_base64" in raw:
        raise EventError("binary data (data_base64) cannot be an orchestration input")
    return Event(
        id=_text(raw, "id", "CloudEvents"),
        source=_text(raw, "source", "CloudEvents"),
        type=_text(raw, "type", "CloudEvents"),
        subject=raw.get("subject"),
        time=raw.get("time"),
        data=data,
        schema="cloudevents",
    )


def parse_event_grid(raw: Any) -> Event:
    if not isinstance(raw, dict):
        raise EventError("an Event Grid event must be a JSON object")
    topic = raw.get("topic")
    if topic is not None and not isinstance(topic, str):
        raise EventError("an Event Grid event's 'topic' must be a string")
    return Event(
        id=_text(raw, "id", "Event Grid"),
        source=topic or "eventgrid",
        type=_text(raw, "eventType", "Event Grid"),
        subject=raw.get("subject"),
        time=raw.get("eventTime"),
        data=raw.get("data"),
        schema="eventgrid",
    )


CLOUDEVENTS_HEADER_PREFIX = "ce-"


def is_binary_cloudevent(headers: Mapping[str, str]) -> bool:
    """CloudEvents' HTTP binary content mode: the attributes in `ce-*` headers."""
    return any(name.lower() == "ce-specversion" for name in headers)


def parse_binary_cloudevent(headers: Mapping[str, str], body: bytes) -> Event:
    """One CloudEvent in binary content mode: `ce-<attribute>` headers (percent-decoded, as
    the HTTP binding asks), Content-Type as `datacontenttype`, the body (JSON) as `data`."""
    attributes: dict[str, Any] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith(CLOUDEVENTS_HEADER_PREFIX):
            attribute = lowered.removeprefix(CLOUDEVENTS_HEADER_PREFIX)
            attributes[attribute] = unquote(value)
        elif lowered == "content-type":
            attributes["datacontenttype"] = value
    if body.strip():
        attributes["data"] = read_json(body, what="the event's data", max_bytes=MAX_BATCH_BYTES)
    return parse_cloudevent(attributes)


def parse_events(body: bytes | str, content_type: str | None) -> list[Event | EventError]:
    """Every event in a body (one structured CloudEvent, a batch, or Event Grid's array).

    Raises JsonRefused for a body the strict reader refuses or a batch over the limits
    (class `size`), EventError for a body that holds no events.
    """
    document = read_json(body, max_bytes=MAX_BATCH_BYTES)
    kind = (content_type or "").split(";")[0].strip().lower()
    items = document if isinstance(document, list) else [document]
    if not items:
        raise EventError("no events in the body")
    if len(items) > MAX_BATCH_EVENTS:
        raise JsonRefused(
            RefusalClass.SIZE,
            f"{len(items)} events, over the limit of {MAX_BATCH_EVENTS} per batch",
            "the batch",
        )
    parsed: list[Event | EventError] = []
    for item in items:
        try:
            if kind in (CLOUDEVENTS_JSON, CLOUDEVENTS_BATCH) or (
                isinstance(item, dict) and "specversion" in item
            ):
                parsed.append(parse_cloudevent(item))
            else:
                parsed.append(parse_event_grid(item))
        except EventError as error:
            parsed.append(error)
    return parsed


class EventRouter:
    def __init__(self, mappings: Sequence[EventMapping], validator: ContractValidator) -> None:
        self.mappings = list(mappings)
        self.validator = validator

    def to_request(self, event: Event) -> StartRequest:
        mapping = next((m for m in self.mappings if m.matches(event.type)), None)
        if mapping is None:
            known = ", ".join(m.event_type for m in self.mappings) or "none"
            raise EventError(f"no mapping for event type {event.type!r} (mapped: {known})")
        body: dict[str, Any] = {
            "schemaVersion": SCHEMA_VERSION,
            "orchestrator": mapping.orchestrator,
            "instanceId": render(mapping.instance_id, event),
            "requestId": request_id_for(event.source, event.id),
            "input": render_input(mapping.input, event),
        }
        if mapping.on_running is not None:
            body["onRunning"] = mapping.on_running.value
        if mapping.on_finished is not None:
            body["onFinished"] = mapping.on_finished.value
        try:
            return self.validator.validate(body, check_session=False)
        except ContractViolation as violation:
            raise EventError(
                f"event {event.id} maps to an invalid start request: {violation}"
            ) from None


def event_request_id(event: Event | None, fallback: str) -> str:
    return request_id_for(event.source, event.id) if event is not None else fallback
