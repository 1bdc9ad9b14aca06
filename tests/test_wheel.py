"""The root distribution as a producer installs it: the wheel is built from a copy of the
sources, installed with its dependencies from the package index into a clean virtual
environment, and the producer client and the command line run from there, away from the
repository (so nothing is imported from the working tree)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVER_MODULES = ["azure.functions", "azure.durable_functions", "azure.data.tables"]

PRODUCER = f"""
import asyncio, json, sys
from starters.client.producer import StartRequestSender, StartSpec

class Kept:
    def __init__(self): self.sent = []
    async def send(self, messages): self.sent.extend(messages)
    async def close(self): pass

async def main():
    queue = Kept()
    sender = StartRequestSender(None, queue)  # no registry: the packaged schema
    result = await sender.send("long_job", "report-1", {{"duration_s": 1}}, request_id="r-1")
    try:
        sender.build(StartSpec("no_such_job", "report-1"))
        refused = None
    except ValueError as error:
        refused = str(error)
    print(json.dumps({{
        "accepted": result.accepted,
        "sessions": [m.session_id for m in queue.sent],
        "refused": refused,
        "servers": sorted(set({SERVER_MODULES!r}) & set(sys.modules)),
    }}))

asyncio.run(main())
"""


def _run(command: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean virtual environment with the root wheel (and its dependencies) installed."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "starters", source / "starters", ignore=shutil.ignore_patterns("__pycache__")
    )
    built = _run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", "dist"],
        work,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (work / "dist").glob("singleton_starters-*.whl")
    environment = work / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    done = _run([str(python), "-m", "pip", "install", "-q", str(wheel)], work, timeout=600)
    assert done.returncode == 0, done.stderr
    return environment


def test_the_wheel_holds_every_subpackage_and_the_schemas(installed: Path) -> None:
    python = installed / "bin" / "python"
    listed = _run(
        [
            str(python),
            "-c",
            "import json, importlib.resources as r, starters; "
            "print(json.dumps(sorted(p.name for p in r.files(starters).iterdir())))",
        ],
        installed.parent,
    )
    names = set(json.loads(listed.stdout))
    assert {"client", "functions", "handling", "http", "events", "stores", "senders"} <= names
    assert "schemas" in names


def test_the_command_line_runs_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    script = installed / "bin" / "singleton-starters"
    helped = _run([str(script), "--help"], tmp_path)
    assert helped.returncode == 0 and "enqueue" in helped.stdout
    schema = _run([str(script), "schema"], tmp_path)
    assert schema.returncode == 0, schema.stderr
    published = json.loads((ROOT / "schemas" / "start-request.schema.json").read_text())
    assert json.loads(schema.stdout) == published
    body = tmp_path / "request.json"
    body.write_text(
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
    valid = _run([str(script), "validate", str(body)], tmp_path)
    assert valid.returncode == 0, valid.stderr
    body.write_text(json.dumps({"schemaVersion": 1, "orchestrator": "long_job"}))
    invalid = _run([str(script), "validate", str(body)], tmp_path)
    assert invalid.returncode == 2 and "instanceId" in invalid.stderr
    assert "Traceback" not in invalid.stderr


def test_the_producer_client_runs_from_the_wheel_without_a_server(
    installed: Path, tmp_path: Path
) -> None:
    done = _run([str(installed / "bin" / "python"), "-c", PRODUCER], tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["accepted"] is True and report["sessions"] == ["report-1"]
    assert report["refused"] and "orchestrator" in report["refused"]
    assert report["servers"] == []
