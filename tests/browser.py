"""Debian's chromium driven by Playwright, for the dashboard's browser test and screenshot.
Never a downloaded browser: the one at /usr/bin/chromium (`.ci/run` installs it)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    """Skip without the browser; under CI=true a missing browser is a failure, so that
    the test cannot silently stop running there."""
    if CHROMIUM.exists():
        return
    why = f"no browser at {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}; CI=true: the browser test must run")
    pytest.skip(why)


async def open_browser(
    playwright: Playwright, profile: Path, width: int = 1280, height: int = 900
) -> BrowserContext:
    """A browser on a fresh user-data directory."""
    return await playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        args=CHROMIUM_ARGS,
        headless=True,
        viewport={"width": width, "height": height},
    )
