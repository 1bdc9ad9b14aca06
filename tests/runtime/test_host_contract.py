"""The Durable HTTP API answers as the host does, where user code and the SDK branch on it.

Each test names the handler behaviour it reproduces (azure-functions-durable-extension,
`HttpApiHandler.cs` and `DurableClient.cs`), drives it through the SDK's real client where
the SDK has the call, and plain HTTP where the SDK hides the status code.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import pytest

from embedded_functions.testing import EmbeddedRuntime
from tests.runtime.durable_webhook import http, new_id


async def finished(runtime: EmbeddedRuntime, name: str, input: Any = None) -> dict[str, Any]:
    instance_id = new_id(name)
    await runtime.client().start_new(name, instance_id, input)
    return await runtime.wait_for(instance_id)


# -- rewind: HandleRewindInstanceRequestAsync + DurableClient.RewindAsync ----------------


async def test_rewind_of_a_completed_or_terminated_instance_is_410(
    skipping: EmbeddedRuntime,
) -> None:
    # `case Canceled/Terminated/Completed: return request.CreateResponse(HttpStatusCode.Gone)`
    client = skipping.client()
    done = (await finished(skipping, "sequence", "x"))["instanceId"]
    terminated = new_id("two_events")
    await client.start_new("two_events", terminated)
    await skipping.wait_for(terminated, statuses=frozenset({"Running"}))
    await client.terminate(terminated, "stop")
    await skipping.wait_for(terminated)
    for instance_id in (done, terminated):
        assert (await http(skipping, "POST", f"instances/{instance_id}/rewind"))[0] == 410
        with pytest.raises(Exception, match="only supported on failed"):
            await client.rewind(instance_id, "again")


async def test_rewind_of_a_running_instance_is_the_catch_all_500(
    realtime: EmbeddedRuntime,
) -> None:
    # RewindAsync throws InvalidOperationException unless Failed; the handler's catch-all
    # turns it into 500 "Something went wrong while processing your request".
    running = new_id("waits")
    await realtime.client().start_new("waits", running, 10_000)
    await realtime.wait_for(running, statuses=frozenset({"Running"}))
    status, _, body = await http(realtime, "POST", f"instances/{running}/rewind?reason=x")
    assert status == 500
    error = json.loads(body)
    assert error["Message"] == "Something went wrong while processing your request"
    assert "only supported on failed" in error["ExceptionMessage"]
    assert (await http(realtime, "POST", "instances/nobody/rewind"))[0] == 404


async def test_rewind_of_a_failed_instance_is_202_and_runs_the_failed_activity_again(
    skipping: EmbeddedRuntime,
) -> None:
    # 202, and the backend rewinds: the failed activity runs again and the instance goes on.
    job = {"key": new_id("rewind-k"), "fail_times": 1}
    failed = await finished(skipping, "flaky_child", job)
    assert failed["runtimeStatus"] == "Failed"
    status, _, _ = await http(skipping, "POST", f"instances/{failed['instanceId']}/rewind")
    assert status == 202
    again = await skipping.wait_for(failed["instanceId"])
    assert again["runtimeStatus"] == "Completed"
    assert again["output"] == {"key": job["key"], "attempts": 2}


async def test_rewind_through_the_sdk_rewinds_a_failed_sub_orchestration(
    skipping: EmbeddedRuntime,
) -> None:
    job = {"key": new_id("rewind-sub"), "fail_times": 1}
    failed = await finished(skipping, "parent_of_flaky", job)
    assert failed["runtimeStatus"] == "Failed"
    await skipping.client().rewind(failed["instanceId"], "fixed it")
    again = await skipping.wait_for(failed["instanceId"])
    assert again["runtimeStatus"] == "Completed"
    assert again["output"] == {"child": {"key": job["key"], "attempts": 2}}


async def test_rewind_runs_the_last_attempt_of_a_call_with_retries_again(
    skipping: EmbeddedRuntime,
) -> None:
    # Three attempts failed; the rewound third attempt runs again (a fourth call of the
    # activity): once it succeeds, the orchestration goes on with its result.
    job = {"key": new_id("rewind-retry"), "fail_times": 3}
    failed = await finished(skipping, "with_retry", job)
    assert failed["runtimeStatus"] == "Failed"
    await skipping.client().rewind(failed["instanceId"], "fixed")
    again = await skipping.wait_for(failed["instanceId"])
    assert again["runtimeStatus"] == "Completed"
    assert again["output"] == {"key": job["key"], "attempts": 4}
    # ...and if it fails again, its retries being spent, the instance fails again.
    stubborn = {"key": new_id("rewind-retry"), "fail_times": 9}
    failed = await finished(skipping, "with_retry", stubborn)
    await skipping.client().rewind(failed["instanceId"], "not yet")
    again = await skipping.wait_for(failed["instanceId"])
    assert again["runtimeStatus"] == "Failed" and "flaky failure 4" in again["output"]


# -- purge: HandleDeleteHistoryByIdRequestAsync -------------------------------------------


async def test_purge_of_a_running_instance_deletes_it(realtime: EmbeddedRuntime) -> None:
    # Only `status == null` is checked (404); the tracking store purges by ID.
    client = realtime.client()
    running = new_id("waits")
    await client.start_new("waits", running, 10_000)
    await realtime.wait_for(running, statuses=frozenset({"Running"}))
    assert (await client.purge_instance_history(running)).instances_deleted == 1
    assert (await http(realtime, "GET", f"instances/{running}"))[0] == 404


# -- start: DurableClient.StartNewAsync's instance ID checks ------------------------------


@pytest.mark.parametrize(
    ("instance_id", "why"),
    [
        ("@counter@k", "must not start with @"),
        ("a\\b", r"must not contain /, \\, #, \?, or control characters"),
        ("a#b", r"must not contain /, \\, #, \?, or control characters"),
        ("a?b", r"must not contain /, \\, #, \?, or control characters"),
        ("a\x07b", r"must not contain /, \\, #, \?, or control characters"),
        ("x" * 257, "must not exceed 256 characters"),
    ],
)
async def test_start_with_an_id_the_host_refuses_is_400(
    realtime: EmbeddedRuntime, instance_id: str, why: str
) -> None:
    # ArgumentException, caught by the handler: 400 "One or more of the arguments
    # submitted is incorrect"; the SDK raises the ExceptionMessage.
    path = f"orchestrators/sequence/{quote(instance_id, safe='')}"
    status, _, body = await http(realtime, "POST", path, json=json.dumps("x"))
    assert status == 400
    error = json.loads(body)
    assert error["Message"] == "One or more of the arguments submitted is incorrect"
    assert re.search(why, error["ExceptionMessage"])
    assert (await http(realtime, "GET", f"instances/{quote(instance_id, safe='')}"))[0] == 404


async def test_the_sdk_raises_the_hosts_message_for_a_refused_id(
    realtime: EmbeddedRuntime,
) -> None:
    with pytest.raises(Exception, match="must not exceed 256 characters"):
        await realtime.client().start_new("sequence", "x" * 257, "x")
    longest = "y" * 256
    assert await realtime.client().start_new("sequence", longest, "x") == longest


# -- list: TryGetIEnumerableQueryParameterValue<OrchestrationRuntimeStatus> ---------------


async def test_list_parses_runtime_status_as_enum_try_parse(skipping: EmbeddedRuntime) -> None:
    prefix = new_id("rs") + "-"
    done, running = f"{prefix}done", f"{prefix}running"
    client = skipping.client()
    await client.start_new("sequence", done, "x")
    await skipping.wait_for(done)
    await client.start_new("two_events", running)
    await skipping.wait_for(running, statuses=frozenset({"Running"}))

    async def listed(query: str) -> set[str]:
        status, _, body = await http(
            skipping, "GET", f"instances/?instanceIdPrefix={prefix}&{query}"
        )
        assert status == 200
        return {s["instanceId"] for s in json.loads(body)}

    everything = {done, running}
    assert await listed("runtimeStatus=Bogus") == everything  # none parsed: no filter
    assert await listed("runtimeStatus=running") == everything  # case-sensitive: dropped
    assert await listed("runtimeStatus=Bogus,Completed") == {done}
    assert await listed("runtimeStatus=1") == {done}  # a number parses (Completed = 1)
    assert await listed("runtimeStatus=0&runtimeStatus=Completed") == everything
    assert await listed("runtimeStatus=42") == set()  # an undefined value matches nothing


async def test_purge_by_filter_parses_runtime_status_the_same_way(
    skipping: EmbeddedRuntime,
) -> None:
    # HandleDeleteHistoryWithFiltersRequestAsync: the same TryGetIEnumerableQueryParameterValue;
    # nothing purged is a 404.
    done = (await finished(skipping, "sequence", "x"))["instanceId"]
    purge = "instances/?createdTimeFrom=2000-01-01T00:00:00Z"
    assert (await http(skipping, "DELETE", f"{purge}&runtimeStatus=42"))[0] == 404
    assert (await http(skipping, "GET", f"instances/{done}"))[0] == 200
    status, _, body = await http(skipping, "DELETE", f"{purge}&runtimeStatus=Bogus")
    assert status == 200 and json.loads(body)["instancesDeleted"] >= 1
    assert (await http(skipping, "GET", f"instances/{done}"))[0] == 404


# -- list: pages of OrchestrationStatusQueryCondition.PageSize (100) ----------------------


async def test_list_answers_pages_of_100_with_an_opaque_token(realtime: EmbeddedRuntime) -> None:
    prefix = new_id("page") + "-"
    ids = sorted(f"{prefix}{n:03d}" for n in range(101))
    for instance_id in ids:
        await realtime.runtime.start_new("waits", instance_id, json.dumps(json.dumps(10_000)))
    status, headers, body = await http(realtime, "GET", f"instances/?instanceIdPrefix={prefix}")
    assert status == 200
    first = [s["instanceId"] for s in json.loads(body)]
    assert first == ids[:100]
    token = headers["x-ms-continuation-token"]
    assert ids[99] not in token  # opaque: not the last ID in plain text
    status, headers, body = await http(
        realtime,
        "GET",
        f"instances/?instanceIdPrefix={prefix}",
        headers={"x-ms-continuation-token": token},
    )
    assert [s["instanceId"] for s in json.loads(body)] == ids[100:]
    assert "x-ms-continuation-token" not in headers
    # The SDK's get_status_all reads one page, so it sees at most 100 instances, as on
    # the host.
    assert len(await realtime.client().get_status_all()) == 100


@pytest.mark.parametrize("token", ["garbage", "list-a-3", "eyJhZnRlciI6ICJ4In0.AAAA"])
async def test_a_token_the_runtime_did_not_issue_is_a_400(
    realtime: EmbeddedRuntime, token: str
) -> None:
    status, headers, body = await http(
        realtime, "GET", "instances/", headers={"x-ms-continuation-token": token}
    )
    assert status == 400
    assert headers["Content-Type"].startswith("application/problem+json")
    assert "x-ms-continuation-token" in json.loads(body)["detail"]


# -- showHistory: DurableClient.GetDurableOrchestrationStatusAsync ------------------------


async def test_show_history_is_shaped_as_the_host_shapes_it(skipping: EmbeddedRuntime) -> None:
    done = await finished(skipping, "sequence", "Ada")
    client = skipping.client()
    full = await client.get_status(done["instanceId"], show_history=True, show_history_output=True)
    events = full.historyEvents
    kinds = [e["EventType"] for e in events]
    # TaskScheduled merged into its completion; the episode markers removed.
    assert kinds == ["ExecutionStarted", "TaskCompleted", "TaskCompleted", "ExecutionCompleted"]
    for item in events:
        assert not {"EventId", "IsPlayed", "TaskScheduledId"} & set(item)
    started, hello, upper, completed = events
    assert started["FunctionName"] == "sequence"
    assert not {"Name", "OrchestrationInstance", "ParentInstance", "Version"} & set(started)
    assert hello["FunctionName"] == "hello" and hello["ScheduledTime"]
    assert hello["Input"] == json.dumps("Ada")  # the TaskScheduled's input, when showInput
    assert hello["Result"] == "Hello Ada"  # parsed JSON, with showHistoryOutput
    assert upper["Result"] == "HELLO ADA"
    assert completed["OrchestrationStatus"] == "Completed"
    assert completed["Result"] == ["Hello Ada", "HELLO ADA"]

    brief = await client.get_status(done["instanceId"], show_history=True)
    assert all("Result" not in e for e in brief.historyEvents)
    assert brief.historyEvents[0]["Input"]  # Input follows showInput, not showHistoryOutput
    status, _, body = await http(
        skipping, "GET", f"instances/{done['instanceId']}?showHistory=true&showInput=false"
    )
    assert status == 200
    assert all("Input" not in e for e in json.loads(body)["historyEvents"])


# -- a failed activity: TaskActivityShim -------------------------------------------------


async def test_a_failed_activitys_details_are_the_users_error_only(
    skipping: EmbeddedRuntime,
) -> None:
    failed = await finished(skipping, "flaky_child", {"key": new_id("k"), "fail_times": 9})
    output = failed["output"]
    assert "Activity function 'flaky' failed: flaky failure 1" in output
    assert "function_app.py" in output and "RuntimeError: flaky failure 1" in output
    for runtime_frame in ("embedded_functions/durable", "concurrent/futures", "asyncio/"):
        assert runtime_frame not in output


# -- start with a body: HandleStartOrchestratorRequestAsync ------------------------------


async def test_a_plain_json_body_is_parsed_once_and_is_the_input(
    skipping: EmbeddedRuntime,
) -> None:
    # `input = JsonConvert.DeserializeObject(json)`, then StartNewAsync(..., input).
    obj = new_id("echo")
    status, _, _ = await http(
        skipping,
        "POST",
        f"orchestrators/echo/{obj}",
        data=b'{"w": 1}',
        headers={"Content-Type": "application/json"},
    )
    assert status == 202
    done = await skipping.wait_for(obj)
    assert done["input"] == {"w": 1}  # the value, not its JSON text
    assert done["output"] == {"w": 1}
    number = new_id("echo")
    await http(skipping, "POST", f"orchestrators/sequence/{number}", data=b"5")
    assert (await skipping.wait_for(number))["input"] == 5


async def test_a_json_string_body_is_that_string(skipping: EmbeddedRuntime) -> None:
    # The host's input is the string "k9". Its orchestration context carries it as a JSON
    # string, and the Python SDK's get_input decodes that as JSON text: on the host too an
    # orchestrator that reads this input fails in the SDK ("Expecting value").
    text = new_id("echo")
    await http(skipping, "POST", f"orchestrators/echo/{text}", data=b'"k9"')
    done = await skipping.wait_for(text)
    assert done["input"] == "k9"
    assert done["runtimeStatus"] == "Failed" and "Expecting value" in done["output"]


async def test_the_sdks_double_encoded_start_keeps_working(skipping: EmbeddedRuntime) -> None:
    done = await finished(skipping, "echo", {"w": 1})
    assert done["output"] == {"w": 1}
    assert json.loads(done["input"]) == {"w": 1}  # the SDK posts its input JSON-encoded
    text = await finished(skipping, "echo", "k9")
    assert text["output"] == "k9"
