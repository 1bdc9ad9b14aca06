"""The dashboard in a real headless browser (Debian's chromium, driven by Playwright) against
the app on the embedded runtime: it shows a request sent in the test, its Cancel button
cancels a queued request and its Resubmit button resubmits a dead letter. Every wait is on
the page's DOM (Playwright's `expect` polls it), none is a sleep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from embedded_functions.testing import EmbeddedRuntime
from tests import browser
from tests.app_calls import app_in_process, dead_letter, start, until_outcome
from tests.browser import open_browser, require_chromium

BUSY = "the server responded with a status of 409"
EXPECT_S = 10_000  # ms: a refresh comes every 2 s
# The page asks again for up to 10 s while the handler holds the queued request (a moment
# each second, longer on a loaded machine).
CANCEL_S = 15_000


@pytest.fixture
async def app() -> AsyncIterator[EmbeddedRuntime]:
    require_chromium()
    async with app_in_process("DashboardHub") as runtime:
        yield runtime


async def test_the_page_shows_requests_cancels_and_resubmits(
    app: EmbeddedRuntime, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    base = app.base_url
    status, _ = await start(base, "dash-run", 600, request_id="dash-run-req", query="?wait=10")
    assert status == 201
    status, _ = await start(
        base, "dash-run", 60, request_id="dash-queued", query="?onRunning=queue"
    )
    assert status == 202
    await until_outcome(base, "dash-queued", "queued")

    async with async_playwright() as playwright:
        browser = await open_browser(playwright, tmp_path / "profile")
        page = await browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        await page.goto(f"{base}/api/dashboard")

        # The request sent above, under its instance with the Durable status.
        running = page.locator('#instances tbody tr[data-key="dash-run"]')
        await expect(running).to_contain_text("Running", timeout=EXPECT_S)
        await expect(running.locator('li[data-request-id="dash-run-req"]')).to_contain_text(
            "started"
        )
        await expect(page.locator("#updated")).not_to_have_text("never")

        # The key goes in a header, never in the URL.
        await page.get_by_label("Function key").fill("the-key")
        async with page.expect_request(lambda r: "/api/requests" in r.url) as sent:
            await page.get_by_role("button", name="Use key").click()
        request = await sent.value
        assert (await request.all_headers())["x-functions-key"] == "the-key"
        assert "the-key" not in request.url

        # Cancel the request queued behind the running instance.
        queued = page.locator('#backlog tbody tr[data-key="dash-queued"]')
        await expect(queued).to_contain_text("queued")
        await queued.get_by_role("button", name="Cancel request dash-queued").click()
        await expect(page.locator("#notice")).to_have_text(
            "Request dash-queued is now canceled.", timeout=CANCEL_S
        )
        await expect(queued).to_have_count(0)
        await expect(running.locator('li[data-request-id="dash-queued"]')).to_contain_text(
            "canceled", timeout=EXPECT_S
        )

        # Resubmit a dead letter: it is decided again, and starts. (Made only now: it skips
        # the runtime's clock, after which the handler holds queued requests longer.)
        await dead_letter(app, "dash-dead", "dash-dead-req")
        dead = page.locator('#problems tbody tr[data-key="dash-dead-req"]')
        await expect(dead).to_contain_text("dead-lettered", timeout=EXPECT_S)
        await dead.get_by_role("button", name="Resubmit request dash-dead-req").click()
        await expect(page.locator("#notice")).to_have_text(
            "Request dash-dead-req was sent again.", timeout=EXPECT_S
        )
        await expect(dead).to_have_count(0, timeout=EXPECT_S)
        resubmitted = page.locator('#instances tbody tr[data-key="dash-dead"]')
        await expect(resubmitted.locator('li[data-request-id="dash-dead-req"]')).to_contain_text(
            "started", timeout=EXPECT_S
        )
        await browser.close()
    # No script error, nothing the Content-Security-Policy blocked. A 409 is the handler
    # holding the queued request for a moment: the page asks again, as it should.
    assert [p for p in problems if BUSY not in p] == []


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_a_missing_browser_skips_but_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="no browser at"):
        browser.require_chromium()
