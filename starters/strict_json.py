"""Reading JSON that comes from outside: one reader for every entry point.

`json.loads` alone is not safe on untrusted input: nesting deeper than the recursion limit
raises `RecursionError`, an integer of more than 4,300 digits raises a bare `ValueError`,
`1e999` becomes `inf` (which `json.dumps` writes as the non-JSON `Infinity`), lone surrogate
escapes (`"\\ud800"`) are accepted and fail later when the text is encoded, and a duplicate
key silently lets the last value win. Here each of these is a refusal whose reason names
its class, so every caller can turn it into a problem document or an `invalid` record.
"""

from __future__ import annotations

import json
import math
import re
from enum import Enum
from typing import Any

# Deep enough for any real document; far below the interpreter's recursion limit, so that
# nothing downstream (the schema validator, canonical JSON, the stores) recurses too deep.
MAX_DEPTH = 64
# Digits of an integer (sign not counted): beyond any 64-bit or decimal identifier, far
# below Python's 4,300-digit int-string limit.
MAX_INTEGER_DIGITS = 100

_SURROGATE = re.compile("[\ud800-\udfff]")


class RefusalClass(str, Enum):
    """Why a document was refused; the value is what reasons and problem documents show."""

    SIZE = "size"
    ENCODING = "encoding"
    SYNTAX = "syntax"
    DEPTH = "depth"
    NUMBER = "number"
    DUPLICATE_KEY = "duplicate-key"


class JsonRefused(ValueError):
    """A document this reader does not accept; `str()` names the class and the detail."""

    def __init__(self, refusal: RefusalClass, detail: str, what: str = "the body") -> None:
        self.refusal = refusal
        self.detail = detail
        self.what = what
        super().__init__(f"{what} is refused ({refusal.value}): {detail}")


def check_text(value: str, what: str) -> None:
    """Refuse text that cannot be encoded as UTF-8 (a lone surrogate), e.g. a header.

    A header or query value decoded from invalid UTF-8 arrives as lone surrogates
    (`surrogateescape`); stored or logged, it would fail at the first encode.
    """
    found = _SURROGATE.search(value)
    if found is not None:
        raise JsonRefused(
            RefusalClass.ENCODING,
            f"a lone surrogate or invalid UTF-8 (U+{ord(found.group()):04X}) "
            f"at character {found.start()}",
            what,
        )


def decode_text(raw: bytes | str, what: str = "the body") -> str:
    """The text of `raw`, which must be UTF-8 (RFC 8259 section 8.1)."""
    if isinstance(raw, str):
        check_text(raw, what)
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise JsonRefused(
            RefusalClass.ENCODING, f"not valid UTF-8 at byte {error.start}", what
        ) from None


def read_json(raw: bytes | str, *, what: str = "the body", max_bytes: int | None = None) -> Any:
    """Parse `raw` as strict JSON (RFC 8259, UTF-8); raise JsonRefused naming the class."""
    size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    if max_bytes is not None and size > max_bytes:
        raise JsonRefused(
            RefusalClass.SIZE, f"{size} bytes, over the limit of {max_bytes} bytes", what
        )
    text = decode_text(raw, what)
    reader = _Reader(what)
    try:
        value = reader.loads(text)
    except RecursionError:
        raise JsonRefused(
            RefusalClass.DEPTH, f"nested deeper than {MAX_DEPTH} levels", what
        ) from None
    except JsonRefused:
        raise
    except ValueError as error:  # json.JSONDecodeError is a ValueError
        raise JsonRefused(RefusalClass.SYNTAX, f"not valid JSON: {error}", what) from None
    _check_tree(value, what)
    return value


class _Reader:
    def __init__(self, what: str) -> None:
        self.what = what

    def loads(self, text: str) -> Any:
        return json.loads(
            text,
            object_pairs_hook=self._object,
            parse_int=self._integer,
            parse_float=self._float,
            parse_constant=self._constant,
        )

    def _object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    raise JsonRefused(
                        RefusalClass.DUPLICATE_KEY,
                        f"the key {key!r} occurs more than once in one object",
                        self.what,
                    )
                seen.add(key)
        return result

    def _integer(self, digits: str) -> int:
        count = len(digits.lstrip("-"))
        if count > MAX_INTEGER_DIGITS:
            raise JsonRefused(
                RefusalClass.NUMBER,
                f"an integer of {count} digits (at most {MAX_INTEGER_DIGITS})",
                self.what,
            )
        return int(digits)

    def _float(self, text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            shown = text if len(text) <= 40 else text[:37] + "..."
            raise JsonRefused(
                RefusalClass.NUMBER, f"{shown} is out of range for a double", self.what
            )
        return value

    def _constant(self, name: str) -> Any:
        raise JsonRefused(RefusalClass.NUMBER, f"{name} is not a JSON number", self.what)


def _check_tree(value: Any, what: str) -> None:
    """Depth and text checks, without recursion (the document may be wide and deep)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            check_text(item, what)
        elif isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                raise JsonRefused(
                    RefusalClass.DEPTH, f"nested deeper than {MAX_DEPTH} levels", what
                )
            if isinstance(item, dict):
                for key, child in item.items():
                    check_text(key, what)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
