"""The Durable side of the starter: the instance snapshot, and the adapter over the SDK client.

The adapter absorbs the SDK's traps (see docs: `get_status` on an unknown ID returns a
falsy status object, never None; `runtime_status` is an Enum, not a str) so the handler
only ever sees `InstanceSnapshot | None`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .instance_listing import InstancePage, InstanceQuery, decoded_input, list_instances
from .policies import RuntimeStatus


@dataclass(frozen=True)
class InstanceSnapshot:
    instance_id: str
    name: str | None
    runtime_status: RuntimeStatus
    created_time: str | None
    last_updated_time: str | None = None
    input: Any = None
    custom_status: Any = None
    output: Any = None

    def to_public(self) -> dict[str, Any]:
        return {
            "instanceId": self.instance_id,
            "name": self.name,
            "runtimeStatus": self.runtime_status.value,
            "createdTime": self.created_time,
            "lastUpdatedTime": self.last_updated_time,
            "customStatus": self.custom_status,
            "output": self.output,
        }


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class DurableCallFailed(Exception):
    """The Durable SDK's report of a failed call: the host answered with an error."""


class DurableInstanceClient:
    """InstanceClient over `azure.durable_functions.DurableOrchestrationClient`."""

    # The SDK reports a failed HTTP call as a bare Exception: `get_status` turns it into
    # DurableCallFailed so a retry can tell it from a bug. The effects (start_new, ...)
    # keep the SDK's exception: the handler reads the status again after any of them.
    transient_errors: tuple[type[Exception], ...] = (DurableCallFailed,)

    def __init__(self, client: Any) -> None:
        self._client = client

    async def get_status(self, instance_id: str) -> InstanceSnapshot | None:
        try:
            status = await self._client.get_status(instance_id, show_input=True)
        except Exception as error:
            if type(error) is Exception:
                raise DurableCallFailed(str(error)) from error
            raise
        # Falsy (no createdTime) means unknown: the SDK never returns None here.
        if not status or status.runtime_status is None:
            return None
        return InstanceSnapshot(
            instance_id=status.instance_id or instance_id,
            name=status.name,
            runtime_status=RuntimeStatus(status.runtime_status.value),
            created_time=_iso(status.created_time),
            last_updated_time=_iso(status.last_updated_time),
            input=decoded_input(status.input_),
            custom_status=status.custom_status,
            output=status.output,
        )

    async def list_instances(self, query: InstanceQuery) -> InstancePage:
        """A page of instances (instance_listing.py), without inputs unless asked."""
        base_url = self._client._orchestration_bindings.rpc_base_url
        return await list_instances(base_url, query)

    async def start_new(self, orchestrator: str, instance_id: str, input: Any) -> None:
        await self._client.start_new(orchestrator, instance_id, input)

    async def terminate(self, instance_id: str, reason: str) -> None:
        await self._client.terminate(instance_id, reason)

    async def raise_event(self, instance_id: str, event_name: str, data: Any) -> None:
        await self._client.raise_event(instance_id, event_name, data)


_MOVED = {"InstanceClient": "starters.ports"}


def __getattr__(name: str) -> Any:
    from ._moved import moved_attribute

    return moved_attribute(__name__, name, _MOVED)
