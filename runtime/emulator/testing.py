"""Deprecated: `emulator.testing` is `embedded_functions.testing` (the fixtures:
`embedded_functions.pytest_plugin`)."""

from __future__ import annotations

import warnings

# `pytest_plugins = ["emulator.testing"]` registered these fixtures: it still does.
from embedded_functions.pytest_plugin import embedded_runtime, embedded_runtime_options
from embedded_functions.testing import *  # noqa: F403 - the whole public API, renamed
from embedded_functions.testing import __all__ as _testing_all

warnings.warn(
    "`emulator.testing` is deprecated: use `embedded_functions.testing` "
    "(pytest fixtures: `pytest_plugins = ['embedded_functions.pytest_plugin']`)",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = [*_testing_all, "embedded_runtime", "embedded_runtime_options"]
