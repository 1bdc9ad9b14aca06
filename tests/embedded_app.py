"""The settings this app needs on the embedded runtime, as `make run` gets them from
local.settings.json.template: the runtime injects nothing of its own into the app."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from embedded_functions.servicebus.session_queue import NewMessage

if TYPE_CHECKING:
    from embedded_functions.testing import EmbeddedRuntime

# No Endpoint: the app completes it from the runtime's published EMBEDDED_RUNTIME_URL.
EMBEDDED_QUEUE = {"ServiceBusConnection": "UseEmbeddedServiceBus=true"}


def app_settings(data_dir: Path | None = None, **more: str) -> dict[str, str]:
    """Outcomes in memory (one process), or beside the runtime's state in `data_dir`."""
    store = f"sqlite:{data_dir / 'outcomes.sqlite3'}" if data_dir is not None else "memory"
    return {**EMBEDDED_QUEUE, "OUTCOME_STORE": store, **more}


async def drained(runtime: EmbeddedRuntime, queue: str, timeout: float = 10.0) -> None:
    """Wait until `queue` holds no message: each one was handled and completed (the trigger
    completes a message only after the function returned)."""
    queues = runtime.host.queues
    assert queues is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while queues.counts(queue) != {"active": 0, "dead": 0}:
        if loop.time() > deadline:
            raise TimeoutError(f"{queue} still holds {queues.counts(queue)}")
        await asyncio.sleep(0.025)


async def settled(runtime: EmbeddedRuntime, queue: str = "start-requests") -> None:
    """Wait until nothing more can happen on its own: the start queue is drained and the
    Durable runtime has nothing runnable. An assertion that something did not happen is
    then one that can fail, whatever the machine's speed."""
    await drained(runtime, queue)
    await runtime.runtime.wait_idle()


def expire_into_dead_letters(
    runtime: EmbeddedRuntime,
    body: bytes,
    message_id: str,
    session: str,
    *,
    after: timedelta = timedelta(hours=1),
) -> None:
    """Put a start request straight on the queue so that it expires unseen: the queue
    dead-letters it (TTLExpiredException) once its clock passes the time to live. The
    clock skips about `after`; the Durable runtime shares it (a screenshot wants it small)."""
    queues = runtime.queues
    later = queues.clock.now() + after
    time_to_live = min(timedelta(minutes=1), after / 2)
    queues.send(
        "start-requests",
        [
            NewMessage(
                body=body,
                message_id=message_id,
                session_id=session,
                scheduled_enqueue_time=later,
                time_to_live=time_to_live,
            )
        ],
    )
    queues.clock.skip_to(later + 2 * time_to_live)
