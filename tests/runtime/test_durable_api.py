"""The Durable HTTP API against the host's contract, driven by the SDK's real
DurableOrchestrationClient and, where the SDK hides the status code, by plain HTTP."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from azure.durable_functions.models.OrchestrationRuntimeStatus import (
    OrchestrationRuntimeStatus as Status,
)

from embedded_functions.testing import EmbeddedRuntime
from tests.runtime.durable_webhook import http, new_id


async def started(runtime: EmbeddedRuntime, name: str, input: Any = None) -> str:
    instance_id = new_id(name)
    await runtime.client().start_new(name, instance_id, input)
    return instance_id


# -- start ---------------------------------------------------------------------------


async def test_start_answers_202_with_the_check_status_payload(realtime: EmbeddedRuntime) -> None:
    status, headers, body = await http(
        realtime, "POST", "orchestrators/waits/s-1", json=json.dumps(60)
    )
    assert status == 202
    payload = json.loads(body)
    assert payload["id"] == "s-1"
    assert headers["Location"] == payload["statusQueryGetUri"]
    assert "/runtime/webhooks/durabletask/instances/s-1?" in payload["statusQueryGetUri"]
    assert {"sendEventPostUri", "terminatePostUri", "purgeHistoryDeleteUri"} <= set(payload)


async def test_start_new_through_the_sdk(realtime: EmbeddedRuntime) -> None:
    client = realtime.client()
    assert await client.start_new("waits", "sdk-1", 60) == "sdk-1"
    generated = await client.start_new("waits", None, 60)
    assert generated and generated != "sdk-1"


async def test_start_of_a_running_id_is_refused_with_409(realtime: EmbeddedRuntime) -> None:
    instance_id = await started(realtime, "waits", 600)
    status, _, body = await http(
        realtime, "POST", f"orchestrators/waits/{instance_id}", json=json.dumps(1)
    )
    assert status == 409
    assert "already exists" in json.loads(body)["Message"]
    with pytest.raises(Exception, match="already exists"):
        await realtime.client().start_new("waits", instance_id, 1)


async def test_start_of_an_unknown_orchestrator_is_a_400(realtime: EmbeddedRuntime) -> None:
    status, _, body = await http(realtime, "POST", "orchestrators/nope/x-1")
    assert status == 400
    assert "doesn't exist" in json.loads(body)["ExceptionMessage"]
    with pytest.raises(Exception, match="doesn't exist"):
        await realtime.client().start_new("nope", "x-2")


async def test_start_with_invalid_json_is_a_400(realtime: EmbeddedRuntime) -> None:
    status, _, _ = await http(
        realtime,
        "POST",
        "orchestrators/waits/j-1",
        data=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert status == 400


async def test_orchestrator_names_match_case_insensitively(skipping: EmbeddedRuntime) -> None:
    await skipping.client().start_new("SEQUENCE", "ci-1", "x")
    status = await skipping.wait_for("ci-1")
    assert status["name"] == "sequence" and status["runtimeStatus"] == "Completed"


# -- status --------------------------------------------------------------------------


async def test_unknown_instance_is_404_with_an_empty_body(realtime: EmbeddedRuntime) -> None:
    status, _, body = await http(realtime, "GET", "instances/nobody")
    assert (status, body) == (404, b"")
    unknown = await realtime.client().get_status("nobody")
    assert not unknown and unknown.runtime_status is None  # the SDK's falsy status


async def test_running_instance_is_202_with_location(realtime: EmbeddedRuntime) -> None:
    instance_id = await started(realtime, "waits", 600)
    status, headers, body = await http(realtime, "GET", f"instances/{instance_id}")
    assert status == 202
    assert headers["Location"].endswith(f"/instances/{instance_id}")
    assert headers["Retry-After"] == "5"
    payload = json.loads(body)
    assert payload["runtimeStatus"] in ("Pending", "Running")
    for key in ("name", "instanceId", "input", "customStatus", "output", "createdTime"):
        assert key in payload
    assert payload["createdTime"].endswith("Z") and len(payload["createdTime"]) == 20


async def test_completed_and_failed_instances_are_200(skipping: EmbeddedRuntime) -> None:
    done = await started(skipping, "sequence", "a")
    failed = await started(skipping, "fails")
    await skipping.wait_for(done)
    await skipping.wait_for(failed)
    assert (await http(skipping, "GET", f"instances/{done}"))[0] == 200
    assert (await http(skipping, "GET", f"instances/{failed}"))[0] == 200
    strict = f"instances/{failed}?returnInternalServerErrorOnFailure=true"
    assert (await http(skipping, "GET", strict))[0] == 500
    status = await skipping.client().get_status(failed)
    assert status.runtime_status is Status.Failed
    assert "the orchestrator gave up" in status.output


async def test_show_input_and_history(skipping: EmbeddedRuntime) -> None:
    instance_id = await started(skipping, "sequence", "Ada")
    await skipping.wait_for(instance_id)
    client = skipping.client()
    plain = await client.get_status(instance_id)
    assert json.loads(plain.input_) == "Ada"  # the SDK posts its input JSON-encoded
    assert getattr(plain, "historyEvents", None) is None  # only with showHistory
    _, _, body = await http(skipping, "GET", f"instances/{instance_id}?showInput=false")
    assert json.loads(body)["input"] is None
    full = await client.get_status(instance_id, show_history=True, show_history_output=True)
    kinds = [e["EventType"] for e in full.historyEvents]
    assert kinds[0] == "ExecutionStarted" and kinds[-1] == "ExecutionCompleted"
    completed = [e for e in full.historyEvents if e["EventType"] == "TaskCompleted"]
    assert completed[0]["Result"] == "Hello Ada"  # parsed, as the host shows it
    brief = await client.get_status(instance_id, show_history=True)
    assert all("Result" not in e for e in brief.historyEvents)


async def test_list_filters_and_continuation(skipping: EmbeddedRuntime) -> None:
    ids = [f"list-a-{n}" for n in range(5)]
    for instance_id in ids:
        await skipping.client().start_new("sequence", instance_id, "x")
    for instance_id in ids:
        await skipping.wait_for(instance_id)
    await skipping.client().start_new("waits", "list-b-1", 10_000)
    client = skipping.client()
    by_prefix = await client.get_status_by(runtime_status=[Status.Completed])
    assert {s.instance_id for s in by_prefix} >= set(ids)
    everything = await client.get_status_all()
    assert {"list-b-1", *ids} <= {s.instance_id for s in everything}
    future = datetime.now(timezone.utc) + timedelta(days=3)
    assert await client.get_status_by(created_time_from=future) == []
    seen: list[str] = []
    token = None
    for _ in range(10):
        headers = {"x-ms-continuation-token": token} if token else {}
        status, answer_headers, body = await http(
            skipping, "GET", "instances/?instanceIdPrefix=list-a-&top=2", headers=headers
        )
        assert status == 200
        seen += [s["instanceId"] for s in json.loads(body)]
        token = answer_headers.get("x-ms-continuation-token")
        if not token:
            break
    assert seen == sorted(ids)


# -- operations ----------------------------------------------------------------------


async def test_terminate(realtime: EmbeddedRuntime) -> None:
    client = realtime.client()
    instance_id = await started(realtime, "waits", 600)
    await client.terminate(instance_id, "enough")
    status = await realtime.wait_for(instance_id, timeout=10)
    assert status["runtimeStatus"] == "Terminated" and status["output"] == "enough"
    assert (await http(realtime, "POST", f"instances/{instance_id}/terminate"))[0] == 410
    await client.terminate(instance_id, "again")  # 410: the SDK accepts it silently
    assert (await http(realtime, "POST", "instances/nobody/terminate"))[0] == 404
    with pytest.raises(Exception, match="No instance"):
        await client.terminate("nobody", "x")


async def test_suspend_holds_events_until_resume(realtime: EmbeddedRuntime) -> None:
    client = realtime.client()
    instance_id = await started(realtime, "two_events")
    await realtime.wait_for(instance_id, statuses=frozenset({"Running"}))
    await client.suspend(instance_id, "hold on")
    await realtime.wait_for(instance_id, statuses=frozenset({"Suspended"}))
    await client.raise_event(instance_id, "a", 1)
    await client.raise_event(instance_id, "b", 2)
    await realtime.wait_idle()  # the events are in; a suspended instance does not run them
    assert realtime.runtime.get_status(instance_id)["runtimeStatus"] == "Suspended"
    await client.resume(instance_id, "go")
    status = await realtime.wait_for(instance_id, timeout=10)
    assert [json.loads(v) for v in status["output"]] == [1, 2]
    kinds = [e["EventType"] for e in status["historyEvents"]]
    assert "ExecutionSuspended" in kinds and "ExecutionResumed" in kinds


async def test_raise_event_status_codes(skipping: EmbeddedRuntime) -> None:
    client = skipping.client()
    with pytest.raises(Exception, match="No instance"):
        await client.raise_event("nobody", "a", 1)
    done = await started(skipping, "sequence", "x")
    await skipping.wait_for(done)
    with pytest.raises(Exception, match="is gone"):
        await client.raise_event(done, "a", 1)
    waiting = await started(skipping, "two_events")
    status, _, body = await http(
        skipping,
        "POST",
        f"instances/{waiting}/raiseEvent/a",
        data=b"1",
        headers={"Content-Type": "text/plain"},
    )
    assert status == 400 and b"application/json" in body


async def test_restart(skipping: EmbeddedRuntime) -> None:
    done = await started(skipping, "sequence", "Bo")
    await skipping.wait_for(done)
    status, _, body = await http(skipping, "POST", f"instances/{done}/restart")
    assert status == 202
    fresh = json.loads(body)["id"]
    assert fresh != done
    assert (await skipping.wait_for(fresh))["output"] == ["Hello Bo", "HELLO BO"]
    same = f"instances/{done}/restart?restartWithNewInstanceId=false"
    assert (await http(skipping, "POST", same))[0] == 202
    assert (await http(skipping, "POST", "instances/nobody/restart"))[0] == 400


async def test_restart_of_a_running_id_in_place_is_409(realtime: EmbeddedRuntime) -> None:
    running = await started(realtime, "waits", 600)
    path = f"instances/{running}/restart?restartWithNewInstanceId=false"
    assert (await http(realtime, "POST", path))[0] == 409


async def test_purge(skipping: EmbeddedRuntime) -> None:
    client = skipping.client()
    done = await started(skipping, "sequence", "x")
    await skipping.wait_for(done)
    assert (await client.purge_instance_history(done)).instances_deleted == 1
    assert not await client.get_status(done)
    assert (await client.purge_instance_history("nobody")).instances_deleted == 0


async def test_purge_by_filter(skipping: EmbeddedRuntime) -> None:
    client = skipping.client()
    ids = [await started(skipping, "sequence", "x") for _ in range(3)]
    for instance_id in ids:
        await skipping.wait_for(instance_id)
    since = datetime.now(timezone.utc) - timedelta(hours=1)
    result = await client.purge_instance_history_by(
        created_time_from=since, runtime_status=[Status.Completed]
    )
    assert result.instances_deleted >= 3
    assert (await http(skipping, "DELETE", "instances/"))[0] == 400
