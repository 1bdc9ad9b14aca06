"""The command line through its real entry point (subprocesses) against the local host."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from embedded_functions.servicebus.session_queue import NewMessage
from embedded_functions.testing import EmbeddedRuntime
from starters.contract import StartRequest
from tests.embedded_app import app_settings, settled

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
    later = queues.clock.now() + timedelta(hours=1)
    queues.send(
        "start-requests",
        [
            NewMessage(
                body=request.to_bytes(),
                message_id="dead-req",
                session_id="dead-1",
                scheduled_enqueue_time=later,
                time_to_live=timedelta(minutes=1),
            )
        ],
    )
    queues.clock.skip_to(later + timedelta(minutes=2))  # it expires: dead-lettered
    listed: Any = None
    for _ in range(100):
        result = await cli(
            "--emulator", app.base_url, "dead-letters", "list", "--json", cwd=tmp_path
        )
        listed = json.loads(result.stdout)
        if listed:
            break
        await asyncio.sleep(0.1)
    assert listed[0]["messageId"] == "dead-req" and listed[0]["reason"] == "TTLExpiredException"
    resubmitted = await cli(
        "--emulator", app.base_url, "dead-letters", "resubmit", "dead-req", cwd=tmp_path
    )
    assert resubmitted.returncode == 0, resubmitted.stderr
    outcome = await cli(
        "--emulator", app.base_url, "outcome", "dead-req", "--wait", "10", "--json", cwd=tmp_path
    )
    assert json.loads(outcome.stdout)["outcome"] == "started"
    assert queues.dead_letters("start-requests") == []
    missing = await cli(
        "--emulator", app.base_url, "dead-letters", "resubmit", "nope", cwd=tmp_path
    )
    assert missing.returncode == 1 and "no dead-lettered message" in missing.stderr
