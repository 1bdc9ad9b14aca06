from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["embedded_functions.pytest_plugin"]


@pytest.fixture
def embedded_runtime_options() -> dict[str, Any]:
    """The app beside this file, in memory, with time skipping."""
    return {"script_root": Path(__file__).parent, "time_skipping": True}
