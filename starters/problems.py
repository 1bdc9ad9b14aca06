"""Deprecated: moved to `starters.http.problems`; this name keeps old imports working."""

from typing import Any

from ._moved import moved_module


def __getattr__(name: str) -> Any:
    return moved_module(__name__, "starters.http.problems", name)
