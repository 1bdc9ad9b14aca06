"""A failed activity's details as the app's own error: the user's frames, not the runtime's.

On the host the worker reports the exception it caught around the user's function, and
the Durable extension hands the orchestration "Activity function 'X' failed: ..." with
those details (TaskActivityShim). Here the activity is called from the runtime's own code
(and a thread pool), so the frames above the user's function are this runtime's: dropped.
"""

from __future__ import annotations

import sysconfig
import traceback
from pathlib import Path

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)  # this package, wherever installed
_STDLIB_DIR = str(Path(sysconfig.get_paths()["stdlib"]).resolve())  # asyncio, concurrent.futures


def _is_runtime_frame(filename: str) -> bool:
    try:
        path = str(Path(filename).resolve())
    except (OSError, ValueError):
        return False
    if path.startswith(_PACKAGE_DIR):
        return True
    # site-packages may sit under the standard library's directory: it is not the runtime.
    return path.startswith(_STDLIB_DIR) and "site-packages" not in path


def user_traceback(error: BaseException) -> str:
    """The traceback from the first frame that is not the runtime's own."""
    summary = traceback.TracebackException.from_exception(error)
    frames = list(summary.stack)
    while frames and _is_runtime_frame(frames[0].filename):
        frames.pop(0)
    summary.stack = traceback.StackSummary.from_list(frames)
    return "".join(summary.format())
