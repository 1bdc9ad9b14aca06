"""pytest fixtures for the embedded Functions runtime.

In a conftest.py: `pytest_plugins = ["embedded_functions.pytest_plugin"]`; override
`embedded_runtime_options` to configure `embedded_runtime` (its keys: the arguments of
`EmbeddedRuntime`). The tests are async: pytest-asyncio (or anyio) runs them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from .testing import EmbeddedRuntime


@pytest.fixture
def embedded_runtime_options() -> dict[str, Any]:
    """Override in a conftest.py to configure `embedded_runtime` (script_root, ...)."""
    return {"script_root": ".", "time_skipping": True}


@pytest.fixture
async def embedded_runtime(
    embedded_runtime_options: dict[str, Any],
) -> AsyncIterator[EmbeddedRuntime]:
    """The runtime in this process, started for the test and stopped after it."""
    async with EmbeddedRuntime(**embedded_runtime_options) as runtime:
        yield runtime
