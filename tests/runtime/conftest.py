from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from embedded_functions.testing import EmbeddedRuntime

APPS = Path(__file__).resolve().parent.parent / "apps"
SAMPLES = APPS / "samples_v2"


@pytest.fixture
async def skipping() -> AsyncIterator[EmbeddedRuntime]:
    """The sample app, in memory, with time skipping."""
    async with EmbeddedRuntime(SAMPLES, time_skipping=True) as runtime:
        yield runtime


@pytest.fixture
async def realtime() -> AsyncIterator[EmbeddedRuntime]:
    """The sample app, in memory, on the wall clock."""
    async with EmbeddedRuntime(SAMPLES) as runtime:
        yield runtime
