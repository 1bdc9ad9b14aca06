"""`python -m embedded_functions serve --enforce-keys` (a real process): every management and queue
endpoint refuses a request without its key and takes the right one, while this app's own
calls (its SDK client on the loopback rpc path, its sender with the published queue key)
keep working. Listening beyond loopback without keys is refused."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from embedded_functions.testing import start_serve, stop_serve, wait_listening
from tests.embedded_app import app_settings

ROOT = Path(__file__).resolve().parent.parent
DURABLE = "/runtime/webhooks/durabletask"
QUEUE = "start-requests"


class Served:
    def __init__(self, base: str, keys: dict[str, str]) -> None:
        self.base = base
        self.keys = keys


def read_keys(process: subprocess.Popen[bytes]) -> dict[str, str]:
    """The keys it prints at start, up to its "Listening on" line."""
    assert process.stdout is not None
    keys: dict[str, str] = {}
    for raw in process.stdout:
        line = raw.decode()
        found = re.match(r"(Function|Master|System|Queue) key[^:]*: (\S+)", line)
        if found:
            keys[found.group(1).lower()] = found.group(2)
        if line.startswith("Listening on"):
            return keys
    raise RuntimeError("the host exited before it listened")


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    settings = app_settings(START_QUEUE_NAME=QUEUE, TASKHUB_NAME="KeysHub")
    process, port = start_serve(
        ROOT,
        settings=settings,
        args=("--enforce-keys", "--log-level", "WARNING"),
        output=subprocess.PIPE,
    )
    try:
        keys = read_keys(process)
        asyncio.run(wait_listening(port, process))
        yield Served(f"http://127.0.0.1:{port}", keys)
    finally:
        stop_serve(process)


async def call(
    base: str, method: str, path: str, key: str | None = None, **kwargs: Any
) -> tuple[int, str]:
    headers = dict(kwargs.pop("headers", {}))
    if key is not None:
        headers["x-functions-key"] = key
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, base + path, headers=headers, **kwargs) as response,
    ):
        return response.status, await response.text()


MANAGEMENT = [
    ("POST", f"{DURABLE}/orchestrators/long_job/keyed-1", {"json": '{"duration_s": 60}'}),
    ("GET", f"{DURABLE}/instances/", {}),
    ("GET", f"{DURABLE}/instances/keyed-1", {}),
    ("POST", f"{DURABLE}/instances/keyed-1/raiseEvent/go", {"json": 1}),
    ("POST", f"{DURABLE}/instances/keyed-1/suspend", {}),
    ("POST", f"{DURABLE}/instances/keyed-1/resume", {}),
    ("POST", f"{DURABLE}/instances/keyed-1/rewind", {}),
    ("POST", f"{DURABLE}/instances/keyed-1/restart", {}),
    ("POST", f"{DURABLE}/instances/keyed-1/terminate", {}),
    ("DELETE", f"{DURABLE}/instances/?createdTimeFrom=2000-01-01T00:00:00Z", {}),
    ("DELETE", f"{DURABLE}/instances/keyed-1", {}),
]
QUEUE_API = [
    (
        "POST",
        f"/{QUEUE}/messages",
        {"data": b"{}", "headers": {"BrokerProperties": '{"SessionId": "s-1"}'}},
    ),
    ("GET", f"/{QUEUE}/$DeadLetterQueue/messages", {}),
    ("GET", f"/{QUEUE}/$DeadLetterQueue/messages/1", {}),
    ("DELETE", f"/{QUEUE}/$DeadLetterQueue/messages/1", {}),
]


async def test_the_durable_management_api_takes_the_system_or_the_master_key(
    served: Served,
) -> None:
    keys = served.keys
    for method, path, kwargs in MANAGEMENT:
        for wrong in (None, keys["function"], keys["queue"], "guess"):
            status, _ = await call(served.base, method, path, wrong, **kwargs)
            assert status == 401, (method, path, wrong)
        for right in (keys["system"], keys["master"]):
            status, body = await call(served.base, method, path, right, **kwargs)
            # Past the key, the handler answers (rewind of a running instance is the
            # host's 500, see test_host_contract.py).
            assert status != 401, (method, path, status, body)
    # ?code= works as the header does (the host's management URLs carry it).
    status, _ = await call(served.base, "GET", f"{DURABLE}/instances/?code={keys['system']}")
    assert status == 200


async def test_the_queue_api_takes_its_own_key_or_the_master_key(served: Served) -> None:
    keys = served.keys
    for method, path, kwargs in QUEUE_API:
        for wrong in (None, keys["function"], keys["system"], "guess"):
            status, _ = await call(served.base, method, path, wrong, **kwargs)
            assert status == 401, (method, path, wrong)
        for right in (keys["queue"], keys["master"]):
            status, body = await call(served.base, method, path, right, **kwargs)
            assert status in (200, 201, 204, 404), (method, path, status, body)


async def test_the_apps_own_calls_work_with_keys(served: Served) -> None:
    # The start endpoint (function key) sends through the app's REST sender (the published
    # queue key); the session trigger's handler starts the instance with the SDK's client
    # on the loopback rpc path, which takes no key, as the host's own listener.
    status, _ = await call(
        served.base,
        "POST",
        "/api/orchestrators/long_job/keyed-app",
        served.keys["function"],
        json={"duration_s": 60},
    )
    assert status == 202
    for _ in range(400):
        status, body = await call(
            served.base, "GET", f"{DURABLE}/instances/keyed-app", served.keys["system"]
        )
        if status in (200, 202) and '"Running"' in body:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"keyed-app never ran: {status} {body}")
    status, _ = await call(served.base, "GET", "/durabletask/instances/keyed-app")
    assert status == 202  # loopback: no key


async def test_listening_beyond_loopback_without_keys_is_refused() -> None:
    process, _ = start_serve(
        ROOT, settings=app_settings(), args=("--host", "0.0.0.0"), output=subprocess.PIPE
    )
    output, _ = await asyncio.to_thread(process.communicate, timeout=60)
    assert process.returncode == 2
    text = output.decode()
    assert "--host 0.0.0.0" in text and "--enforce-keys" in text
    assert "Traceback" not in text


class _Transport:
    """A connection's addresses: a remote machine cannot call in here, so it is faked."""

    def __init__(self, peer: tuple[str, int], own: tuple[str, int]) -> None:
        self._extra = {"peername": peer, "sockname": own}

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)


async def test_the_sdks_rpc_path_answers_this_machine_only() -> None:
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from embedded_functions.keys import HostKeys

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(status=200)

    guarded = HostKeys(enforce=True).loopback_only(answer)
    cases = {
        (("127.0.0.1", 50000), ("127.0.0.1", 7071)): 200,
        (("192.0.2.2", 50000), ("192.0.2.2", 7071)): 200,  # this machine, its own address
        (("203.0.113.9", 50000), ("192.0.2.2", 7071)): 404,  # another machine
    }
    for (peer, own), expected in cases.items():
        request = make_mocked_request(
            "GET", "/durabletask/instances/", transport=_Transport(peer, own)
        )
        assert (await guarded(request)).status == expected, peer
