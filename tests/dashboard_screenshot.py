"""`make screenshot`: docs/dashboard.png, the dashboard with a few instance IDs in different
states (running with a queued backlog, completed, rejected, dead-lettered, invalid), taken
with Playwright and Debian's chromium on the app in this process."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright, expect

from embedded_functions.servicebus.session_queue import NewMessage
from embedded_functions.testing import EmbeddedRuntime
from tests.app_calls import START_QUEUE, app_in_process, dead_letter, start, until_outcome
from tests.browser import CHROMIUM, open_browser

EXPECT_MS = 15_000


async def invalid(runtime: EmbeddedRuntime, instance_id: str, request_id: str) -> None:
    """A message that breaks the contract (a negative duration), sent past the HTTP API's
    validation straight onto the queue, as a producer's own sender might."""
    body = {
        "schemaVersion": 1,
        "orchestrator": "long_job",
        "instanceId": instance_id,
        "requestId": request_id,
        "input": {"duration_s": -5},
    }
    message = NewMessage(
        body=json.dumps(body).encode(), message_id=request_id, session_id=instance_id
    )
    runtime.queues.send(START_QUEUE, [message])
    await until_outcome(runtime.base_url, request_id, "invalid")


async def scene(runtime: EmbeddedRuntime) -> None:
    base = runtime.base_url
    await dead_letter(runtime, "invoice-run", "invoice-run-0412")
    await invalid(runtime, "import-batch", "import-batch-17")
    await start(base, "weekly-digest", 0, request_id="weekly-digest-48", query="?wait=10")
    await runtime.wait_for("weekly-digest")
    await start(base, "nightly-report", 3600, request_id="nightly-0301", query="?wait=10")
    await start(base, "nightly-report", 3600, request_id="nightly-0302", query="?wait=10")
    for n in (3, 4):
        request_id = f"nightly-030{n}"
        await start(base, "nightly-report", 60, request_id=request_id, query="?onRunning=queue")
        await until_outcome(base, request_id, "queued")


async def capture(output: Path) -> None:
    async with app_in_process("ScreenshotHub") as runtime, async_playwright() as playwright:
        await scene(runtime)
        with tempfile.TemporaryDirectory() as profile:
            browser = await open_browser(playwright, Path(profile), width=1280, height=800)
            page = await browser.new_page()
            await page.goto(f"{runtime.base_url}/api/dashboard")
            await expect(page.locator("#backlog tbody tr")).to_have_count(2, timeout=EXPECT_MS)
            await expect(page.locator("#problems tbody tr")).to_have_count(2)
            await expect(page.locator("#instances tbody tr")).to_have_count(4)
            await page.screenshot(path=str(output), full_page=True)
            await browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("docs/dashboard.png"))
    options = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"error: no browser at {CHROMIUM} (apt-get install -y chromium)", file=sys.stderr)
        return 1
    asyncio.run(capture(options.output))
    print(f"wrote {options.output} ({options.output.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
