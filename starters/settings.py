"""Deprecated: moved to `starters.functions.settings`; this name keeps old imports working."""

from typing import Any

from ._moved import moved_module


def __getattr__(name: str) -> Any:
    return moved_module(__name__, "starters.functions.settings", name)
