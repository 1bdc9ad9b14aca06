"""The runtime's distribution: its wheel, installed with its declared dependencies into a
clean virtual environment (from PyPI), runs the documented "in your own tests" example
and the `embedded-functions` command, with nothing of this repository on the path.
About 25 s with pip's cache warm (as `make venv` leaves it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "testing"
# The example's test runner, at the versions the project's own tests use.
TEST_TOOLS = [
    line.strip()
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
    if line.startswith(("pytest==", "pytest-asyncio=="))
]


def run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_the_wheel_installs_and_runs_the_documented_example(tmp_path: Path) -> None:
    assert len(TEST_TOOLS) == 2, TEST_TOOLS
    # Built from a clean copy: an in-tree build/ directory would leave stale modules behind.
    source = tmp_path / "runtime"
    leftovers = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    shutil.copytree(ROOT / "runtime", source, ignore=leftovers)
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", wheels, source, cwd=tmp_path)
    (wheel,) = wheels.glob("embedded_functions-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"embedded_functions", "emulator"}  # the runtime and its former name only
    assert "embedded_functions/py.typed" in names
    venv.create(tmp_path / "env", with_pip=True)
    python = tmp_path / "env" / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", wheel, *TEST_TOOLS, cwd=tmp_path)

    # Imported from the environment, not from this checkout.
    where = run(
        python, "-c", "import embedded_functions; print(embedded_functions.__file__)", cwd=tmp_path
    )
    assert str(tmp_path / "env") in where.stdout

    example = tmp_path / "example"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("__pycache__"))
    tests = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=example)
    assert "2 passed" in tests.stdout

    command = run(tmp_path / "env" / "bin" / "embedded-functions", "serve", "--help", cwd=tmp_path)
    for flag in ("--script-root", "--port", "--in-memory", "--time-skipping", "--enforce-keys"):
        assert flag in command.stdout
