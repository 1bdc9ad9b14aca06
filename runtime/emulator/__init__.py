"""Deprecated: the runtime's former import name. Use `embedded_functions`.

Every `emulator.X` module is `embedded_functions.X` itself (the same module object, so a
monkeypatch through either name reaches the code), except `emulator.testing` and
`emulator.__main__`, which are kept as files of their own for their warnings.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

OLD, NEW = "emulator", "embedded_functions"
_OWN_MODULES = frozenset({f"{OLD}.testing", f"{OLD}.__main__"})

warnings.warn(
    f"the `{OLD}` package is deprecated: import `{NEW}` instead",
    DeprecationWarning,
    stacklevel=2,
)


class _Redirect(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves `emulator.X` to the already importable `embedded_functions.X`."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(f"{OLD}.") or fullname in _OWN_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(NEW + spec.name[len(OLD) :])
        self._specs[module.__name__] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system stamped the alias's spec on the real module: give it back.
        module.__spec__ = self._specs.pop(module.__name__, module.__spec__)


if not any(isinstance(finder, _Redirect) for finder in sys.meta_path):
    # First: the path finder would otherwise load a second copy of each module.
    sys.meta_path.insert(0, _Redirect())
