"""Old import paths that keep working, with a DeprecationWarning naming the new one."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Mapping
from typing import Any


def moved_attribute(old_module: str, name: str, moved: Mapping[str, str]) -> Any:
    """`name` from the module it moved to, warning that `old_module.name` is deprecated."""
    new_module = moved.get(name)
    if new_module is None:
        raise AttributeError(f"module {old_module!r} has no attribute {name!r}")
    warnings.warn(
        f"{old_module}.{name} is deprecated: import it from {new_module}",
        DeprecationWarning,
        stacklevel=3,
    )
    return getattr(importlib.import_module(new_module), name)


def moved_module(old_module: str, new_module: str, name: str) -> Any:
    """For a module that moved as a whole: every attribute comes from `new_module`."""
    if name.startswith("__"):
        raise AttributeError(f"module {old_module!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(new_module), name)
    warnings.warn(
        f"{old_module} is deprecated: import {name} from {new_module}",
        DeprecationWarning,
        stacklevel=3,
    )
    return value
