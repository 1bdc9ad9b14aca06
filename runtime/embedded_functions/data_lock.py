"""One process per data directory: two runtimes on one SQLite state would corrupt it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO


class DataDirectoryInUse(RuntimeError):
    pass


class DataDirectoryLock:
    def __init__(self, directory: Path) -> None:
        self.path = directory / ".lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held for the process's life
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise DataDirectoryInUse(
                f"the data directory {self.path.parent} is in use by {holder}; stop it, or "
                "give this runtime another --data-dir (or --in-memory)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
