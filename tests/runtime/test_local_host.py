"""The local host: HTTP routes and keys, Service Bus session triggers, timers.

Service Bus is the embedded queue (the real one cannot run here); the functions are a test
app's, invoked as the Functions host invokes them."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from embedded_functions.testing import EmbeddedRuntime
from tests.runtime.conftest import APPS

APP = APPS / "queue_app"


@pytest.fixture
async def host() -> AsyncIterator[EmbeddedRuntime]:
    async with EmbeddedRuntime(APP, settings={"WORK_QUEUE": "work"}) as runtime:
        yield runtime


def app_globals(runtime: EmbeddedRuntime) -> dict[str, Any]:
    return runtime.host.functions.functions[0].function.__globals__


async def send(runtime: EmbeddedRuntime, queue: str, items: list[dict[str, Any]]) -> int:
    batch = [
        {"Body": json.dumps(i["body"]), "BrokerProperties": i.get("broker", {})} for i in items
    ]
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            f"{runtime.base_url}/{queue}/messages",
            data=json.dumps(batch),
            headers={"Content-Type": "application/vnd.microsoft.servicebus.json"},
        )
        return response.status


async def until(predicate: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def get(runtime: EmbeddedRuntime, path: str, **kwargs: Any) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(runtime.base_url + path, **kwargs) as r,
    ):
        return r.status, await r.text()


# -- HTTP ----------------------------------------------------------------------------


async def test_routes_constraints_and_request_shape(host: EmbeddedRuntime) -> None:
    status, body = await get(host, "/api/items/42?q=x")
    assert status == 200
    item = json.loads(body)
    assert item["id"] == 42 and item["q"] == "x" and item["url"].endswith("/api/items/42?q=x")
    assert (await get(host, "/api/items/abc"))[0] == 404  # {id:int} does not match
    assert await get(host, "/api/files/a/b/c.txt") == (200, "a/b/c.txt")
    assert await get(host, "/api/greet/ada") == (200, "hello ada")
    assert await get(host, "/api/greet") == (200, "hello nobody")
    async with aiohttp.ClientSession() as session:
        response = await session.delete(host.base_url + "/api/greet/ada")
        assert response.status == 405


async def test_a_failing_function_answers_500_and_the_host_keeps_serving(
    host: EmbeddedRuntime,
) -> None:
    assert (await get(host, "/api/boom"))[0] == 500
    assert (await get(host, "/api/greet/again"))[0] == 200


async def test_keys_are_enforced_only_when_asked() -> None:
    async with EmbeddedRuntime(APP, settings={"WORK_QUEUE": "work"}) as open_host:
        assert (await get(open_host, "/api/admin"))[0] == 200
    runtime = EmbeddedRuntime(APP, settings={"WORK_QUEUE": "work"})
    runtime.host.options.enforce_keys = True
    async with runtime as keyed:
        assert keyed.host.http is not None
        keys = keyed.host.http
        assert (await get(keyed, "/api/greet/x"))[0] == 401
        assert (await get(keyed, f"/api/greet/x?code={keys.function_key}"))[0] == 200
        headers = {"x-functions-key": keys.function_key}
        assert (await get(keyed, "/api/greet/x", headers=headers))[0] == 200
        assert (await get(keyed, f"/api/admin?code={keys.function_key}"))[0] == 401
        assert (await get(keyed, f"/api/admin?code={keys.master_key}"))[0] == 200
        assert (await get(keyed, "/api/files/anonymous"))[0] == 200


# -- Service Bus -------------------------------------------------------------------


async def test_one_handler_at_a_time_per_session_in_order(host: EmbeddedRuntime) -> None:
    calls = app_globals(host)["calls"]
    items = [
        {"body": {"n": n, "sleep": 0.02}, "broker": {"SessionId": f"s{n % 2}"}} for n in range(10)
    ]
    assert await send(host, "work", items) == 201
    await until(lambda: len([c for c in calls if "end" in c]) == 10)
    for session in ("s0", "s1"):
        mine = [c for c in calls if c["session"] == session]
        assert [c["n"] for c in mine] == sorted(c["n"] for c in mine)  # FIFO
        for earlier, later in itertools.pairwise(mine):
            assert earlier["end"] <= later["start"]  # never two at once in one session
    s0 = [c for c in calls if c["session"] == "s0"]
    s1 = [c for c in calls if c["session"] == "s1"]
    # Two slots: the sessions ran side by side.
    assert min(c["end"] for c in s0) > min(c["start"] for c in s1)


async def test_a_slot_keeps_an_idle_session_for_the_idle_timeout(host: EmbeddedRuntime) -> None:
    # Two slots, three sessions: the third waits until a slot's session has been idle for
    # sessionIdleTimeout (0.3 s), as in Azure; the host never skips that wait.
    calls = app_globals(host)["calls"]
    items = [{"body": {"n": n}, "broker": {"SessionId": f"x{n}"}} for n in range(3)]
    assert await send(host, "work", items) == 201
    await until(lambda: len([c for c in calls if "end" in c]) == 3)
    first_two_end = min(c["end"] for c in calls[:2])
    third = calls[2]
    assert third["start"] - first_two_end >= 0.3


async def test_a_failing_message_is_abandoned_and_delivered_again(host: EmbeddedRuntime) -> None:
    calls = app_globals(host)["calls"]
    assert (
        await send(
            host, "work", [{"body": {"n": 1, "fail_until": 2}, "broker": {"SessionId": "f"}}]
        )
        == 201
    )
    await until(lambda: len(calls) == 3)
    assert [c["delivery"] for c in calls] == [1, 2, 3]
    await until(lambda: host.queues.counts("work")["active"] == 0)


async def test_max_delivery_count_then_the_dead_letter_trigger(host: EmbeddedRuntime) -> None:
    dead = app_globals(host)["dead"]
    assert await send(host, "plain", [{"body": {"n": 1}}]) == 201
    await until(lambda: len(dead) == 1)
    assert dead[0]["reason"] == "MaxDeliveryCountExceeded"
    calls = [c for c in app_globals(host)["calls"] if "plain" in c]
    assert [c["delivery"] for c in calls] == [1, 2, 3]


async def test_rest_send_with_broker_properties_and_custom_headers(host: EmbeddedRuntime) -> None:
    calls = app_globals(host)["calls"]
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            f"{host.base_url}/plain/messages",
            data=b"hello",
            headers={
                "BrokerProperties": json.dumps({"MessageId": "m-1", "Label": "greeting"}),
                "Content-Type": "text/plain",
                "Priority": "high",
            },
        )
        assert response.status == 201
        bad = await session.post(
            f"{host.base_url}/work/messages",
            data=b"{}",
            headers={"Content-Type": "application/json"},
        )
        assert bad.status == 400
        problem = await bad.json()
        assert "requires sessions" in problem["detail"]
        unknown = await session.post(f"{host.base_url}/nope/messages", data=b"x")
        assert unknown.status == 404
        broken = await session.post(
            f"{host.base_url}/plain/messages", data=b"x", headers={"BrokerProperties": "{oops"}
        )
        assert broken.status == 400 and "BrokerProperties" in (await broken.json())["detail"]
    await until(lambda: any(c.get("plain") == "hello" for c in calls))
    first = next(c for c in calls if c.get("plain") == "hello")
    assert first["props"].get("Priority") == "high"


async def test_dead_letters_can_be_listed_read_and_deleted(host: EmbeddedRuntime) -> None:
    assert await send(host, "plain", [{"body": {"n": 2}}]) == 201
    dead = app_globals(host)["dead"]
    await until(lambda: len(dead) >= 1)
    # The dead-letter trigger took (and completed) it; put one there directly to list it.
    queues = host.queues
    from embedded_functions.servicebus.session_queue import NewMessage

    queues.send("plain", [NewMessage(body=b"kept", message_id="k-1")])
    message = queues.receive("plain")
    assert message is not None
    await host.stop_dead_letter_triggers()  # keep it in the dead-letter queue
    queues.dead_letter(message, "Operator", "kept for the test")
    status, body = await get(host, "/plain/$DeadLetterQueue/messages")
    listed = json.loads(body)
    assert status == 200 and any(m["messageId"] == "k-1" for m in listed)
    seq = next(m["sequenceNumber"] for m in listed if m["messageId"] == "k-1")
    status, body = await get(host, f"/plain/$DeadLetterQueue/messages/{seq}")
    assert status == 200 and json.loads(body)["deadLetterReason"] == "Operator"
    async with aiohttp.ClientSession() as session:
        deleted = await session.delete(f"{host.base_url}/plain/$DeadLetterQueue/messages/{seq}")
        assert deleted.status == 204


async def test_timer_runs_on_startup_and_on_schedule(host: EmbeddedRuntime) -> None:
    ticks = app_globals(host)["ticks"]
    await until(lambda: len(ticks) >= 2, timeout=5)
