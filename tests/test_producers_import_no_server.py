"""A producer imports no server: the client modules load neither the Functions worker's
SDK nor the Durable SDK nor Table storage, checked in a fresh interpreter each (a module
imported by an earlier test would hide an import here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVER_MODULES = ["azure.functions", "azure.durable_functions", "azure.data.tables"]
CHECK = (
    "import importlib, json, sys; importlib.import_module(sys.argv[1]); "
    f"print(json.dumps(sorted(set({SERVER_MODULES!r}) & set(sys.modules))))"
)


@pytest.mark.parametrize(
    "module",
    [
        "starters",
        "starters.client.producer",
        "starters.client.cli",
        "starters.client.app_client",
        "starters.client.dead_letters",
    ],
)
def test_the_producer_side_loads_no_server(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK, module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == []


def test_the_check_sees_a_server_import() -> None:
    """The same check on the Functions adapter reports what it loads (so it can fail)."""
    done = subprocess.run(
        [sys.executable, "-c", CHECK, "starters.functions.blueprint"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "azure.functions" in json.loads(done.stdout)


def test_the_command_line_validates_with_the_published_schema_without_a_registry(
    tmp_path: Path,
) -> None:
    """Run where the app's `orchestrators` package is not importable, as in another repo."""
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps(
            {
                "schemaVersion": 1,
                "orchestrator": "long_job",
                "instanceId": "report-1",
                "requestId": "r-1",
                "input": {"duration_s": 1},
            }
        )
    )
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schemaVersion": 1, "orchestrator": "nope", "instanceId": "x"}))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "starters", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    accepted = cli("validate", str(good))
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["valid"] is True
    refused = cli("validate", str(bad))
    assert refused.returncode == 2
    assert "orchestrator" in refused.stderr and "requestId" in refused.stderr
    assert "Traceback" not in refused.stderr
    missing = cli("--registry", "no_such_module:registry", "validate", str(good))
    assert missing.returncode == 1 and "no_such_module" in missing.stderr
    assert "Traceback" not in missing.stderr
