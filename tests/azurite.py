"""A real Azurite (npm azurite@3.35.0) Table endpoint for the tests, never a mock.

`make test` installs it under .tools/ and names it in AZURITE_TABLE; the fixture starts it
on a free port with in-memory persistence and telemetry off, once per test session.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _binary() -> str:
    configured = os.environ.get("AZURITE_TABLE")
    candidates = [configured] if configured else []
    candidates.append(str(ROOT / ".tools/azurite/node_modules/.bin/azurite-table"))
    for candidate in candidates:
        path = Path(candidate)
        if not path.is_absolute():
            path = ROOT / path
        if path.exists():
            return str(path)
    found = shutil.which("azurite-table")
    if found:
        return found
    raise RuntimeError("Azurite is not installed: run `make azurite` (or `make test`)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def azurite_table() -> Iterator[str]:
    """A connection string for a running Azurite Table service."""
    port = _free_port()
    workspace = tempfile.mkdtemp(prefix="azurite-")
    process = subprocess.Popen(
        [
            _binary(),
            "--inMemoryPersistence",
            "--disableTelemetry",
            "--silent",
            "--tableHost",
            "127.0.0.1",
            "--tablePort",
            str(port),
        ],
        cwd=workspace,  # anything it writes stays out of the repository
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                raise RuntimeError(f"Azurite exited: {output}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("Azurite did not start") from None
                time.sleep(0.1)
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"TableEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(workspace, ignore_errors=True)
