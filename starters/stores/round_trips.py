"""Outcome-store round trips, counted where they leave the process, by phase.

One Table storage HTTP request or one SQLite statement or transaction is one round trip.
Intake and the session handler name their phase (`phase("intake")`), and the Table
store's time index its background writes (`phase("index")`); the adapters call
`round_trip()` at their transport, so the count says what a request really cost, whatever
path the code took. The counts are process-wide and cheap (a dict increment).

Out of the host process: with the app setting `OUTCOME_STORE_ROUND_TRIPS_FILE` (a path;
off by default), each process writes its counts there as JSON
(`{"pid": ..., "counts": {"intake": n, "handler": n, "index": n, "other": n}}`, the path
suffixed with `.<pid>` so processes do not overwrite each other), atomically, whenever an intake or
handler phase ends. The benchmark sums those files (bench/io_per_start.py).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

FILE_SETTING = "OUTCOME_STORE_ROUND_TRIPS_FILE"

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
        _publish()


def _publish() -> None:
    target = os.environ.get(FILE_SETTING, "").strip()
    if not target:
        return
    path = Path(f"{target}.{os.getpid()}")
    scratch = path.with_name(path.name + ".tmp")
    try:
        scratch.write_text(json.dumps({"pid": os.getpid(), "counts": counts()}))
        scratch.replace(path)
    except OSError:  # a benchmark's aid: never a reason to fail a request
        pass


def round_trip() -> None:
    _COUNTS[_PHASE.get()] += 1


def counts() -> dict[str, int]:
    """Round trips so far by phase ("intake", "handler", "index", "other")."""
    return dict(_COUNTS)
