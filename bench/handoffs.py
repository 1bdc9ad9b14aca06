"""How long a queued request waits after the instance frees: the backlog's hand-offs.

While the backlog runs, a watcher reads each instance's Durable status through the
runtime's management API (the same HTTP API the Durable extension serves in Azure) and
keeps, for every execution (told apart by its input's unique tag), the times of its
history's ExecutionStarted and, once seen, ExecutionCompleted events. A hand-off is the
time from one execution's completion to the next one's start on the same ID. An ID holds
one execution at a time, so a completion the watcher did not see (the next execution
started within one poll) falls back to the time the job logged its own end, just before it
completed; `handoff_fallbacks` says how many did.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from datetime import datetime

import aiohttp

MANAGEMENT = "/runtime/webhooks/durabletask/instances/"


def _time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class HandoffWatcher:
    def __init__(self, session: aiohttp.ClientSession, base: str, instances: list[str]) -> None:
        self.session, self.base, self.instances = session, base, instances
        self.created: dict[tuple[str, str], float] = {}
        self.completed: dict[tuple[str, str], float] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _read(self, instance_id: str) -> None:
        url = f"{self.base}{MANAGEMENT}{instance_id}?showHistory=true"
        async with self.session.get(url) as response:
            if response.status not in (200, 202):
                return
            status = await response.json()
        job = status.get("input") if isinstance(status, dict) else None
        # The SDK sends its input JSON-encoded, and the status gives it back as that string.
        if isinstance(job, str):
            job = json.loads(job)
        tag = job.get("tag") if isinstance(job, dict) else None
        if not tag:
            return
        key = (instance_id, str(tag))
        # The status's own times are whole seconds (as the host gives them); the history's
        # events carry the exact moment.
        for event in status.get("historyEvents") or []:
            if event.get("EventType") == "ExecutionStarted":
                self.created.setdefault(key, _time(event["Timestamp"]))
            elif event.get("EventType") == "ExecutionCompleted":
                self.completed.setdefault(key, _time(event["Timestamp"]))

    async def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            await asyncio.gather(*(self._read(i) for i in self.instances), return_exceptions=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval)

    def start(self, interval: float = 0.05) -> None:
        self._task = asyncio.create_task(self._run(interval))

    async def stop(self) -> None:
        """After one last read, so that the final executions are seen too."""
        self._stop.set()
        if self._task is not None:
            await self._task
        await asyncio.gather(*(self._read(i) for i in self.instances), return_exceptions=True)

    def handoffs(self, logged_ends: dict[str, float]) -> tuple[list[float], int]:
        """Hand-off times in ms, and how many fell back to the job's logged end."""
        times: list[float] = []
        fallbacks = 0
        for instance in self.instances:
            runs = sorted((t, tag) for (i, tag), t in self.created.items() if i == instance)
            for (_, earlier), (later_created, _) in itertools.pairwise(runs):
                finished = self.completed.get((instance, earlier))
                if finished is None and earlier in logged_ends:
                    finished = logged_ends[earlier]
                    fallbacks += 1
                if finished is not None:
                    times.append((later_created - finished) * 1000)
        return times, fallbacks
