"""What the command line says and the status it exits with: every failure one line (with
--json, a JSON object on stdout) and an exit status, never a traceback."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

EXIT_OK, EXIT_FAILURE, EXIT_INVALID, EXIT_REJECTED, EXIT_TRANSPORT = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
# Outcomes that mean the request did what its policy allows.
GOOD = {"started", "replaced", "used-existing", "forwarded", "queued", "pending"}
REJECTED = {"rejected", "expired", "canceled"}


class Failure(Exception):
    """A failure the command line reports as one line, with its exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


class TransportError(Failure):
    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_TRANSPORT)


class InputError(Failure):
    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_INVALID)


def report(as_json: bool, message: str, code: int) -> int:
    """One line: on stderr, or with --json a JSON object on stdout."""
    line = " ".join(message.split())  # one line, whatever the message held
    if as_json:
        print(json.dumps({"error": line, "exitCode": code}))
    else:
        print(f"error: {line}", file=sys.stderr)
    return code


def emit(args: argparse.Namespace, payload: Any, text: str) -> None:
    print(json.dumps(payload) if getattr(args, "json", False) else text)


def reason(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error)


def exit_for(outcome: str) -> int:
    if outcome in GOOD:
        return EXIT_OK
    if outcome in REJECTED:
        return EXIT_REJECTED
    if outcome == "invalid":
        return EXIT_INVALID
    return EXIT_FAILURE


def describe(record: Mapping[str, Any]) -> str:
    why = f": {record['reason']}" if record.get("reason") else ""
    return f"{record['outcome']}{why}"
