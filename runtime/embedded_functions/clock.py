"""The runtime's clock: real time, optionally skipping ahead when nothing else can run.

With time skipping on (as in Temporal's test environment), a durable timer fires as soon
as no orchestration episode or activity is runnable: an orchestration that waits an hour
finishes in milliseconds. Time still moves with the wall clock in between, so timestamps
stay ordered and plausible.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone


class RuntimeClock:
    def __init__(self, *, time_skipping: bool = False) -> None:
        self.time_skipping = time_skipping
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self._offset

    def skip_to(self, moment: datetime) -> None:
        """Move time forward to `moment` (never backwards)."""
        ahead = moment - self.now()
        if ahead > timedelta(0):
            self._offset += ahead

    @property
    def skipped(self) -> timedelta:
        return self._offset

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
