"""Strict JSON for the REST send API (the emulator's own reader: it shares no code with
the app it hosts). Refuses what `json.loads` lets through or fails on unpredictably:
nesting deeper than MAX_DEPTH, integers of more than MAX_INTEGER_DIGITS digits, numbers out
of a double's range, NaN and Infinity, lone surrogates (in keys and values), invalid UTF-8
and duplicate keys. Each refusal's text starts with its class.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 64
MAX_INTEGER_DIGITS = 100
_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonRefused(ValueError):
    """`str()` is "<what> is refused (<class>): <detail>"."""

    def __init__(self, refusal: str, detail: str, what: str) -> None:
        self.refusal = refusal
        super().__init__(f"{what} is refused ({refusal}): {detail}")


def check_text(value: str, what: str) -> None:
    found = _SURROGATE.search(value)
    if found is not None:
        raise JsonRefused("encoding", f"a lone surrogate or invalid UTF-8 at {found.start()}", what)


def read_json(raw: bytes | str, what: str) -> Any:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise JsonRefused("encoding", f"not valid UTF-8 at byte {error.start}", what) from None
    check_text(raw, what)

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(items)
        if len(result) != len(items):
            keys = [key for key, _ in items]
            twice = next(key for key in keys if keys.count(key) > 1)
            raise JsonRefused("duplicate-key", f"the key {twice!r} occurs more than once", what)
        return result

    def integer(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
            raise JsonRefused(
                "number", f"an integer of more than {MAX_INTEGER_DIGITS} digits", what
            )
        return int(digits)

    def number(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise JsonRefused("number", "a number out of range for a double", what)
        return value

    def constant(name: str) -> Any:
        raise JsonRefused("number", f"{name} is not a JSON number", what)

    try:
        value = json.loads(
            raw,
            object_pairs_hook=pairs,
            parse_int=integer,
            parse_float=number,
            parse_constant=constant,
        )
    except RecursionError:
        raise JsonRefused("depth", f"nested deeper than {MAX_DEPTH} levels", what) from None
    except JsonRefused:
        raise
    except ValueError as error:
        raise JsonRefused("syntax", f"not valid JSON: {error}", what) from None
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            check_text(item, what)
        elif isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                raise JsonRefused("depth", f"nested deeper than {MAX_DEPTH} levels", what)
            for key in item if isinstance(item, dict) else ():
                check_text(key, what)
            children = list(item.values()) if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return value
