"""The runtime serves any app: it publishes where it listens and keeps its data, and puts
nothing of this project's settings into the app it serves."""

from __future__ import annotations

import os
from pathlib import Path

from embedded_functions.runtime_signal import SIGNAL_FILE, read_signal
from embedded_functions.testing import EmbeddedRuntime
from tests.runtime.conftest import APPS


async def test_it_publishes_its_url_and_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "state"
    runtime = EmbeddedRuntime(APPS / "queue_app", data_dir=data, settings={"WORK_QUEUE": "w"})
    async with runtime:
        assert os.environ["EMBEDDED_RUNTIME_URL"] == runtime.base_url
        assert os.environ["EMBEDDED_RUNTIME_DATA_DIR"] == str(data)
        published = read_signal(data)
        assert published is not None
        assert published["url"] == runtime.base_url
        assert published["dataDir"] == str(data)
        assert published["pid"] == os.getpid()
        assert published["queues"]["w"] == f"{runtime.base_url}/w/messages"
        assert published["keysRequired"] is False
    # A clean stop withdraws both: nobody is told to call a runtime that is gone.
    assert not (data / SIGNAL_FILE).exists()
    assert "EMBEDDED_RUNTIME_URL" not in os.environ


async def test_it_sets_none_of_the_apps_own_settings() -> None:
    before = dict(os.environ)
    async with EmbeddedRuntime(APPS / "queue_app", settings={"WORK_QUEUE": "w"}):
        added = set(os.environ) - set(before)
    assert added <= {"EMBEDDED_RUNTIME_URL", "WORK_QUEUE"}, added
