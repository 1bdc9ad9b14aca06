"""Benchmark of the local host: HTTP POST -> embedded session queue -> starter -> Durable.

    python -m bench.local_host [--distinct N] [--hot-ids K --per-id M] [--rate R --seconds S]

Starts `python -m embedded_functions serve` on this project's app (shipped host.json, in-memory
state, azure-storage start mode) as its own process and drives it over HTTP from this one:
  - distinct IDs: N requests, one per ID, as fast as the client sends them;
  - hot IDs: K IDs, M concurrent requests each, while long_job runs;
  - fixed rate: R requests per second (distinct IDs) for S seconds.
Throughput is accepted requests over the time from the first POST to the last decision;
latency is request-to-decision (the outcome record's receivedAt to decidedAt).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from embedded_functions.testing import start_serve, stop_serve, wait_listening

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def slot_bound(handler_ms: float) -> dict[str, float]:
    config = json.loads((ROOT / "host.json").read_text())["extensions"]["serviceBus"]
    slots = int(config["maxConcurrentSessions"])
    idle = config["sessionIdleTimeout"]
    h, m, s = idle.split(":")
    idle_s = int(h) * 3600 + int(m) * 60 + float(s)
    return {
        "max_concurrent_sessions": slots,
        "session_idle_timeout_s": idle_s,
        "handler_ms": round(handler_ms, 2),
        "distinct_ids_per_s_bound": round(slots / (idle_s + handler_ms / 1000), 1),
    }


class Driver:
    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base = base
        self.session = session

    async def post(self, instance: str, body: Any) -> str | None:
        url = f"{self.base}/api/orchestrators/long_job/{instance}"
        async with self.session.post(url, json=body) as response:
            if response.status != 202:
                return None
            answer = await response.json()
            return str(answer["requestId"])

    async def decided(self, request_ids: list[str], timeout: float = 600) -> list[dict[str, Any]]:
        records: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while len(records) < len(request_ids) and time.monotonic() < deadline:
            pending = [r for r in request_ids if r not in records]
            for chunk in range(0, len(pending), 200):
                batch = pending[chunk : chunk + 200]
                results = await asyncio.gather(*(self._record(r) for r in batch))
                for request_id, record in zip(batch, results, strict=True):
                    if record is not None:
                        records[request_id] = record
            if len(records) < len(request_ids):
                await asyncio.sleep(0.2)
        return list(records.values())

    async def _record(self, request_id: str) -> dict[str, Any] | None:
        async with self.session.get(f"{self.base}/api/requests/{request_id}") as response:
            if response.status != 200:
                return None
            record: dict[str, Any] = await response.json()
            return record


def latency_ms(records: list[dict[str, Any]]) -> list[float]:
    return [
        (
            datetime.fromisoformat(r["decidedAt"]) - datetime.fromisoformat(r["receivedAt"])
        ).total_seconds()
        * 1000
        for r in records
        if r.get("decidedAt")
    ]


def summary(
    requests: int, accepted: list[str], records: list[dict[str, Any]], began: float
) -> dict[str, Any]:
    last = max((datetime.fromisoformat(r["decidedAt"]).timestamp() for r in records), default=began)
    elapsed = max(1e-9, last - began)
    latencies = latency_ms(records)
    outcomes: dict[str, int] = {}
    for record in records:
        outcomes[record["outcome"]] = outcomes.get(record["outcome"], 0) + 1
    return {
        "requests": requests,
        "accepted": len(accepted),
        "decided": len(records),
        "lost": len(accepted) - len(records),
        "outcomes": outcomes,
        "throughput_rps": round(len(records) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p95_ms": round(percentile(latencies, 0.95), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
    }


async def distinct(driver: Driver, count: int, concurrency: int, tag: str) -> dict[str, Any]:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(n: int) -> str | None:
        async with semaphore:
            return await driver.post(f"{tag}-{n}", {"duration_s": 600})

    began = time.time()
    accepted = [r for r in await asyncio.gather(*(one(n) for n in range(count))) if r]
    return summary(count, accepted, await driver.decided(accepted), began)


async def hot(driver: Driver, ids: int, per_id: int, tag: str) -> dict[str, Any]:
    began = time.time()
    answers = await asyncio.gather(
        *(
            driver.post(f"{tag}-{n}", {"duration_s": 600, "k": k})
            for n in range(ids)
            for k in range(per_id)
        )
    )
    accepted = [a for a in answers if a]
    return summary(ids * per_id, accepted, await driver.decided(accepted), began)


async def fixed_rate(driver: Driver, rate: float, seconds: float, tag: str) -> dict[str, Any]:
    total = int(rate * seconds)
    began = time.time()
    tasks = []
    for n in range(total):
        target = began + n / rate
        delay = target - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(driver.post(f"{tag}-{n}", {"duration_s": 600})))
    accepted = [a for a in await asyncio.gather(*tasks) if a]
    result = summary(total, accepted, await driver.decided(accepted), began)
    result["rate_rps"] = rate
    return result


async def measure(
    args: argparse.Namespace, server: subprocess.Popen[bytes], port: int
) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    await wait_listening(port, server, timeout=60)
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        driver = Driver(base, session)
        await distinct(driver, 50, args.concurrency, "warm")
        results = {
            "distinct_ids": await distinct(driver, args.distinct, args.concurrency, "d"),
            "hot_ids": await hot(driver, args.hot_ids, args.per_id, "h"),
            "fixed_rate": await fixed_rate(driver, args.rate, args.seconds, "r"),
        }
    results["session_slot_bound"] = slot_bound(results["fixed_rate"]["p50_ms"])
    results["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    results["parameters"] = {k: str(v) for k, v in vars(args).items()}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distinct", type=int, default=1000)
    parser.add_argument("--hot-ids", type=int, default=20)
    parser.add_argument("--per-id", type=int, default=25)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    # The app's settings, as local.settings.json.template gives them to `make run`.
    settings = {
        "ServiceBusConnection": "UseEmbeddedServiceBus=true",
        "OUTCOME_STORE": "memory",
        "START_QUEUE_NAME": "start-requests",
        "TASKHUB_NAME": "BenchHub",
    }
    server, port = start_serve(ROOT, settings=settings, args=("--log-level", "WARNING"))
    try:
        results = asyncio.run(measure(args, server, port))
    finally:
        stop_serve(server, timeout=60)
    text = json.dumps(results, indent=2)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
