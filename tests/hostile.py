"""Hostile input, generated: JSON documents built to break a reader, each with the class of
refusal it must get (depth, number, encoding, duplicate-key), and the hypothesis profiles.

`make test` runs the `default` profile (a few dozen cases a property); `make test-slow`
runs `thorough` (HYPOTHESIS_PROFILE=thorough: 2,000 a property, over 10,000 in all).
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st

from starters.outcomes import OutcomeRecord

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"
settings.register_profile("default", max_examples=40, deadline=None, derandomize=True)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile("thorough" if THOROUGH else "default")
# Cases per property of the hostile-input suite.
CASES = 2000 if THOROUGH else 30


@dataclass(frozen=True)
class Hostile:
    """A document that must be refused, and the class its refusal must name."""

    raw: bytes
    refusal: str

    def __repr__(self) -> str:
        shown = self.raw if len(self.raw) <= 80 else self.raw[:77] + b"..."
        return f"Hostile({self.refusal}, {shown!r}, {len(self.raw)} bytes)"


_SURROGATE_ESCAPES = [r"\ud800", r"\udfff", r"\udc00x", r"a\ud83d", r"\ud83d\u0041"]
_INVALID_UTF8 = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80", b"\xc0"]
_keys = st.text(alphabet="abcXYZ019_ -", max_size=8)


@st.composite
def hostile_pieces(draw: st.DrawFn) -> Hostile:
    """One hostile JSON value (without context)."""
    kind = draw(
        st.sampled_from(
            ["depth", "integer", "float", "constant", "escape", "escape-key", "bytes", "duplicate"]
        )
    )
    if kind == "depth":
        levels = draw(st.integers(65, 3000))
        key = json.dumps(draw(_keys))
        opener, closer = draw(st.sampled_from([("[", "]"), ("{" + key + ":", "}")]))
        return Hostile((opener * levels + "0" + closer * levels).encode(), "depth")
    if kind == "integer":
        digits = draw(st.integers(101, 6000))
        sign = draw(st.sampled_from(["", "-"]))
        return Hostile(f"{sign}{'9' * digits}".encode(), "number")
    if kind == "float":
        exponent = draw(st.integers(309, 100_000))
        return Hostile(f"{draw(st.sampled_from(['', '-']))}1.5e{exponent}".encode(), "number")
    if kind == "constant":
        return Hostile(draw(st.sampled_from(["NaN", "Infinity", "-Infinity"])).encode(), "number")
    if kind in ("escape", "escape-key"):
        text = draw(_keys) + draw(st.sampled_from(_SURROGATE_ESCAPES)) + draw(_keys)
        doc = f'"{text}"' if kind == "escape" else f'{{"{text}": 1}}'
        return Hostile(doc.encode(), "encoding")
    if kind == "bytes":
        head, tail = draw(_keys).encode(), draw(_keys).encode()
        return Hostile(b'"' + head + draw(st.sampled_from(_INVALID_UTF8)) + tail + b'"', "encoding")
    key = json.dumps(draw(_keys))
    values = draw(st.lists(st.integers(0, 9), min_size=2, max_size=3))
    members = ", ".join(f"{key}: {v}" for v in values)
    return Hostile(f"{{{members}}}".encode(), "duplicate-key")


@st.composite
def hostile_documents(draw: st.DrawFn) -> Hostile:
    """A hostile value alone, in an array or as a member of an object."""
    piece = draw(hostile_pieces())
    context = draw(st.sampled_from(["bare", "array", "object"]))
    if context == "array":
        return Hostile(b"[1, " + piece.raw + b"]", piece.refusal)
    if context == "object":
        return Hostile(b'{"ok": true, "value": ' + piece.raw + b"}", piece.refusal)
    return piece


def start_request_with(piece: Hostile, instance_id: str, request_id: str) -> Hostile:
    """A start request, valid but for its input."""
    head = json.dumps(
        {
            "schemaVersion": 1,
            "orchestrator": "long_job",
            "instanceId": instance_id,
            "requestId": request_id,
        }
    ).encode()
    return Hostile(head[:-1] + b', "input": ' + piece.raw + b"}", piece.refusal)


def cloudevent_with(piece: Hostile, event_id: str = "e-1") -> Hostile:
    """A CloudEvent, valid but for its data."""
    head = json.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "/contoso/reports",
            "type": "Contoso.Reports.ReportRequested",
        }
    ).encode()
    return Hostile(head[:-1] + b', "data": ' + piece.raw + b"}", piece.refusal)


def kept_bytes(record: OutcomeRecord) -> bytes:
    """The bytes a record kept: its body, decoded from base64 when it says so."""
    assert record.body is not None
    if record.body_encoding == "base64":
        return base64.b64decode(record.body)
    assert record.body_encoding is None
    return record.body.encode()
