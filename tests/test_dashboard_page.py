"""The dashboard as `make run` serves it (a real `python -m embedded_functions serve`
process): its URL on a start-up line that names it, the page with headers that keep it to
itself, and its script and style sheet from their own routes."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from embedded_functions.testing import start_serve, stop_serve, wait_listening
from tests.embedded_app import app_settings

ROOT = Path(__file__).resolve().parent.parent


class Served:
    def __init__(self, base: str, lines: list[str]) -> None:
        self.base = base
        self.lines = lines


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    settings = app_settings(START_QUEUE_NAME="start-requests", TASKHUB_NAME="PageHub")
    process, port = start_serve(ROOT, settings=settings, output=subprocess.PIPE)
    try:
        assert process.stdout is not None
        lines: list[str] = []
        for raw in process.stdout:
            lines.append(raw.decode().rstrip("\n"))
            if lines[-1].startswith("Listening on"):
                break
        asyncio.run(wait_listening(port, process))
        yield Served(f"http://127.0.0.1:{port}", lines)
    finally:
        stop_serve(process)


async def get(url: str) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, dict(response.headers), await response.text()


def test_the_start_up_output_names_the_dashboard_and_its_url(served: Served) -> None:
    url = f"{served.base}/api/dashboard"
    named = [line for line in served.lines if "dashboard" in line and line.endswith(url)]
    assert named == [f"  starter_dashboard: [GET] {url}"], served.lines


async def test_the_page_carries_no_data_and_no_inline_script(served: Served) -> None:
    status, headers, html = await get(f"{served.base}/api/dashboard")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    policy = dict(
        part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";")
    )
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["default-src"] == "'none'"
    assert "unsafe" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    # Assets by absolute path; no inline script or style for the policy to allow.
    assert re.findall(r'<script src="([^"]+)"', html) == ["/api/dashboard/app.js"]
    assert re.search(r"<script>|<style|\sstyle=|\son[a-z]+=", html) is None
    assert '<label for="key">' in html and '<th scope="col">' in html


async def test_a_trailing_slash_links_the_same_assets(served: Served) -> None:
    status, _, html = await get(f"{served.base}/api/dashboard/")
    assert status == 200
    assert re.findall(r'<script src="([^"]+)"', html) == ["/api/dashboard/app.js"]


@pytest.mark.parametrize(
    ("name", "media_type"), [("app.js", "text/javascript"), ("app.css", "text/css")]
)
async def test_the_assets_have_their_media_types(
    served: Served, name: str, media_type: str
) -> None:
    status, headers, text = await get(f"{served.base}/api/dashboard/{name}")
    assert status == 200 and headers["Content-Type"].startswith(media_type)
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert len(text) > 1000


async def test_an_unknown_asset_is_a_problem(served: Served) -> None:
    status, headers, text = await get(f"{served.base}/api/dashboard/secrets.txt")
    assert status == 404 and headers["Content-Type"].startswith("application/problem+json")
    assert "secrets.txt" in text and "app.js" in text
