"""Cross-site protection of the state-changing routes, with crafted browser headers through
the real host (in-process embedded runtime): another site's page is refused with a 403
problem, the app's own page and clients that are not browsers (no Origin, no
Sec-Fetch-Site: the command line, Event Grid) go through."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from embedded_functions.testing import EmbeddedRuntime
from starters.http.core import Request
from starters.http.cross_site import cross_site_refusal
from tests.app_calls import BEING_DECIDED, app_in_process, call, dead_letter, until_outcome

CROSS_SITE = "urn:singleton-starters:problem:cross-site-request"
EVIL = "https://evil.example"


@pytest.fixture
async def app() -> AsyncIterator[EmbeddedRuntime]:
    async with app_in_process("CrossSiteHub") as runtime:
        yield runtime


def start_url(app: EmbeddedRuntime, instance_id: str) -> str:
    return f"{app.base_url}/api/orchestrators/long_job/{instance_id}"


def own_origin(app: EmbeddedRuntime) -> str:
    return app.base_url  # http://127.0.0.1:{port}, the Host the client sends


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": EVIL},
        {"Origin": EVIL, "Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"},  # a sandboxed frame or a file: page
        {"Origin": "http://127.0.0.1:1"},  # same host, another port: another origin
    ],
)
async def test_a_start_from_another_site_is_refused_and_not_recorded(
    app: EmbeddedRuntime, headers: dict[str, str]
) -> None:
    status, content_type, problem = await call(
        "POST",
        start_url(app, "cross-1"),
        {**headers, "Idempotency-Key": "cross-req"},
        {"duration_s": 60},
    )
    assert status == 403, problem
    assert content_type.startswith("application/problem+json")
    assert problem["type"] == CROSS_SITE and problem["status"] == 403
    assert "Sec-Fetch-Site" in problem["detail"] or "Origin" in problem["detail"]
    status, _, _ = await call("GET", f"{app.base_url}/api/requests/cross-req")
    assert status == 404  # refused before anything was recorded or sent


async def test_the_apps_own_page_and_plain_clients_may_start(app: EmbeddedRuntime) -> None:
    same = {"Origin": own_origin(app), "Sec-Fetch-Site": "same-origin"}
    status, _, body = await call("POST", start_url(app, "own-1"), same, {"duration_s": 60})
    assert status == 202, body
    # No Origin and no Sec-Fetch-Site: the command line, curl, a producer's client.
    status, _, body = await call("POST", start_url(app, "plain-1"), None, {"duration_s": 60})
    assert status == 202, body
    # A navigation typed into the address bar says `none`: not another site.
    status, _, body = await call(
        "POST", start_url(app, "typed-1"), {"Sec-Fetch-Site": "none"}, {"duration_s": 60}
    )
    assert status == 202, body
    # Behind a front end that rewrites Host, the browser's same-origin still holds.
    proxied = {"Origin": "https://jobs.example.com", "Sec-Fetch-Site": "same-origin"}
    status, _, body = await call("POST", start_url(app, "proxied-1"), proxied, {"duration_s": 60})
    assert status == 202, body


async def test_cancel_from_another_site_is_refused_and_from_the_page_works(
    app: EmbeddedRuntime,
) -> None:
    # A request queued behind a running instance, the dashboard's case for cancel.
    status, _, _ = await call(
        "POST", start_url(app, "busy-1") + "?wait=10", None, {"duration_s": 60}
    )
    assert status == 201
    status, _, queued = await call(
        "POST",
        start_url(app, "busy-1") + "?onRunning=queue",
        {"Idempotency-Key": "queued-1"},
        {"duration_s": 60},
    )
    assert status == 202, queued
    url = f"{app.base_url}/api/requests/queued-1"
    await until_outcome(app.base_url, "queued-1", "queued")
    status, _, problem = await call("DELETE", url, {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
    assert status == 403 and problem["type"] == CROSS_SITE
    status, _, record = await call("GET", url, {"Origin": EVIL})  # reads are not refused
    assert status == 202 and record["outcome"] == "queued"
    page = {"Origin": own_origin(app), "Sec-Fetch-Site": "same-origin"}
    for _ in range(100):  # the handler re-checks the queued request each second: 409 then
        status, _, record = await call("DELETE", url, page)
        if record.get("type") != BEING_DECIDED:
            break
        await asyncio.sleep(0.1)
    assert status == 200 and record["outcome"] == "canceled", record


async def test_resubmit_from_another_site_is_refused_and_from_the_page_works(
    app: EmbeddedRuntime,
) -> None:
    await dead_letter(app, "dead-x", "dead-x-req")
    url = f"{app.base_url}/api/requests/dead-x-req/resubmit"
    status, _, problem = await call("POST", url, {"Origin": EVIL})
    assert status == 403 and problem["type"] == CROSS_SITE
    status, _, record = await call("GET", f"{app.base_url}/api/requests/dead-x-req")
    assert status == 200 and record["outcome"] == "dead-lettered"  # untouched
    page = {"Origin": own_origin(app), "Sec-Fetch-Site": "same-origin"}
    status, _, record = await call("POST", url, page)
    assert status == 202 and record["outcome"] == "pending", record


async def test_event_deliveries_keep_working_and_a_browser_post_is_refused(
    app: EmbeddedRuntime,
) -> None:
    url = f"{app.base_url}/api/events"
    event = {
        "specversion": "1.0",
        "id": "x-site-1",
        "source": "/contoso/reports",
        "type": "Contoso.Reports.ReportRequested",
        "data": {"reportId": "77", "duration_s": 60},
    }
    cloudevents = {"Content-Type": "application/cloudevents+json"}
    # Event Grid's handshake and delivery: no Origin, no Sec-Fetch-Site.
    async with (
        aiohttp.ClientSession() as session,
        session.options(url, headers={"WebHook-Request-Origin": "eventgrid.azure.net"}) as r,
    ):
        assert r.status == 200
    status, _, body = await call("POST", url, cloudevents, event)
    assert status == 202 and body["accepted"][0]["instanceId"] == "report-77", body
    status, _, problem = await call("POST", url, {**cloudevents, "Origin": EVIL}, event)
    assert status == 403 and problem["type"] == CROSS_SITE


@pytest.mark.parametrize(
    ("origin", "host", "refused"),
    [
        ("https://app.azurewebsites.net", "app.azurewebsites.net", False),
        ("https://APP.azurewebsites.net:443", "app.azurewebsites.net", False),
        ("http://localhost:7071", "localhost:7071", False),
        ("http://[::1]:7071", "[::1]:7071", False),
        ("https://app.azurewebsites.net", "other.azurewebsites.net", True),
        ("http://app.azurewebsites.net", "app.azurewebsites.net:8080", True),
        ("https://app.azurewebsites.net:99999", "app.azurewebsites.net", True),
        ("app.azurewebsites.net", "app.azurewebsites.net", True),
        ("chrome-extension://abc", "app.azurewebsites.net", True),
    ],
)
def test_origin_against_host(origin: str, host: str, refused: bool) -> None:
    # Behind TLS termination the URL the worker sees may say http: the Host header decides.
    req = Request(
        "POST",
        f"http://{host}/api/requests/r-1/resubmit",
        headers={"Origin": origin, "Host": host},
    )
    answer = cross_site_refusal(req)
    assert (answer is not None) is refused
    if answer is not None:
        assert answer.status_code == 403 and json.loads(answer.body)["type"] == CROSS_SITE
