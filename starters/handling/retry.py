"""Retries of one call to a dependency, for the errors its adapter declares transient only.

A bug (a TypeError, a KeyError) is raised at once, never retried and never turned into a
re-scheduled copy: the host abandons the message and, past the queue's delivery count,
Service Bus dead-letters it, which ends in a `dead-lettered` record. What is retried is
what an outage looks like: the socket and timeout errors every adapter can raise, plus
what each adapter declares in its `transient_errors` (as dramatiq's `retry_when` does).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from ..clock import Clock
from ..functions.settings import HandlerSettings

T = TypeVar("T")

# Connection resets, refused connections, DNS failures and timeouts: an outage, whatever
# the adapter. aiohttp's connection errors are OSErrors too.
COMMON_TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncio.TimeoutError,
)


class TransientFailure(Exception):
    """A dependency kept failing through the retry budget of one delivery."""


def declared_transient_errors(*adapters: object) -> tuple[type[BaseException], ...]:
    """The common transient errors and those the adapters declare (`transient_errors`)."""
    declared: list[type[BaseException]] = list(COMMON_TRANSIENT_ERRORS)
    for adapter in adapters:
        errors: Iterable[type[BaseException]] = getattr(adapter, "transient_errors", ())
        declared.extend(error for error in errors if error not in declared)
    return tuple(declared)


class Retry:
    """Calls an operation again after a backoff while it raises a declared transient error."""

    def __init__(
        self,
        settings: HandlerSettings,
        clock: Clock,
        retry_when: tuple[type[BaseException], ...] = COMMON_TRANSIENT_ERRORS,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.retry_when = retry_when

    def is_transient(self, error: BaseException) -> bool:
        return isinstance(error, self.retry_when)

    async def __call__(self, operation: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(self.settings.retry_attempts + 1):
            try:
                return await operation()
            except self.retry_when as error:
                if attempt == self.settings.retry_attempts:
                    raise TransientFailure(str(error) or type(error).__name__) from error
                await self.backoff(attempt)
        raise AssertionError("unreachable")

    async def backoff(self, attempt: int) -> None:
        await self.clock.sleep(self.settings.retry_base.total_seconds() * (2**attempt))
