"""Configuration files read as the host reads them, and their errors said plainly.

host.json, local.settings.json, Config.json (and function.json) are JSON that people edit
by hand; the host reads them with JSON.NET, which takes `//` and `/* */` comments. An
error names the file, the line and what is wrong, and the command line exits 3 with it
(no traceback).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any


class ConfigFileError(ValueError):
    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        self.path, self.line, self.problem = path, line, problem
        where = f"{path}, line {line}" if line else str(path)
        super().__init__(f"{where}: {problem}")


# A string, or a comment; strings first so `"http://x"` is not a comment.
_TOKENS = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*[\s\S]*?\*/')


def _without_comments(text: str) -> str:
    """Comments blanked out, line breaks kept, so a parse error's line is the file's."""

    def blank(match: re.Match[str]) -> str:
        token = match.group(0)
        if token.startswith('"'):
            return token
        return re.sub(r"[^\n]", " ", token)

    return _TOKENS.sub(blank, text)


def read_json_config(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigFileError(path, None, f"is not UTF-8 text ({error.reason})") from None
    try:
        return json.loads(_without_comments(text))
    except json.JSONDecodeError as error:
        raise ConfigFileError(
            path, error.lineno, f"not valid JSON: {error.msg} (column {error.colno})"
        ) from None


def line_of(path: Path, needle: str) -> int | None:
    """The first line of `path` that holds `needle` (a key or a value), for errors that
    JSON parsing does not locate."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for number, line in enumerate(lines, start=1):
        if needle in line:
            return number
    return None


def expect_object(path: Path, value: Any, what: str, key: str | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        line = line_of(path, f'"{key}"') if key else 1
        raise ConfigFileError(path, line, f"{what} must be a JSON object")
    return value
