"""Timer triggers: six-field NCRONTAB (seconds first) or a time span, `run_on_startup`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from azure.functions.timer import TimerRequest
from croniter import croniter

from .app_loader import FunctionInfo
from .clock import RuntimeClock
from .servicebus.config import parse_duration

logger = logging.getLogger("embedded_functions.timers")


class Schedule:
    def __init__(self, expression: str) -> None:
        self.expression = expression.strip()
        fields = self.expression.split()
        if len(fields) == 6:
            self._cron: str | None = self.expression
            self._interval = None
        elif len(fields) == 1 and ":" in self.expression:
            self._cron = None
            self._interval = parse_duration(self.expression)
        else:
            raise ValueError(
                f"schedule {expression!r} is neither a six-field NCRONTAB expression "
                "(second minute hour day month day-of-week) nor a time span"
            )
        if self._cron is not None and not croniter.is_valid(self._cron, second_at_beginning=True):
            raise ValueError(f"schedule {expression!r} is not a valid NCRONTAB expression")

    def next_after(self, moment: datetime) -> datetime:
        if self._interval is not None:
            return moment + self._interval
        assert self._cron is not None
        result: datetime = croniter(self._cron, moment, second_at_beginning=True).get_next(datetime)
        return result


class TimerTriggers:
    def __init__(
        self, clock: RuntimeClock, invoke: Callable[[FunctionInfo, Any], Awaitable[Any]]
    ) -> None:
        self.clock = clock
        self.invoke = invoke
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, function: FunctionInfo, schedule: str) -> Schedule:
        parsed = Schedule(schedule)
        on_startup = bool(function.trigger.get("runOnStartup"))
        self._tasks.append(
            asyncio.create_task(self._run(function, parsed, on_startup), name=function.name)
        )
        return parsed

    async def _run(self, function: FunctionInfo, schedule: Schedule, on_startup: bool) -> None:
        if on_startup:
            await self._fire(function, schedule, past_due=False)
        due = schedule.next_after(self.clock.now())
        while True:
            wait = (due - self.clock.now()).total_seconds()
            if wait > 0:
                await asyncio.sleep(min(wait, 60.0))
                continue
            past_due = (self.clock.now() - due).total_seconds() > 60
            await self._fire(function, schedule, past_due)
            due = schedule.next_after(self.clock.now())

    async def _fire(self, function: FunctionInfo, schedule: Schedule, past_due: bool) -> None:
        request = TimerRequest(past_due=past_due, schedule={"AdjustForDST": True})
        try:
            await self.invoke(function, request)
        except Exception:
            logger.exception("timer function %s failed", function.name)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)
