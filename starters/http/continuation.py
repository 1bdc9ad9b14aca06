"""Continuation tokens for the listings: opaque to callers, checked when they come back.

A token is the base64url of a small JSON object: where the next page starts and a digest
of the filters it was issued for. A token that is not one of ours, or that comes back
with other filters (the position would mean nothing there), is refused with a 400, never
followed blindly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping

TOKEN_VERSION = 1
MAX_TOKEN_CHARS = 4096


class BadToken(ValueError):
    pass


def filters_digest(filters: Mapping[str, str | None]) -> str:
    canonical = json.dumps(sorted((k, v) for k, v in filters.items() if v is not None))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def issue_token(position: Mapping[str, str], filters: Mapping[str, str | None]) -> str:
    document = {"v": TOKEN_VERSION, "f": filters_digest(filters), "p": dict(position)}
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def read_token(
    token: str, filters: Mapping[str, str | None], keys: frozenset[str]
) -> dict[str, str]:
    """The position `token` holds, with exactly `keys`; BadToken if it is not a token this
    API issued for these filters."""
    if len(token) > MAX_TOKEN_CHARS:
        raise BadToken("is too long to be a token this API issued")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        document = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadToken("is not a token this API issued") from None
    position = document.get("p") if isinstance(document, dict) else None
    if (
        not isinstance(position, dict)
        or document.get("v") != TOKEN_VERSION
        or set(position) != keys
        or not all(isinstance(value, str) for value in position.values())
    ):
        raise BadToken("is not a token this API issued")
    if document.get("f") != filters_digest(filters):
        raise BadToken("was issued for other filters: repeat the query it came from")
    return position
