"""The proof: this project's queued starter against the naive check-then-start function.

    python -m bench.compare [--quick] [--output-dir docs]

Both run on the embedded runtime (`python -m embedded_functions serve`, its own process) with the
shipped host.json and the Durable runtime's default `azure-storage` start mode, driving
the same orchestration (`tracked_job`, which logs every execution's start and end with
its input). Workloads:
  - distinct: one request per instance ID (throughput);
  - hot: many concurrent requests per ID while the job runs (contention);
  - short: short jobs that finish between requests (where check-then-start re-runs work);
  - backlog (queued starter only): several IDs, each with a short job running and several
    `onRunning=queue` requests behind it; reports handoff_p50_ms / handoff_p95_ms;
  - steady: an open loop of distinct IDs at a fixed rate (200 req/s for 30 s; 10 s quick).
Each workload's figures are the median of three alternating runs (queued, naive, queued,
...; the failure counts are the worst run's); the queued starter's figures carry
`io_per_start` (bench/io_per_start.py). docs/benchmark-workloads.md gives the sizes.
Metrics (per starter, per workload):
  - duplicate_starts: executions of one ID that overlap in time, plus starts that the
    request's policy did not permit (an execution with no request that was told
    "started");
  - false_successes: callers told "started" whose input never became an execution's input;
  - lost: accepted (2xx) requests with no final outcome;
  - errors: 5xx answers;
  - requests, started (executions), throughput_rps (requests over the time from the first
    send to the last decision), p50/p95/p99_ms (request to decision), p50_running_ms
    (request to its execution's start, for started requests).
Writes results.json, a Markdown table and a PNG chart.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.handoffs import HandoffWatcher
from bench.io_per_start import difference, per_start, probe_paths, quiet, read_counts
from embedded_functions.testing import start_serve, stop_serve, wait_listening

ROOT = Path(__file__).resolve().parent.parent
APP = Path(__file__).resolve().parent / "apps" / "compare" / "function_app.py"
WORKLOADS = ("distinct", "hot", "short", "backlog", "steady")
QUEUED_ONLY = frozenset({"backlog"})
RUNS = 3
# The worst of the runs, not the median: one run's duplicate start is a failure.
WORST_OF_RUNS = frozenset({"duplicate_starts", "false_successes", "lost", "errors"})
FINAL_PENDING = ("pending", "queued")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return (
        round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2) if ordered else 0.0
    )


class Server:
    """The embedded runtime with the comparison app, the shipped host.json and queue config."""

    def __init__(self, service_bus: dict[str, Any] | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="bench-compare-"))
        shutil.copy(APP, self.root / "function_app.py")
        host = json.loads((ROOT / "host.json").read_text())
        host["extensions"]["serviceBus"].update(service_bus or {})
        (self.root / "host.json").write_text(json.dumps(host, indent=2))
        (self.root / "servicebus-emulator").mkdir()
        shutil.copy(ROOT / "servicebus-emulator" / "Config.json", self.root / "servicebus-emulator")
        self.log = self.root / "executions.jsonl"
        settings = {
            # The app's settings, as local.settings.json.template gives them to `make run`.
            "ServiceBusConnection": "UseEmbeddedServiceBus=true",
            "OUTCOME_STORE": "memory",
            "BENCH_LOG": str(self.log),
            "BENCH_HANDLER_LOG": str(self.root / "handler.jsonl"),
            "START_QUEUE_NAME": "start-requests",
            "TASKHUB_NAME": "CompareHub",
            # The outcome store's round trips, by phase, for io_per_start.
            "OUTCOME_STORE_ROUND_TRIPS_FILE": str(self.root / "store-round-trips.json"),
        }
        self.store_round_trips = self.root / "store-round-trips.json"
        self.process, self.port = start_serve(
            self.root, settings=settings, args=("--log-level", "WARNING")
        )
        self.base = f"http://127.0.0.1:{self.port}"

    async def ready(self) -> None:
        await wait_listening(self.port, self.process, timeout=60)

    def executions(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        entries = [json.loads(line) for line in self.log.read_text().splitlines() if line]
        runs: dict[tuple[str, str], dict[str, Any]] = {}
        for entry in entries:
            key = (entry["id"], entry["input"]["tag"])
            runs.setdefault(key, {"id": entry["id"], "tag": entry["input"]["tag"]})[entry["at"]] = (
                entry["t"]
            )
        return list(runs.values())

    def handler_ms(self, prefix: str) -> list[float]:
        """The handler's time for each message of this run's IDs (its own log line)."""
        path = self.root / "handler.jsonl"
        if not path.exists():
            return []
        times = []
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if str(entry.get("instanceId", "")).startswith(prefix + "-") and "ms" in entry:
                times.append(float(entry["ms"]))
        return times

    def logged_ends(self) -> dict[str, float]:
        return {e["tag"]: e["end"] for e in self.executions() if "end" in e}

    def stop(self) -> None:
        stop_serve(self.process, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


async def send(session: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any, float]:
    began = time.time()
    try:
        async with session.post(url, json=body) as response:
            payload = await response.json(content_type=None) if await response.read() else None
            return response.status, payload, began
    except aiohttp.ClientError:
        return 599, None, began


async def decisions(
    session: aiohttp.ClientSession, base: str, request_ids: list[str], timeout: float
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    deadline = time.time() + timeout
    while len(found) < len(request_ids) and time.time() < deadline:
        pending = [r for r in request_ids if r not in found]
        for start in range(0, len(pending), 100):
            chunk = pending[start : start + 100]

            async def one(request_id: str) -> tuple[str, Any]:
                async with session.get(f"{base}/api/requests/{request_id}") as response:
                    return request_id, (await response.json() if response.status == 200 else None)

            for request_id, record in await asyncio.gather(*(one(r) for r in chunk)):
                # A queued request is decided once it starts, expires or is canceled.
                if record is not None and record["outcome"] not in FINAL_PENDING:
                    found[request_id] = record
        if len(found) < len(request_ids):
            await asyncio.sleep(0.2)
    return found


async def handled(
    session: aiohttp.ClientSession, base: str, before: dict[str, int], messages: int
) -> None:
    """Until the queue has completed or dead-lettered `messages` more messages than `before`
    (or stops moving for 30 s): one small read every 100 ms instead of a poll per record."""
    done = -1
    still_since = time.time()
    while time.time() - still_since < 30:
        counts = difference(await read_counts(session, base), before)
        now = counts.get("queue.complete", 0) + counts.get("queue.dead_letter", 0)
        if now >= messages:
            return
        if now != done:
            done, still_since = now, time.time()
        await asyncio.sleep(0.1)


def sizes(quick: bool, tiny: bool = False) -> dict[str, dict[str, float]]:
    """Each workload's size: full, quick (`--quick`) and tiny (the benchmark's own test)."""
    pick = 2 if tiny else (1 if quick else 0)

    def of(*options: float) -> float:
        return options[pick]

    return {
        "distinct": {"requests": of(2000, 1000, 20)},
        "hot": {"ids": of(20, 4, 2), "per_id": of(25, 25, 5)},
        "short": {"ids": of(10, 4, 2), "seconds": of(6, 3, 1)},
        "backlog": {"ids": of(8, 4, 2), "queued_per_id": of(8, 4, 2), "job_s": 0.5},
        "steady": {"rps": 200, "seconds": of(30, 10, 0.5)},
        "io_probe": {"requests": of(10, 5, 2)},
    }


def plan(workload: str, quick: bool, tiny: bool = False) -> list[tuple[float, str, dict[str, Any]]]:
    """(send at, instance ID, input) for each request; inputs are tagged uniquely."""
    size = {k: int(v) for k, v in sizes(quick, tiny)[workload].items() if k != "job_s"}
    if workload == "steady":
        size["count"] = int(
            sizes(quick, tiny)[workload]["rps"] * sizes(quick, tiny)[workload]["seconds"]
        )
    requests: list[tuple[float, str, dict[str, Any]]] = []
    if workload == "distinct":
        for n in range(size["requests"]):
            requests.append((0.0, f"d-{n}", {"duration_s": 2}))
    elif workload == "hot":
        for n in range(size["ids"]):
            for _k in range(size["per_id"]):
                requests.append((0.0, f"h-{n}", {"duration_s": 5}))
    elif workload == "backlog":
        # One ID's requests go one after the other (their order is the queue's order):
        # the first starts the job, the rest queue behind it.
        job_s = sizes(quick, tiny)[workload]["job_s"]
        for n in range(size["ids"]):
            for _k in range(1 + size["queued_per_id"]):
                requests.append((0.0, f"b-{n}", {"duration_s": job_s}))
    elif workload == "steady":
        # Open loop: request n leaves at n / rate whatever the answers before it did.
        for n in range(size["count"]):
            requests.append((n / size["rps"], f"st-{n}", {"duration_s": 2}))
    else:  # short jobs: 3 requests at once per ID every 100 ms; each job runs 300 ms
        for n in range(size["ids"]):
            for step in range(size["seconds"] * 10):
                for _ in range(3):
                    requests.append((step * 0.1, f"s-{n}", {"duration_s": 0.3}))
    return [
        (at, instance, dict(body, tag=f"{instance}#{i}"))
        for i, (at, instance, body) in enumerate(requests)
    ]


async def run_workload(
    server: Server,
    starter: str,
    workload: str,
    quick: bool,
    concurrency: int,
    *,
    tiny: bool = False,
    probe: bool = False,
) -> dict[str, Any]:
    """One run of one workload against one fresh server. `probe`: then measure the I/O
    per path (queued starter only)."""
    requests = plan(workload, quick, tiny)
    prefix = f"{starter[0]}{workload[:2]}"
    query = "?onRunning=queue" if workload == "backlog" else ""
    open_loop = workload == "steady"
    # An open loop does not wait for a free connection: latency counts from the schedule.
    connector = aiohttp.TCPConnector(limit=0 if open_loop else concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        semaphore = asyncio.Semaphore(len(requests) if open_loop else concurrency)
        counts_before = await read_counts(session, server.base) if starter == "queued" else {}
        watcher = None
        if workload == "backlog":
            watcher = HandoffWatcher(
                session, server.base, sorted({f"{prefix}-{r[1]}" for r in requests})
            )
            watcher.start()
        began = time.time()

        async def one(
            at: float, instance: str, body: dict[str, Any]
        ) -> tuple[str, dict[str, Any], int, Any, float, float]:
            delay = began + at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            instance_id = f"{prefix}-{instance}"
            path = "api/orchestrators" if starter == "queued" else "api/naive"
            async with semaphore:
                status, payload, sent = await send(
                    session, f"{server.base}/{path}/tracked_job/{instance_id}{query}", body
                )
            return (
                instance_id,
                body,
                status,
                payload,
                began + at if open_loop else sent,
                time.time(),
            )

        if workload == "backlog":
            # Each ID's requests in order, one answered before the next is sent.
            chains: dict[str, list[tuple[float, str, dict[str, Any]]]] = defaultdict(list)
            for request in requests:
                chains[request[1]].append(request)

            async def chain(items: list[tuple[float, str, dict[str, Any]]]) -> list[Any]:
                return [await one(*item) for item in items]

            answers = [a for c in await asyncio.gather(*map(chain, chains.values())) for a in c]
        else:
            answers = list(await asyncio.gather(*(one(*r) for r in requests)))
        records: dict[str, dict[str, Any]] = {}
        if starter == "queued":
            accepted = [a[3]["requestId"] for a in answers if a[2] == 202 and a[3]]
            # Watch the queue's counters until every message is handled, then read each
            # record: polling 1,000 records every 200 ms would load the host being measured
            # (the decision time is the record's decidedAt, written by the handler).
            await handled(session, server.base, counts_before, len(accepted))
            records = await decisions(
                session, server.base, accepted, timeout=900 if workload == "backlog" else 300
            )
        # Let started executions log their start (and short jobs their end).
        await asyncio.sleep(1.5)
        executions = await logged_executions(server, prefix, answers, records)
        if watcher is not None:
            await watcher.stop()
        figures = metrics(starter, answers, records, executions, began)
        if watcher is not None:
            handoffs, fallbacks = watcher.handoffs(server.logged_ends())
            figures["handoffs"] = len(handoffs)
            figures["handoff_p50_ms"] = percentile(handoffs, 0.50)
            figures["handoff_p95_ms"] = percentile(handoffs, 0.95)
            figures["handoff_fallbacks"] = fallbacks
        if open_loop:
            figures["offered_rps"] = sizes(quick, tiny)["steady"]["rps"]
        if starter == "queued":
            # Wall time inside the handler, per message, under this workload's load.
            handler_ms = server.handler_ms(prefix)
            figures["handler_p50_ms"] = percentile(handler_ms, 0.50)
            figures["handler_p99_ms"] = percentile(handler_ms, 0.99)
            await quiet(session, server.base)
            totals = difference(await read_counts(session, server.base), counts_before)
            figures["io_totals"] = totals
            figures["io_per_request"] = per_start(totals, len(answers))
            if probe:
                figures["io_per_start"] = await io_probe(session, server, prefix, quick, tiny)
    return figures


async def logged_executions(
    server: Server,
    prefix: str,
    answers: list[Any],
    records: dict[str, dict[str, Any]],
    patience: float = 10.0,
) -> list[dict[str, Any]]:
    """The workload's executions, once every request told "started" has one that logged
    its start, or once none has been added for `patience` seconds (a loaded host starts
    executions seconds after it answers: they are not false successes)."""
    told = {
        body["tag"]
        for _, body, status, payload, *_ in answers
        if (status == 202 and payload and payload.get("started") is True)
        or (payload and records.get(payload.get("requestId"), {}).get("outcome") == "started")
    }
    seen, quiet_since = -1, time.time()
    while True:
        executions = [e for e in server.executions() if e["id"].startswith(prefix + "-")]
        logged = {e["tag"] for e in executions if "start" in e}
        if told <= logged or time.time() - quiet_since > patience:
            return executions
        if len(logged) != seen:
            seen, quiet_since = len(logged), time.time()
        await asyncio.sleep(0.2)


async def io_probe(
    session: aiohttp.ClientSession, server: Server, prefix: str, quick: bool, tiny: bool
) -> dict[str, Any]:
    async def submit(instance: str, body: dict[str, Any], query: str) -> str:
        tagged = dict(body, tag=f"{instance}#{time.monotonic_ns()}")
        url = f"{server.base}/api/orchestrators/tracked_job/{instance}{query}"
        status, payload, _ = await send(session, url, tagged)
        if status != 202 or not payload:
            raise RuntimeError(f"the probe's request was refused: {status} {payload}")
        return str(payload["requestId"])

    async def decide(request_ids: list[str]) -> dict[str, dict[str, Any]]:
        return await decisions(session, server.base, request_ids, timeout=300)

    size = int(sizes(quick, tiny)["io_probe"]["requests"])
    return await probe_paths(
        session, server.base, submit, decide, f"{prefix}-io", size, server.store_round_trips
    )


def metrics(
    starter: str,
    answers: list[Any],
    records: dict[str, dict[str, Any]],
    executions: list[dict[str, Any]],
    began: float,
) -> dict[str, Any]:
    started_tags: dict[str, float] = {}
    latencies: list[float] = []
    lost = errors = 0
    last = began
    for _instance_id, body, status, payload, sent, answered in answers:
        if status >= 500:
            errors += 1
            continue
        if starter == "naive":
            latencies.append((answered - sent) * 1000)
            last = max(last, answered)
            if status == 202:
                started_tags[body["tag"]] = sent
            continue
        if status != 202 or not payload:
            continue
        record = records.get(payload["requestId"])
        if record is None or record["outcome"] in ("pending", "queued"):
            lost += 1
            continue
        decided = datetime.fromisoformat(record["decidedAt"]).timestamp()
        last = max(last, decided)
        latencies.append((decided - sent) * 1000)
        if record["outcome"] in ("started", "replaced"):
            started_tags[body["tag"]] = sent
    run_tags = {e["tag"]: e for e in executions}
    false_successes = sum(1 for tag in started_tags if tag not in run_tags)
    unpermitted = sum(1 for tag in run_tags if tag not in started_tags)
    overlaps = 0
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for execution in executions:
        by_id[execution["id"]].append(execution)
    for runs in by_id.values():
        runs.sort(key=lambda e: e.get("start", 0))
        for earlier, later in itertools.pairwise(runs):
            if "start" in later and later["start"] < earlier.get("end", float("inf")):
                overlaps += 1
    to_running = [
        (run_tags[tag]["start"] - sent) * 1000
        for tag, sent in started_tags.items()
        if tag in run_tags and "start" in run_tags[tag]
    ]
    elapsed = max(1e-9, last - began)
    return {
        "requests": len(answers),
        "started": len(executions),
        "duplicate_starts": overlaps + unpermitted,
        "false_successes": false_successes,
        "lost": lost,
        "errors": errors,
        "throughput_rps": round(len(answers) / elapsed, 1),
        "p50_ms": percentile(latencies, 0.50),
        "p95_ms": percentile(latencies, 0.95),
        "p99_ms": percentile(latencies, 0.99),
        "p50_running_ms": percentile(to_running, 0.50),
    }


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of the runs' figures; the worst run's failure counts; the I/O (the same
    operations each run) from the first run, with its per-path probe."""
    combined: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            combined[key] = value
        elif key in WORST_OF_RUNS:
            combined[key] = max(run[key] for run in runs)
        else:
            combined[key] = round(statistics.median(run[key] for run in runs), 2)
    combined["runs"] = len(runs)
    return combined


def slot_bound(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    config = json.loads((ROOT / "host.json").read_text())["extensions"]["serviceBus"]
    config.update(overrides or {})
    h, m, s = config["sessionIdleTimeout"].split(":")
    idle = int(h) * 3600 + int(m) * 60 + float(s)
    slots = int(config["maxConcurrentSessions"])
    return {
        "max_concurrent_sessions": slots,
        "session_idle_timeout_s": idle,
        "distinct_ids_per_s_at_most": round(slots / idle, 1),
    }


def markdown(results: dict[str, Any]) -> str:
    keys = [
        "requests",
        "started",
        "duplicate_starts",
        "false_successes",
        "lost",
        "errors",
        "throughput_rps",
        "p50_ms",
        "p99_ms",
        "handoff_p95_ms",
    ]
    lines = ["| starter | workload | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for starter in ("queued", "naive"):
        for workload, figures in results[starter].items():
            lines.append(
                f"| {starter} | {workload} | "
                + " | ".join(str(figures.get(k, "-")) for k in keys)
                + " |"
            )
    return "\n".join(lines) + "\n"


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = list(results["queued"])
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.38
    positions = range(len(workloads))
    for offset, starter in ((-width / 2, "queued"), (width / 2, "naive")):
        none = {"duplicate_starts": 0, "false_successes": 0, "lost": 0, "throughput_rps": 0}
        figures = [results[starter].get(w, none) for w in workloads]
        failures = [f["duplicate_starts"] + f["false_successes"] + f["lost"] for f in figures]
        throughput = [f["throughput_rps"] for f in figures]
        axes[0].bar([p + offset for p in positions], failures, width, label=starter)
        axes[1].bar([p + offset for p in positions], throughput, width, label=starter)
    axes[0].set_title("duplicate starts + false successes + lost")
    axes[1].set_title("throughput (requests/s)")
    for axis in axes:
        axis.set_xticks(list(positions), workloads)
        axis.legend()
    figure.suptitle(f"queued starter vs naive check-then-start ({os.cpu_count()} cores)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"queued": {}, "naive": {}}
    overrides: dict[str, Any] = {}
    if args.sessions:
        overrides["maxConcurrentSessions"] = args.sessions
    if args.idle:
        overrides["sessionIdleTimeout"] = args.idle
    tiny = getattr(args, "tiny", False)
    chosen = getattr(args, "probe_workloads", None)
    probed = set(args.workloads if chosen is None else chosen)
    for workload in args.workloads:
        starters = ("queued",) if workload in QUEUED_ONLY else ("queued", "naive")
        runs: dict[str, list[dict[str, Any]]] = {starter: [] for starter in starters}
        for run in range(args.runs):
            for starter in starters:
                server = Server(overrides)
                try:
                    await server.ready()
                    figures = await run_workload(
                        server,
                        starter,
                        workload,
                        args.quick,
                        args.concurrency,
                        tiny=tiny,
                        probe=run == 0 and starter == "queued" and workload in probed,
                    )
                finally:
                    server.stop()
                runs[starter].append(figures)
                summary = {k: v for k, v in figures.items() if not k.startswith("io_")}
                print(f"{starter:6} {workload:8} run {run + 1}: {summary}", file=sys.stderr)
        for starter, figures_of_runs in runs.items():
            results[starter][workload] = combine(figures_of_runs)
    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    results["session_slot_bound"] = slot_bound(overrides)
    results["host_json_overrides"] = overrides
    results["mode"] = "tiny" if tiny else ("quick" if args.quick else "full")
    results["runs_per_workload"] = args.runs
    results["sizes"] = sizes(args.quick, tiny)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads, for CI")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--output-dir", type=Path, default=ROOT / "docs")
    parser.add_argument(
        "--workloads",
        nargs="+",
        default=list(WORKLOADS),
        choices=list(WORKLOADS),
    )
    parser.add_argument(
        "--runs", type=int, default=RUNS, help="alternating runs per workload (the median)"
    )
    parser.add_argument(
        "--sessions", type=int, help="override maxConcurrentSessions (an experiment)"
    )
    parser.add_argument("--idle", help="override sessionIdleTimeout, e.g. 00:00:00.0200000")
    parser.add_argument("--tag", default="", help="a suffix for the output files")
    parser.add_argument(
        "--probe-workloads",
        nargs="*",
        choices=list(WORKLOADS),
        help="whose first queued run measures io_per_start (default: all; none: no probe)",
    )
    parser.add_argument(
        "--tiny", action="store_true", help="the smallest sizes (the benchmark's own test)"
    )
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    suffix = ("-tiny" if args.tiny else "-quick" if args.quick else "") + (
        f"-{args.tag}" if args.tag else ""
    )
    (ROOT / "bench" / f"results{suffix}.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.output_dir / f"comparison{suffix}.md").write_text(markdown(results))
    chart(results, args.output_dir / f"comparison{suffix}.png")
    print(markdown(results))


if __name__ == "__main__":
    main()
