"""host.json choices the design depends on."""

from __future__ import annotations

import json
from pathlib import Path

from starters.settings import HandlerSettings

ROOT = Path(__file__).resolve().parent.parent
HOST = json.loads((ROOT / "host.json").read_text())
SERVICE_BUS = HOST["extensions"]["serviceBus"]
# Service Bus's default lock duration; the queue is declared with it (infra/).
LOCK_DURATION_S = 60


def seconds(timespan: str) -> float:
    hours, minutes, rest = timespan.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest)


def test_one_call_per_session_or_the_race_comes_back() -> None:
    assert SERVICE_BUS["maxConcurrentCallsPerSession"] == 1


def test_settlement_and_prefetch() -> None:
    # The Python binding cannot complete or dead-letter: the host must complete on success.
    assert SERVICE_BUS["autoCompleteMessages"] is True
    assert SERVICE_BUS["prefetchCount"] == 0


def test_a_short_session_idle_timeout() -> None:
    # Unset, each idle session holds its slot for 60 s: about maxConcurrentSessions starts
    # per minute for distinct IDs.
    idle = seconds(SERVICE_BUS["sessionIdleTimeout"])
    assert 0 < idle <= 1
    assert SERVICE_BUS["maxConcurrentSessions"] >= 8


def test_the_handler_deadline_sits_inside_the_lock_and_the_renewal() -> None:
    deadline = HandlerSettings().deadline.total_seconds()
    assert deadline < LOCK_DURATION_S / 2
    assert seconds(SERVICE_BUS["maxAutoLockRenewalDuration"]) >= deadline
    assert seconds(HOST["functionTimeout"]) > deadline


def test_bundle_and_task_hub() -> None:
    assert HOST["extensionBundle"] == {
        "id": "Microsoft.Azure.Functions.ExtensionBundle",
        "version": "[4.*, 5.0.0)",
    }
    assert HOST["extensions"]["durableTask"]["hubName"] == "%TASKHUB_NAME%"
