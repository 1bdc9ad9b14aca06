"""`list`, `instances` and the dead letters from the records, through the real entry point
(subprocesses) against the local host with the app's dead-letter function running."""

from __future__ import annotations

import json

from embedded_functions.testing import EmbeddedRuntime
from starters.contract import StartRequest
from tests.embedded_app import expire_into_dead_letters
from tests.test_cli_end_to_end import app, cli

__all__ = ["app"]  # the fixture


async def enqueue(app: EmbeddedRuntime, instance: str, request_id: str) -> None:
    result = await cli(
        "--emulator", app.base_url, "enqueue", "long_job", instance,
        "--input", '{"duration_s": 60}', "--request-id", request_id, "--wait", "10",
    )  # fmt: skip
    assert result.returncode in (0, 3), result.stderr  # started, or rejected (3)


async def test_list_shows_a_table_pages_as_json_and_follows_tokens(app: EmbeddedRuntime) -> None:
    for instance, request_id in (("cli-a", "c-1"), ("cli-a", "c-2"), ("cli-b", "c-3")):
        await enqueue(app, instance, request_id)
    shown = await cli("--emulator", app.base_url, "list", "--instance", "cli-a")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split() == [
        "RECEIVED",
        "REQUEST",
        "INSTANCE",
        "ORCHESTRATOR",
        "OUTCOME",
        "REASON",
    ]
    assert [line.split()[1:5] for line in lines[1:]] == [
        ["c-2", "cli-a", "long_job", "rejected"],
        ["c-1", "cli-a", "long_job", "started"],
    ]
    # The sample app's keep-alive timer may add its own request meanwhile: long_job only.
    mine = ("--orchestrator", "long_job")
    page = await cli("--emulator", app.base_url, "list", *mine, "--limit", "1", "--json")
    first = json.loads(page.stdout)
    assert [r["requestId"] for r in first["items"]] == ["c-3"] and first["continuationToken"]
    every = await cli("--emulator", app.base_url, "list", *mine, "--limit", "1", "--all", "--json")
    assert [r["requestId"] for r in json.loads(every.stdout)["items"]] == ["c-3", "c-2", "c-1"]
    started = await cli("list", "--outcome", "started", *mine, "--json", "--emulator", app.base_url)
    assert {r["requestId"] for r in json.loads(started.stdout)["items"]} == {"c-1", "c-3"}

    instances = await cli(
        "--emulator", app.base_url, "instances", "--prefix", "cli-", "--all", "--limit", "1",
        "--json",
    )  # fmt: skip
    items = json.loads(instances.stdout)["items"]
    assert sorted(i["instanceId"] for i in items) == ["cli-a", "cli-b"]
    assert all("input" not in i for i in items)
    table = await cli("--emulator", app.base_url, "instances", "--status", "Completed")
    assert table.returncode == 0 and table.stdout.strip() == "no instances"


async def test_bad_filters_are_one_line_with_exit_2(app: EmbeddedRuntime) -> None:
    for args in (("list", "--since", "yesterday"), ("instances", "--status", "running")):
        result = await cli("--emulator", app.base_url, *args)
        assert result.returncode == 2, result
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert result.stderr.startswith("error: listing")
    as_json = await cli("--emulator", app.base_url, "list", "--limit", "500", "--json")
    error = json.loads(as_json.stdout)
    assert as_json.returncode == 2 and error["exitCode"] == 2 and "limit" in error["error"]


async def test_dead_letters_are_listed_and_resubmitted_from_the_records(
    app: EmbeddedRuntime,
) -> None:
    request = StartRequest("long_job", "cli-dead", "cli-dead-req", {"duration_s": 60})
    expire_into_dead_letters(app, request.to_bytes(), "cli-dead-req", "cli-dead")
    recorded = await cli(
        "--emulator", app.base_url, "outcome", "cli-dead-req", "--wait", "10", "--json"
    )
    assert json.loads(recorded.stdout)["outcome"] == "dead-lettered"
    listed = await cli("--emulator", app.base_url, "dead-letters", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    letters = json.loads(listed.stdout)
    assert [r["requestId"] for r in letters] == ["cli-dead-req"]
    assert json.loads(letters[0]["body"])["instanceId"] == "cli-dead"
    resubmitted = await cli("--emulator", app.base_url, "dead-letters", "resubmit", "cli-dead-req")
    assert resubmitted.returncode == 0, resubmitted.stderr
    assert resubmitted.stdout.strip() == "resubmitted cli-dead-req: pending"
    decided = await cli(
        "--emulator", app.base_url, "outcome", "cli-dead-req", "--wait", "10", "--json"
    )
    assert json.loads(decided.stdout)["outcome"] == "started"
    again = await cli("--emulator", app.base_url, "dead-letters", "resubmit", "cli-dead-req")
    assert again.returncode == 3 and "not dead-lettered" in again.stderr
    unknown = await cli("--emulator", app.base_url, "dead-letters", "resubmit", "nope")
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
