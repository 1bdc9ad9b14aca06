"""The benchmark's new workloads, at their tiny sizes, through the benchmark's own code.

Real parts: the embedded runtime as its own process (`python -m embedded_functions serve`) with the
comparison app, the queued starter and the naive function; the counts come from the
runtime's `GET /runtime/operation-counts`.
"""

from __future__ import annotations

import argparse

from bench.compare import combine, main_async

FIGURES = {
    "requests",
    "started",
    "duplicate_starts",
    "false_successes",
    "lost",
    "errors",
    "throughput_rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "p50_running_ms",
    "runs",
}
PATHS = {"started_fresh", "rejected", "used_existing", "queued"}
PER_START = {
    "intake_store_round_trips",
    "handler_store_round_trips",
    "status_reads",
    "starts",
    "queue_operations",
}
QUEUE_OPERATIONS = {"sends", "accepts", "receives", "completes"}


def arguments(*workloads: str) -> argparse.Namespace:
    return argparse.Namespace(
        workloads=list(workloads),
        runs=1,
        tiny=True,
        quick=True,
        sessions=None,
        idle=None,
        concurrency=16,
        # The per-path probe takes seconds: once is enough to check its shape.
        probe_workloads=["backlog"],
    )


def check_io(figures: dict[str, object]) -> None:
    io = figures["io_per_start"]
    assert isinstance(io, dict)
    assert set(io) >= PATHS
    for path in PATHS:
        assert set(io[path]) >= PER_START, path
        assert set(io[path]["queue_operations"]) >= QUEUE_OPERATIONS, path
        # Counted by the store at its transport, carried out by the app's round-trips file.
        assert io[path]["intake_store_round_trips"] == 1, path
        assert io[path]["handler_store_round_trips"] >= 1, path
    assert io["started_fresh"]["handler_store_round_trips"] <= 2
    assert io["started_fresh"]["outcomes"] == ["started"]
    assert io["started_fresh"]["starts"] == 1
    assert io["started_fresh"]["queue_operations"]["sends"] >= 1
    assert io["rejected"]["outcomes"] == ["rejected"]
    assert io["rejected"]["starts"] == 0
    assert io["queued"]["outcomes"] == ["started"]
    assert io["queued"]["starts"] == 1


async def test_backlog_and_steady_at_a_tiny_size() -> None:
    results = await main_async(arguments("backlog", "steady"))

    backlog = results["queued"]["backlog"]
    assert "backlog" not in results["naive"], "the backlog is the queued starter's alone"
    assert FIGURES | {"handoff_p50_ms", "handoff_p95_ms"} <= set(backlog)
    # 2 IDs, each with a job and 2 requests queued behind it: 2 hand-offs per ID.
    assert backlog["requests"] == 6
    assert backlog["started"] == 6
    assert backlog["handoffs"] == 4
    assert 0 < backlog["handoff_p50_ms"] <= backlog["handoff_p95_ms"]
    check_io(backlog)

    for starter in ("queued", "naive"):
        steady = results[starter]["steady"]
        assert FIGURES | {"offered_rps"} <= set(steady), starter
        assert steady["requests"] == 100
        assert 0 < steady["p50_ms"] <= steady["p99_ms"]
    steady_io = results["queued"]["steady"]["io_per_request"]
    assert set(steady_io) >= PER_START
    assert steady_io["starts"] == 1, "each distinct ID's request starts it once"

    for workload in ("backlog", "steady"):
        figures = results["queued"][workload]
        assert (figures["duplicate_starts"], figures["false_successes"], figures["lost"]) == (
            0,
            0,
            0,
        ), workload
    assert results["mode"] == "tiny"
    assert results["sizes"]["steady"]["rps"] == 200


def test_runs_combine_to_their_median_and_their_worst_failure_count() -> None:
    runs = [
        {"p99_ms": 30.0, "lost": 0, "duplicate_starts": 0, "io_per_start": {"a": 1}},
        {"p99_ms": 10.0, "lost": 2, "duplicate_starts": 0, "io_per_start": {"a": 2}},
        {"p99_ms": 20.0, "lost": 0, "duplicate_starts": 1, "io_per_start": {"a": 3}},
    ]
    combined = combine(runs)
    assert combined["p99_ms"] == 20.0
    assert combined["lost"] == 2
    assert combined["duplicate_starts"] == 1
    assert combined["io_per_start"] == {"a": 1}
    assert combined["runs"] == 3
