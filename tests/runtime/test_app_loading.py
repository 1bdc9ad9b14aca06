"""Finding the app as the Python worker does, and local.settings.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from embedded_functions.app_loader import AppLoadError, load_app
from embedded_functions.local_settings import (
    SettingsFileError,
    apply_local_settings,
    read_local_settings,
)
from tests.runtime.conftest import APPS, SAMPLES


def test_an_app_not_named_app_with_a_registered_blueprint() -> None:
    _, app, index = load_app(SAMPLES)
    assert type(app).__name__ == "FunctionApp"
    assert index.orchestrator("Sequence") is not None  # case-insensitive, like the host
    assert index.activity("hello") is not None
    assert index.orchestrator("hello") is None


def test_a_dfapp() -> None:
    _, app, index = load_app(APPS / "kill_resume")
    assert type(app).__name__ == "DFApp"
    assert index.orchestrator("steps") is not None


def test_no_app_and_two_apps_are_errors(tmp_path: Path) -> None:
    with pytest.raises(AppLoadError, match="defines no function app"):
        load_app(APPS / "no_app")
    with pytest.raises(AppLoadError, match="more than one function app"):
        load_app(APPS / "two_apps")
    with pytest.raises(AppLoadError, match=r"no function_app\.py"):
        load_app(tmp_path)


def test_local_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert read_local_settings(tmp_path) == {}  # no file: no error
    (tmp_path / "local.settings.json").write_text(
        json.dumps({"Values": {"EMU_TEST_A": "1", "EMU_TEST_B": "file"}})
    )
    monkeypatch.setenv("EMU_TEST_B", "environment")
    monkeypatch.delenv("EMU_TEST_A", raising=False)
    apply_local_settings(read_local_settings(tmp_path))
    assert os.environ["EMU_TEST_A"] == "1"
    assert os.environ["EMU_TEST_B"] == "environment"  # the environment wins
    (tmp_path / "local.settings.json").write_text("{broken")
    with pytest.raises(SettingsFileError, match="not valid JSON"):
        read_local_settings(tmp_path)
