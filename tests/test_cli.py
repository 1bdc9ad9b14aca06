"""`python -m starters` through its real entry point, in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "starters", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_schema_prints_the_published_schema() -> None:
    result = run("schema")
    assert result.returncode == 0, result.stderr
    published = json.loads((ROOT / "schemas" / "start-request.schema.json").read_text())
    assert json.loads(result.stdout) == published


def test_validate_accepts_a_good_request() -> None:
    body = {
        "schemaVersion": 1,
        "orchestrator": "long_job",
        "instanceId": "job-1",
        "requestId": "r1",
        "input": {"duration_s": 3},
    }
    result = run("validate", "-", stdin=json.dumps(body))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["request"]["orchestrator"] == "long_job"


def test_validate_names_each_violation_and_exits_2() -> None:
    body = {"schemaVersion": 1, "orchestrator": "nope", "instanceId": "a/b", "requestId": "r1"}
    result = run("validate", "-", stdin=json.dumps(body))
    assert result.returncode == 2
    assert "not a registered orchestrator" in result.stderr
    assert "not a valid instance ID" in result.stderr


def test_help_documents_exit_status() -> None:
    result = run("--help")
    assert result.returncode == 0 and "exit status:" in result.stdout
    for code in ("0    everything", "2    invalid input", "3    rejected", "4    transport"):
        assert code in result.stdout
