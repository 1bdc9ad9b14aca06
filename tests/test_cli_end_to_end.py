"""The command line through its real entry point (subprocesses) against the local host."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from embedded_functions.testing import EmbeddedRuntime
from starters.contract import StartRequest
from tests.embedded_app import app_settings, expire_into_dead_letters, settled

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = app_settings(
    START_QUEUE_NAME="start-requests",
    TASKHUB_NAME="CliHub",
    EVENT_INBOX_QUEUE="event-inbox",
)


@pytest.fixture
async def app() -> AsyncIterator[EmbeddedRuntime]:
    async with EmbeddedRuntime(ROOT, settings=SETTINGS) as runtime:
        yield runtime


async def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "START_QUEUE_NAME": "start-requests"}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "starters", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return await asyncio.to_thread(run)


async def test_enqueue_wait_and_the_singleton_answer(app: EmbeddedRuntime, tmp_path: Path) -> None:
    url = app.base_url
    first = await cli(
        "--emulator",
        url,
        "enqueue",
        "long_job",
        "cli-1",
        "--input",
        '{"duration_s": 60}',
        "--wait",
        "10",
        "--json",
        cwd=tmp_path,
    )
    assert first.returncode == 0, first.stderr
    answer = json.loads(first.stdout)
    assert answer["accepted"] and answer["outcome"]["outcome"] == "started"
    second = await cli(
        "--emulator",
        url,
        "enqueue",
        "long_job",
        "cli-1",
        "--input",
        '{"duration_s": 60}',
        "--wait",
        "10",
        cwd=tmp_path,
    )
    assert second.returncode == 3
    assert "rejected" in second.stdout
    status = await cli("--emulator", url, "status", "cli-1", "--json", cwd=tmp_path)
    assert status.returncode == 0 and json.loads(status.stdout)["runtimeStatus"] == "Running"
    outcome = await cli("--emulator", url, "outcome", answer["requestId"], "--json", cwd=tmp_path)
    assert outcome.returncode == 0 and json.loads(outcome.stdout)["outcome"] == "started"
    cancel = await cli("--emulator", url, "cancel", answer["requestId"], cwd=tmp_path)
    assert cancel.returncode == 3 and "already decided" in cancel.stderr


async def test_a_request_id_dedupes_and_input_files_work(
    app: EmbeddedRuntime, tmp_path: Path
) -> None:
    (tmp_path / "input.json").write_text('{"duration_s": 60}')
    args = (
        "--emulator",
        app.base_url,
        "enqueue",
        "long_job",
        "cli-2",
        "--input",
        "@input.json",
        "--request-id",
        "nightly-2026-01-01",
    )
    one = await cli(*args, cwd=tmp_path)
    two = await cli(*args, cwd=tmp_path)
    assert one.returncode == two.returncode == 0
    assert one.stdout.strip() == two.stdout.strip() == "nightly-2026-01-01"
    await settled(app)  # both sends handled (the second was one copy: deduplicated)
    status = app.runtime.get_status("cli-2", show_history=True)
    assert sum(e["EventType"] == "ExecutionStarted" for e in status["historyEvents"]) == 1


async def test_invalid_input_exits_2_and_names_the_rule(
    app: EmbeddedRuntime, tmp_path: Path
) -> None:
    bad_id = await cli(
        "--emulator",
        app.base_url,
        "enqueue",
        "long_job",
        "a/b",
        "--input",
        '{"duration_s": 1}',
        cwd=tmp_path,
    )
    assert bad_id.returncode == 2 and "not a valid instance ID" in bad_id.stderr
    bad_json = await cli(
        "--emulator", app.base_url, "enqueue", "long_job", "ok", "--input", "{nope", cwd=tmp_path
    )
    assert bad_json.returncode == 2 and "not valid JSON" in bad_json.stderr


async def test_enqueue_from_jsonl(app: EmbeddedRuntime, tmp_path: Path) -> None:
    lines = [
        {"orchestrator": "long_job", "instanceId": "file-1", "input": {"duration_s": 60}},
        {
            "orchestrator": "long_job",
            "instanceId": "file-2",
            "input": {"duration_s": 60},
            "requestId": "file-2-once",
        },
        {"orchestrator": "nope", "instanceId": "file-3"},
        "not json",
        {
            "orchestrator": "long_job",
            "instanceId": "file-4",
            "input": {"duration_s": 60},
            "extra": 1,
        },
        {"orchestrator": "long_job", "instanceId": "file-1", "input": {"duration_s": 60}},
    ]
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    (tmp_path / "requests.jsonl").write_text(text + "\n")
    result = await cli(
        "--emulator",
        app.base_url,
        "enqueue",
        "--from",
        "requests.jsonl",
        "--wait",
        "10",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr  # some lines were invalid
    summary = json.loads(result.stdout)
    assert summary["counts"] == {"sent": 3, "invalid": 3, "failed": 0}
    assert summary["outcomes"] == {"started": 2, "rejected": 1}
    for number in (3, 4, 5):
        assert f"line {number}:" in result.stderr
    human = await cli(
        "--emulator", app.base_url, "enqueue", "--from", "requests.jsonl", cwd=tmp_path
    )
    assert "enqueue summary" in human.stdout


async def test_transport_failure_exits_4(tmp_path: Path) -> None:
    result = await cli(
        "--emulator",
        "http://127.0.0.1:9",
        "enqueue",
        "long_job",
        "x-1",
        "--input",
        '{"duration_s": 1}',
        cwd=tmp_path,
    )
    assert result.returncode == 4 and "not sent" in result.stderr


async def test_dead_letters_list_and_resubmit(app: EmbeddedRuntime, tmp_path: Path) -> None:
    await app.stop_dead_letter_triggers()  # keep the dead letter in the sub-queue for this test
    queues = app.queues
    request = StartRequest("long_job", "dead-1", "dead-req", {"duration_s": 60})
    expire_into_dead_letters(app, request.to_bytes(), "dead-req", "dead-1")
    listed: Any = None
    for _ in range(100):
        result = await cli(
            "--emulator",
            app.base_url,
            "dead-letters",
            "list",
            "--from-queue",
            "--json",
            cwd=tmp_path,
        )
        listed = json.loads(result.stdout)
        if listed:
            break
        await asyncio.sleep(0.1)
    assert listed[0]["messageId"] == "dead-req" and listed[0]["reason"] == "TTLExpiredException"
    resubmitted = await cli(
        "--emulator",
        app.base_url,
        "dead-letters",
        "resubmit",
        "dead-req",
        "--from-queue",
        cwd=tmp_path,
    )
    assert resubmitted.returncode == 0, resubmitted.stderr
    outcome = await cli(
        "--emulator", app.base_url, "outcome", "dead-req", "--wait", "10", "--json", cwd=tmp_path
    )
    assert json.loads(outcome.stdout)["outcome"] == "started"
    assert queues.dead_letters("start-requests") == []
    missing = await cli(
        "--emulator",
        app.base_url,
        "dead-letters",
        "resubmit",
        "nope",
        "--from-queue",
        cwd=tmp_path,
    )
    assert missing.returncode == 1 and "no dead-lettered message" in missing.stderr


@pytest.fixture
async def published(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedRuntime, Path]]:
    """A runtime with a data directory (`.emulator/` of an app folder), as `make run` starts
    it: it publishes `.emulator/runtime.json`; the folder holds make run's local.settings.json."""
    folder = tmp_path / "app"
    folder.mkdir()
    template = json.loads((ROOT / "local.settings.json.template").read_text())
    template["Values"]["START_QUEUE_NAME"] = "start-requests"
    (folder / "local.settings.json").write_text(json.dumps(template))
    async with EmbeddedRuntime(ROOT, settings=SETTINGS, data_dir=folder / ".emulator") as runtime:
        yield runtime, folder


async def test_make_runs_settings_find_the_runtime_without_emulator(
    published: tuple[EmbeddedRuntime, Path],
) -> None:
    _, folder = published
    assert (folder / ".emulator" / "runtime.json").is_file()
    nested = folder / "some" / "where"
    nested.mkdir(parents=True)
    # No --emulator, no environment: local.settings.json (a parent folder's) and runtime.json.
    sent = await cli(
        "enqueue", "long_job", "found-1", "--input", '{"duration_s": 60}', "--wait", "10", "--json",
        cwd=nested,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["outcome"]["outcome"] == "started"
    # Options after the subcommand as before it.
    status = await cli("status", "found-1", "--json", cwd=folder)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["runtimeStatus"] == "Running"


async def test_failures_are_one_line_with_their_exit_status(
    app: EmbeddedRuntime, tmp_path: Path
) -> None:
    url = app.base_url.removeprefix("http://")  # no scheme: taken as http
    cases = [
        (("--emulator", url, "enqueue", "long_job", "w-1", "--wait", "-1"), 2, "--wait"),
        (("--emulator", url, "enqueue", "long_job", "w-1", "--wait", "nan"), 2, "--wait"),
        (("--emulator", url, "enqueue", "--from", "missing.jsonl"), 2, "missing.jsonl"),
        (("--emulator", url, "status", "a/b"), 1, "instance a/b"),
        (("outcome", "never-sent", "--emulator", url), 1, "never-sent"),
        (("--emulator", "http://", "status", "x"), 1, "--emulator"),
        (("enqueue", "long_job", "x", "--on-running", "sometimes"), 2, "sometimes"),
        (("frobnicate",), 2, "frobnicate"),
    ]
    for args, code, named in cases:
        result = await cli(*args, cwd=tmp_path)
        assert result.returncode == code, (args, result.stderr)
        assert "Traceback" not in result.stderr and result.stdout == "", args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], lines
    # With --json the error is a JSON object on stdout, wherever --json stands.
    for args in (
        ("--json", "status", "a/b", "--emulator", url),
        ("status", "a/b", "--json", "--emulator", url),
    ):
        result = await cli(*args, cwd=tmp_path)
        assert result.returncode == 1 and result.stderr == ""
        error = json.loads(result.stdout)
        assert error["exitCode"] == 1 and "a/b" in error["error"]
    # Nothing was sent by the refused --wait: the instance never started.
    await settled(app)
    assert app.runtime.get_status("w-1") is None


async def test_a_file_reports_lines_in_order_and_repeated_request_ids(
    app: EmbeddedRuntime, tmp_path: Path
) -> None:
    same = {"orchestrator": "long_job", "instanceId": "dup-1", "requestId": "dup-once"}
    lines = [
        json.dumps({**same, "input": {"duration_s": 60}}),
        "{broken",
        json.dumps({**same, "input": {"duration_s": 60}}),
        json.dumps({"orchestrator": "nope", "instanceId": "dup-2"}),  # invalid after sending
        json.dumps({**same, "input": {"duration_s": 60}}),
    ]
    (tmp_path / "dups.jsonl").write_text("\n".join(lines) + "\n")
    result = await cli(
        "--emulator", app.base_url, "enqueue", "--from", "dups.jsonl", "--wait", "10", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    summary = json.loads(result.stdout)
    assert summary["counts"] == {"sent": 1, "invalid": 4, "failed": 0}
    assert summary["outcomes"] == {"started": 1}
    numbers = [int(text.split(":")[0].removeprefix("line ")) for text in summary["invalid"]]
    assert numbers == [2, 3, 4, 5]
    assert "repeats line 1" in summary["invalid"][1] and "repeats line 1" in summary["invalid"][3]


async def test_completion_and_help(tmp_path: Path) -> None:
    script = await cli("completion", "bash", cwd=tmp_path)
    assert script.returncode == 0 and "singleton-starters" in script.stdout
    helped = await cli("enqueue", "--help", cwd=tmp_path)
    assert helped.returncode == 0
    for policy in ("use-existing", "forward", "replace", "queue", "restart-failed-only"):
        assert policy in helped.stdout


PRODUCER = """
import asyncio, json
from starters.client.producer import StartRequestSender

async def main():
    async with StartRequestSender.from_settings() as sender:
        sent = await sender.send("long_job", "client-1", {"duration_s": 60})
        record = await sender.wait_for_outcome(sent.request_id, timeout=20)
        print(json.dumps({"sent": sent.accepted, "outcome": record["outcome"]}))

asyncio.run(main())
"""


async def test_the_python_client_reads_local_settings_from_anywhere(
    published: tuple[EmbeddedRuntime, Path],
) -> None:
    _, folder = published
    nested = folder / "producer"
    nested.mkdir()
    (nested / "produce.py").write_text(PRODUCER)

    def run() -> subprocess.CompletedProcess[str]:
        # The installed package only: no PYTHONPATH, so the app's registry is not importable.
        return subprocess.run(
            [sys.executable, "produce.py"],
            cwd=nested,
            env={"PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=120,
        )

    result = await asyncio.to_thread(run)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"sent": True, "outcome": "started"}
