"""The app's health checks: the outcome store, the Durable API and the sender, each read
or connected to as the starter uses it (starters/http/health.py answers with them)."""

from __future__ import annotations

from ..http.core import HttpAnswer
from ..http.health import PROBE_ID, health_answer
from ..ports import InstanceClient
from ..senders.probe import probe_sender
from .components import LazyComponents
from .settings import StarterSettings


async def health_of(components: LazyComponents, instances: InstanceClient) -> HttpAnswer:
    async def outcome_store() -> None:
        await (await components.get()).store.get(PROBE_ID)

    async def durable() -> None:
        await instances.get_status(PROBE_ID)

    async def sender() -> None:
        try:
            settings = (await components.get()).settings
        except Exception:  # the store may be what failed: the sender is checked on its own
            settings = StarterSettings.from_env()
        await probe_sender(settings)

    return await health_answer(
        {"outcomeStore": outcome_store, "durable": durable, "sender": sender}
    )
