"""The adapter over the SDK's client, with the SDK's own status objects.

The seed's Python sample checks `existing != None or existing.runtime_status in [...]`
with strings; both halves are wrong against the real SDK, shown here first.
"""

from __future__ import annotations

from typing import Any

from azure.durable_functions.models.DurableOrchestrationStatus import (
    DurableOrchestrationStatus,
)
from azure.durable_functions.models.OrchestrationRuntimeStatus import (
    OrchestrationRuntimeStatus,
)

from starters.instances import DurableInstanceClient
from starters.policies import RuntimeStatus

RUNNING_JSON = {
    "name": "long_job",
    "instanceId": "job-1",
    "runtimeStatus": "Running",
    "input": {"duration_s": 5},
    "customStatus": {"phase": "running"},
    "output": None,
    "createdTime": "2026-01-01T00:00:00Z",
    "lastUpdatedTime": "2026-01-01T00:00:01Z",
}


class SdkClientStub:
    """Returns what the SDK's get_status returns for the host's answers (404 -> {})."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def get_status(self, instance_id: str, **options: Any) -> DurableOrchestrationStatus:
        self.calls.append((instance_id, options))
        return DurableOrchestrationStatus.from_json(self.answer)


def test_the_seed_sample_condition_is_always_true_for_an_unknown_id() -> None:
    unknown = DurableOrchestrationStatus.from_json({})  # what a 404 becomes
    assert unknown is not None  # so `existing != None` holds and the seed never starts...
    assert not unknown  # ...while the status is falsy: the right test is `not existing`
    assert unknown.runtime_status is None


def test_runtime_status_is_an_enum_not_a_string() -> None:
    status = DurableOrchestrationStatus.from_json(RUNNING_JSON)
    assert status.runtime_status is OrchestrationRuntimeStatus.Running
    assert status.runtime_status != "Running"  # the string comparison never matches


async def test_unknown_instance_becomes_none() -> None:
    stub = SdkClientStub({})
    assert await DurableInstanceClient(stub).get_status("job-1") is None
    assert stub.calls == [("job-1", {"show_input": True})]


async def test_known_instance_becomes_a_snapshot_with_its_input() -> None:
    snapshot = await DurableInstanceClient(SdkClientStub(RUNNING_JSON)).get_status("job-1")
    assert snapshot is not None
    assert snapshot.runtime_status is RuntimeStatus.RUNNING
    assert snapshot.input == {"duration_s": 5}
    assert snapshot.custom_status == {"phase": "running"}
    assert snapshot.created_time is not None and snapshot.created_time.startswith("2026-01-01")


async def test_every_host_status_maps() -> None:
    for status in OrchestrationRuntimeStatus:
        answer = dict(RUNNING_JSON, runtimeStatus=status.value)
        snapshot = await DurableInstanceClient(SdkClientStub(answer)).get_status("job-1")
        assert snapshot is not None and snapshot.runtime_status.value == status.value
