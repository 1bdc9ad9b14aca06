"""The proof: this project's queued starter against the naive check-then-start function.

    python -m bench.compare [--quick] [--output-dir docs]

Both run on the embedded runtime (`python -m embedded_functions serve`, its own process) with the
shipped host.json and the Durable runtime's default `azure-storage` start mode, driving
the same orchestration (`tracked_job`, which logs every execution's start and end with
its input). Workloads:
  - distinct: one request per instance ID (throughput);
  - hot: many concurrent requests per ID while the job runs (contention);
  - short: short jobs that finish between requests (where check-then-start re-runs work).
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
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from embedded_functions.testing import start_serve, stop_serve, wait_listening

ROOT = Path(__file__).resolve().parent.parent
APP = Path(__file__).resolve().parent / "apps" / "compare" / "function_app.py"


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
            "START_QUEUE_NAME": "start-requests",
            "TASKHUB_NAME": "CompareHub",
        }
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
                if record is not None:
                    found[request_id] = record
        if len(found) < len(request_ids):
            await asyncio.sleep(0.2)
    return found


def plan(workload: str, quick: bool) -> list[tuple[float, str, dict[str, Any]]]:
    """(send at, instance ID, input) for each request; inputs are tagged uniquely."""
    scale = 0.2 if quick else 1.0
    requests: list[tuple[float, str, dict[str, Any]]] = []
    if workload == "distinct":
        count = int(1000 * scale)
        for n in range(count):
            requests.append((0.0, f"d-{n}", {"duration_s": 2}))
    elif workload == "hot":
        ids, per_id = max(4, int(20 * scale)), 25
        for n in range(ids):
            for _k in range(per_id):
                requests.append((0.0, f"h-{n}", {"duration_s": 5}))
    else:  # short jobs: 3 requests at once per ID every 100 ms; each job runs 300 ms
        ids, seconds = max(4, int(10 * scale)), 3 if quick else 6
        for n in range(ids):
            for step in range(seconds * 10):
                for _ in range(3):
                    requests.append((step * 0.1, f"s-{n}", {"duration_s": 0.3}))
    return [
        (at, instance, dict(body, tag=f"{instance}#{i}"))
        for i, (at, instance, body) in enumerate(requests)
    ]


async def run_workload(
    server: Server, starter: str, workload: str, quick: bool, concurrency: int
) -> dict[str, Any]:
    requests = plan(workload, quick)
    prefix = f"{starter[0]}{workload[0]}"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        semaphore = asyncio.Semaphore(concurrency)
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
                    session, f"{server.base}/{path}/tracked_job/{instance_id}", body
                )
            return instance_id, body, status, payload, sent, time.time()

        answers = await asyncio.gather(*(one(*r) for r in requests))
        records: dict[str, dict[str, Any]] = {}
        if starter == "queued":
            accepted = [a[3]["requestId"] for a in answers if a[2] == 202 and a[3]]
            records = await decisions(session, server.base, accepted, timeout=300)
        # Let started executions log their start (and short jobs their end).
        await asyncio.sleep(1.5)
    executions = [e for e in server.executions() if e["id"].startswith(prefix + "-")]
    return metrics(starter, answers, records, executions, began)


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
    ]
    lines = ["| starter | workload | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for starter in ("queued", "naive"):
        for workload, figures in results[starter].items():
            lines.append(
                f"| {starter} | {workload} | " + " | ".join(str(figures[k]) for k in keys) + " |"
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
        failures = [
            results[starter][w]["duplicate_starts"]
            + results[starter][w]["false_successes"]
            + results[starter][w]["lost"]
            for w in workloads
        ]
        throughput = [results[starter][w]["throughput_rps"] for w in workloads]
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
    for workload in args.workloads:
        for starter in ("queued", "naive"):
            server = Server(overrides)
            try:
                await server.ready()
                results[starter][workload] = await run_workload(
                    server, starter, workload, args.quick, args.concurrency
                )
            finally:
                server.stop()
            print(f"{starter:6} {workload:8} {results[starter][workload]}", file=sys.stderr)
    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    results["session_slot_bound"] = slot_bound(overrides)
    results["host_json_overrides"] = overrides
    results["mode"] = "quick" if args.quick else "full"
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads, for CI")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--output-dir", type=Path, default=ROOT / "docs")
    parser.add_argument(
        "--workloads",
        nargs="+",
        default=["distinct", "hot", "short"],
        choices=["distinct", "hot", "short"],
    )
    parser.add_argument(
        "--sessions", type=int, help="override maxConcurrentSessions (an experiment)"
    )
    parser.add_argument("--idle", help="override sessionIdleTimeout, e.g. 00:00:00.0200000")
    parser.add_argument("--tag", default="", help="a suffix for the output files")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    suffix = ("-quick" if args.quick else "") + (f"-{args.tag}" if args.tag else "")
    (ROOT / "bench" / f"results{suffix}.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.output_dir / f"comparison{suffix}.md").write_text(markdown(results))
    chart(results, args.output_dir / f"comparison{suffix}.png")
    print(markdown(results))


if __name__ == "__main__":
    main()
