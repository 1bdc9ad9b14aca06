"""Outcome-store round trips, counted where they leave the process, by phase.

One Table storage HTTP request or one SQLite statement or transaction is one round trip.
Intake and the session handler name their phase (`phase("intake")`); the adapters call
`round_trip()` at their transport, so the count says what a request really cost, whatever
path the code took. The counts are process-wide and cheap (a dict increment); the app
serves them on an opt-in route (docs/delivery.md) for the benchmark to read.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from contextvars import ContextVar

_PHASE: ContextVar[str] = ContextVar("outcome_store_phase", default="other")
_COUNTS: Counter[str] = Counter()


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Count the store round trips made inside this block (and its tasks) under `name`."""
    token = _PHASE.set(name)
    try:
        yield
    finally:
        _PHASE.reset(token)


def round_trip() -> None:
    _COUNTS[_PHASE.get()] += 1


def counts() -> dict[str, int]:
    """Round trips so far by phase ("intake", "handler", "other")."""
    return dict(_COUNTS)
