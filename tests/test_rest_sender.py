"""The REST sender that reaches the embedded queue, selected by the connection value."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
from aiohttp import web

from embedded_functions.testing import EmbeddedRuntime
from starters.contract import StartRequest
from starters.functions.settings import SettingsError, StarterSettings
from starters.messages import OutgoingMessage
from starters.senders.from_settings import create_sender
from starters.senders.rest import RestQueueSender, embedded_endpoint, to_batch_item
from starters.senders.servicebus import ServiceBusQueueSender
from tests.runtime.conftest import APPS


def test_the_connection_value_selects_the_adapter() -> None:
    embedded = StarterSettings.from_env(
        {"ServiceBusConnection": "UseEmbeddedServiceBus=true;Endpoint=http://127.0.0.1:7071"}
    )
    assert isinstance(create_sender(embedded), RestQueueSender)
    azure = StarterSettings.from_env(
        {
            "ServiceBusConnection": "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=v"
        }
    )
    assert isinstance(create_sender(azure), ServiceBusQueueSender)
    assert embedded_endpoint("Endpoint=sb://x/;SharedAccessKey=y") is None
    with pytest.raises(SettingsError, match="no Endpoint"):
        embedded_endpoint("UseEmbeddedServiceBus=true")


def test_batch_item_mapping() -> None:
    request = StartRequest("long_job", "job-1", "req-1", {"duration_s": 1})
    when = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    item = to_batch_item(
        OutgoingMessage.for_request(request, attempt=2, scheduled_enqueue_time=when)
    )
    assert item["BrokerProperties"]["SessionId"] == "job-1"
    assert item["BrokerProperties"]["MessageId"] == "req-1:2"
    assert item["BrokerProperties"]["ScheduledEnqueueTimeUtc"] == "Thu, 01 Jan 2026 12:00:00 GMT"
    assert item["UserProperties"] == {"attempt": 2}


async def test_messages_arrive_with_session_message_id_and_schedule() -> None:
    async with EmbeddedRuntime(APPS / "queue_app", settings={"WORK_QUEUE": "unused"}) as runtime:
        queues = runtime.host.queues
        assert queues is not None
        queues.ensure_queue("sessions", requires_session=True)
        sender = RestQueueSender(runtime.base_url, "sessions")
        request = StartRequest("long_job", "job-7", "req-7", {"duration_s": 1})
        later = queues.clock.now() + timedelta(minutes=5)
        await sender.send(
            [
                OutgoingMessage.for_request(request),
                OutgoingMessage.for_request(request, attempt=1, scheduled_enqueue_time=later),
            ]
        )
        lease = queues.accept_session("sessions")
        assert lease is not None and lease.session_id == "job-7"
        first = queues.receive("sessions", lease)
        assert first is not None and first.message_id == "req-7"
        assert first.body == request.to_bytes()
        assert queues.receive("sessions", lease) is None  # the copy is scheduled
        assert queues.next_visible_after("sessions") is not None
        await sender.close()


def test_one_http_session_per_loop_closed_when_the_loop_shuts_down() -> None:
    """Sends on one loop share a session and its connection; the loop's shutdown closes it
    (asyncio.run shuts down async generators before it closes the loop)."""
    request = StartRequest("long_job", "job-9", "req-9", {"duration_s": 1})
    peers: list[object] = []
    sessions: list[aiohttp.ClientSession] = []

    async def accept(incoming: web.Request) -> web.Response:
        peers.append(incoming.transport.get_extra_info("peername") if incoming.transport else None)
        return web.Response(status=201)

    async def three_sends(sender: RestQueueSender | None) -> RestQueueSender:
        app = web.Application()
        app.router.add_post("/sessions/messages", accept)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            used = sender or RestQueueSender(url, "sessions")
            used.url = f"{url}/sessions/messages"
            for _ in range(3):
                await used.send([OutgoingMessage.for_request(request)])
            sessions.append(await used._sessions.current())
            assert not sessions[-1].closed
            return used
        finally:
            await runner.cleanup()

    sender = asyncio.run(three_sends(None))
    assert len(peers) == 3 and len(set(peers)) == 1  # one connection for three sends
    assert sessions[0].closed
    asyncio.run(three_sends(sender))  # a second loop gets a session of its own
    assert sessions[1] is not sessions[0] and sessions[1].closed
