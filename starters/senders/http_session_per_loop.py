"""One aiohttp session per event loop, closed when that loop shuts down.

An aiohttp session belongs to the loop it was created on, and a process may run several
loops in turn (`asyncio.run` twice, a test framework's loop per test). Nothing tells a
library that its loop is ending, except the loop's shutdown of asynchronous generators
(`loop.shutdown_asyncgens()`, which `asyncio.run` and test frameworks call before they
close a loop): so each session is watched by a suspended generator whose `finally` closes
it. No hook in the runtime or the app is needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import aiohttp


class HttpSessionPerLoop:
    def __init__(self, timeout: aiohttp.ClientTimeout) -> None:
        self._timeout = timeout
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        # Strong references: a collected generator would close its session early.
        self._watchers: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}

    async def current(self) -> aiohttp.ClientSession:
        """The running loop's session, created on first use."""
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is not None and not session.closed:
            return session
        self._forget_closed_loops()
        session = aiohttp.ClientSession(timeout=self._timeout)
        self._sessions[loop] = session
        watcher = self._close_at_shutdown(loop, session)
        self._watchers[loop] = watcher
        await watcher.__anext__()  # first iteration: the loop now tracks it
        return session

    async def close_current(self) -> None:
        """Close the running loop's session now (an app that does have a shutdown step)."""
        loop = asyncio.get_running_loop()
        session = self._sessions.pop(loop, None)
        watcher = self._watchers.pop(loop, None)
        if session is not None:
            await session.close()
        if watcher is not None:
            await watcher.aclose()

    async def _close_at_shutdown(
        self, loop: asyncio.AbstractEventLoop, session: aiohttp.ClientSession
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            if self._sessions.get(loop) is session:
                del self._sessions[loop]
                self._watchers.pop(loop, None)
            await session.close()

    def _forget_closed_loops(self) -> None:
        # A loop closed without shutting down its generators leaves its entry behind.
        for loop in [loop for loop in self._sessions if loop.is_closed()]:
            del self._sessions[loop]
            self._watchers.pop(loop, None)
