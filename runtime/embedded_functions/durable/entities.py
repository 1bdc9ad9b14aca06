"""Durable Entities, as the host runs them for an out-of-process (Python) app.

An entity is addressed by its scheduler ID `@name@key` (the name lower-cased, as the
host's `EntityId` does; the key as given). Operations reach it through the task hub's
inbox, from a client (`signal_entity`, the entities HTTP API) or from an orchestration
(`call_entity`, `signal_entity`); the dispatch loop runs one batch per entity at a time, in
inbox order, so operations on one entity are serialized in arrival order per sender.

The wire protocol, as azure-functions-durable 1.x speaks it:

- the entity function gets `{"self": {"name", "key"}, "exists", "state", "batch": [...]}`,
  each batch item `{"name": <operation>, "input": <JSON text>, "isSignal"}`, where the
  input is the JSON encoding of the SDK-serialized value (the host serializes the string
  it was given once more; `DurableEntityContext.get_input` decodes both layers);
- it answers `{"entityExists", "entityState", "results": [{"isError", "result", ...}],
  "signals"}`;
- an orchestration's call is an `EventSent` in its history (its Input carries the request
  `id`), answered by an `EventRaised` named after that id whose Input is the response
  message `{"result": <JSON text>}` (plus `exceptionType` when the operation raised).

The host's side is the extension's `EntityTriggerAttributeBindingProvider` (the context
JSON), `TaskEntityShim.ExecuteOutOfProcBatch` (the answer) and `RequestMessage` /
`ResponseMessage` (the messages).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..app_loader import FunctionIndex, FunctionInfo
from .entity_store import EntityRow
from .history import EventType, event, timestamp
from .store import InboxItem, InstanceRow

if TYPE_CHECKING:
    from .runtime import DurableRuntime

logger = logging.getLogger("embedded_functions.durable")

OPERATION = "entity-op"
# Operations handed to an entity function in one call, as the host batches them.
MAX_BATCH = 100


class UnknownEntity(ValueError):
    """No entity function of that name in the app (the host answers 400)."""


@dataclass(frozen=True)
class EntityAddress:
    name: str
    key: str

    @classmethod
    def of(cls, name: str, key: str) -> EntityAddress:
        if not name:
            raise ValueError("The entity name must not be empty.")
        return cls(name.lower(), key)

    @classmethod
    def parse(cls, scheduler_id: str) -> EntityAddress:
        name, separator, key = scheduler_id[1:].partition("@")
        if not scheduler_id.startswith("@") or not separator or not name:
            raise ValueError(f"{scheduler_id!r} is not an entity ID (@name@key)")
        return cls(name.lower(), key)

    @property
    def scheduler_id(self) -> str:
        return f"@{self.name}@{self.key}"


def is_entity_id(instance_id: str) -> bool:
    """Entity IDs start with `@`; the host refuses orchestration IDs that do."""
    return instance_id.startswith("@")


def entity_function(functions: FunctionIndex, name: str) -> FunctionInfo | None:
    key = name.casefold()
    for info in functions.of_type("entityTrigger"):
        declared = str(info.trigger.get("entityName") or info.name)
        if declared.casefold() == key:
            return info
    return None


def unknown_entity_message(name: str) -> str:
    return f"The function '{name}' doesn't exist, is disabled, or is not an entity function."


def client_operation_input(body: str, content_type: str) -> str:
    """The operation input of an HTTP signal, as the entity function will read it.

    The SDK posts `json.dumps(value)` as a JSON body: a JSON string holding the value's
    JSON text, which the host passes on as it is. Another JSON body (curl) is the value's
    own JSON text, and a body of another type is a text value: both are encoded so that
    `get_input()` reads that value, where the SDK behind the real host fails to decode
    them. No body reads as None.
    """
    if not body:
        return "null"
    if content_type.lower() != "application/json":
        return json.dumps(json.dumps(body))
    parsed = json.loads(body)  # the caller answers 400 on invalid JSON
    return body if isinstance(parsed, str) else json.dumps(body)


class Entities:
    """Entity operations of one runtime: sending them and running them."""

    def __init__(self, runtime: DurableRuntime) -> None:
        self.rt = runtime
        self.store = runtime.store

    # -- senders ----------------------------------------------------------------------

    def signal(self, address: EntityAddress, operation: str, input_text: str) -> None:
        """A client's signal: one-way, no answer."""
        if entity_function(self.rt.functions, address.name) is None:
            raise UnknownEntity(unknown_entity_message(address.name))
        request = {"op": operation, "signal": True, "input": input_text, "id": uuid.uuid4().hex}
        with self.store.transaction():
            self.rt._enqueue(address.scheduler_id, OPERATION, request)

    def read_state(self, address: EntityAddress) -> EntityRow | None:
        return self.store.entities.get(address.scheduler_id)

    def scheduled(
        self, row: InstanceRow, task_id: int, action: dict[str, Any], now: datetime, *, call: bool
    ) -> dict[str, Any]:
        """A call or signal scheduled by an orchestration episode: its EventSent event."""
        target = str(action.get("instanceId"))
        operation = str(action.get("operation"))
        request: dict[str, Any] = {
            "op": operation,
            "signal": not call,
            # The action carries the SDK-serialized input; the host serializes it again.
            "input": json.dumps(action.get("input")),
            "id": str(uuid.uuid4()),
        }
        if call:
            request["parent"] = row.instance_id
            request["parentExecution"] = row.execution_id
        self.rt._enqueue(target, OPERATION, request)
        return event(
            EventType.EventSent,
            now,
            task_id,
            InstanceId=target,
            Name="op",
            Input=json.dumps(request),
        )

    # -- the entity side ----------------------------------------------------------------

    def run_batch(self, entity_id: str) -> bool:
        """Run the entity's visible operations; True if more are left for another batch."""
        now = self.rt.clock.now()
        with self.store.transaction():
            items = [
                i
                for i in self.store.inbox(entity_id, visible_by=timestamp(now))
                if i.kind == OPERATION
            ]
            batch = items[:MAX_BATCH]
            if batch:
                self._run(entity_id, batch, now)
                self.store.delete_inbox([i.id for i in batch])
        return len(items) > len(batch)

    def _run(self, entity_id: str, batch: list[InboxItem], now: datetime) -> None:
        try:
            address = EntityAddress.parse(entity_id)
        except ValueError as error:
            self._answer_all(batch, str(error), now)
            return
        function = entity_function(self.rt.functions, address.name)
        if function is None:
            self._answer_all(batch, unknown_entity_message(address.name), now)
            return
        current = self.store.entities.get(entity_id)
        context = {
            "self": {"name": address.name, "key": address.key},
            "exists": current is not None,
            "state": current.state if current is not None else None,
            "batch": [
                {
                    "name": item.event.get("op"),
                    "input": item.event.get("input"),
                    "isSignal": item.event.get("signal", True),
                }
                for item in batch
            ],
        }
        try:
            returned = function.function(json.dumps(context))
            answer = json.loads(returned) if isinstance(returned, str) else returned
            results = answer["results"]
            if len(results) != len(batch):
                raise ValueError(f"{len(results)} results for {len(batch)} operations")
        except Exception as error:
            message = f"Entity function '{function.name}' failed: {type(error).__name__}: {error}"
            logger.exception("%s (%s)", message, entity_id)
            self._answer_all(batch, message, now)
            return
        if answer.get("entityExists"):
            self.store.entities.put(entity_id, answer.get("entityState"), timestamp(now))
        else:
            self.store.entities.delete(entity_id)
        for item, result in zip(batch, results, strict=True):
            response: dict[str, Any] = {"result": result.get("result")}
            if result.get("isError"):
                response["exceptionType"] = "Error"  # what the host's TaskEntityShim sets
                logger.info(
                    "operation %s on %s failed: %s",
                    item.event.get("op"),
                    entity_id,
                    result.get("result"),
                )
            self._respond(item, response, now)

    def _answer_all(self, batch: list[InboxItem], message: str, now: datetime) -> None:
        logger.warning("entity operations failed: %s", message)
        for item in batch:
            self._respond(item, {"result": json.dumps(message), "exceptionType": "Error"}, now)

    def _respond(self, item: InboxItem, response: dict[str, Any], now: datetime) -> None:
        parent = item.event.get("parent")
        if item.event.get("signal", True) or not parent:
            return  # a signal has nobody to answer
        raised = event(
            EventType.EventRaised, now, Name=item.event.get("id"), Input=json.dumps(response)
        )
        from .instances import EVENT

        self.rt._enqueue(str(parent), EVENT, raised, execution_id=item.event.get("parentExecution"))
