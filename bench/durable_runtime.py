"""Benchmark of the embedded Durable runtime with the SDK's real client.

    python -m bench.durable_runtime [--starts N] [--reads N] [--runs N] [--concurrency C]

Starts `python -m embedded_functions serve --in-memory` as its own process, then measures from this
process, through azure.durable_functions.DurableOrchestrationClient:
  - starts per second (an orchestration that parks on a timer, so start cost dominates);
  - status reads per second;
  - start_new -> Running and start_new -> Completed for a one-activity orchestration.
Prints a table and writes JSON (--output).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from embedded_functions.testing import start_serve, stop_serve, wait_listening

ROOT = Path(__file__).resolve().parent.parent
APP = Path(__file__).resolve().parent / "apps" / "durable_bench"


def binding(base: str) -> str:
    hub = "TestHubName"
    webhook = f"{base}/runtime/webhooks/durabletask"
    return json.dumps(
        {
            "taskHubName": hub,
            "creationUrls": {},
            "managementUrls": {"id": "INSTANCEID"},
            "rpcBaseUrl": webhook + "/",
        }
    )


async def in_parallel(count: int, concurrency: int, work: Any) -> float:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async def worker() -> None:
        while not queue.empty():
            await work(queue.get_nowait())

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - began)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(
    args: argparse.Namespace, server: subprocess.Popen[bytes], port: int
) -> dict[str, Any]:
    from azure.durable_functions import DurableOrchestrationClient
    from azure.durable_functions.models.OrchestrationRuntimeStatus import (
        OrchestrationRuntimeStatus as Status,
    )

    try:
        await wait_listening(port, server, timeout=60)
        client = DurableOrchestrationClient(binding(f"http://127.0.0.1:{port}"))

        async def warm(n: int) -> None:
            await client.start_new("parked", f"warm-{n}", {"n": n})

        async def start(n: int) -> None:
            await client.start_new("parked", f"p-{n}", {"n": n})

        await in_parallel(50, args.concurrency, warm)
        starts = await in_parallel(args.starts, args.concurrency, start)

        async def read(n: int) -> None:
            status = await client.get_status(f"p-{n % args.starts}")
            assert status

        reads = await in_parallel(args.reads, args.concurrency, read)
        to_running: list[float] = []
        to_completed: list[float] = []
        for n in range(args.runs):
            instance_id = f"one-{n}"
            began = time.perf_counter()
            await client.start_new("one_activity", instance_id, n)
            running = None
            while True:
                status = await client.get_status(instance_id)
                now = time.perf_counter()
                if running is None and status.runtime_status in (Status.Running, Status.Completed):
                    running = now - began
                if status.runtime_status == Status.Completed:
                    to_completed.append((now - began) * 1000)
                    # Seen Completed on the first read: it was running by then at the latest.
                    to_running.append((now - began if running is None else running) * 1000)
                    break
                await asyncio.sleep(0.001)
        return {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "starts_per_s": round(starts, 1),
            "status_reads_per_s": round(reads, 1),
            "start_to_running_ms": {
                "p50": round(statistics.median(to_running), 2),
                "p95": round(percentile(to_running, 0.95), 2),
            },
            "start_to_completed_ms": {
                "p50": round(statistics.median(to_completed), 2),
                "p95": round(percentile(to_completed, 0.95), 2),
            },
            "state": "sqlite file" if args.data_dir else "sqlite in memory",
            "parameters": {k: str(v) for k, v in vars(args).items()},
        }
    finally:
        from embedded_functions.testing import reset_durable_sdk_session

        await reset_durable_sdk_session()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3000)
    parser.add_argument("--reads", type=int, default=6000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=30, help="the SDK allows 30")
    parser.add_argument("--data-dir", type=Path, help="state on disk here (default: memory)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    # The runtime resolves a relative --data-dir against the app's folder; this command's
    # caller means their own working directory (the Makefile cleans it there).
    data_dir = args.data_dir.resolve() if args.data_dir else None
    if data_dir is not None and data_dir.exists() and any(data_dir.iterdir()):
        parser.error(f"--data-dir {data_dir} holds an earlier run's state: remove it first")
    server, port = start_serve(APP, data_dir=data_dir, args=("--log-level", "WARNING"))
    try:
        result = asyncio.run(measure(args, server, port))
    finally:
        stop_serve(server)
    print(json.dumps(result, indent=2, default=str))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
