"""Continuation tokens for `GET instances/`: opaque, and refused unless this runtime made one.

The host answers pages of `top` instances (OrchestrationStatusQueryCondition.PageSize,
100 by default) with the next page's token in `x-ms-continuation-token`. A token here is
the page's last instance ID in base64url with a checksum keyed by the task hub, so a token
of another hub, a hand-made one or a mangled one is recognised and refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

DEFAULT_PAGE_SIZE = 100


class InvalidContinuationToken(ValueError):
    pass


class ContinuationTokens:
    def __init__(self, hub_name: str) -> None:
        self._key = f"continuation:{hub_name}".encode()

    def _sign(self, payload: bytes) -> str:
        digest = hmac.new(self._key, payload, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, last_instance_id: str) -> str:
        payload = json.dumps({"after": last_instance_id}, separators=(",", ":")).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"{body}.{self._sign(payload)}"

    def read(self, token: str) -> str:
        """The instance ID the next page starts after."""
        body, _, signature = token.strip().partition(".")
        try:
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError:
            payload = b""
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidContinuationToken(
                "x-ms-continuation-token is not a token this runtime issued: send the value "
                "of the previous page's x-ms-continuation-token header, or none for the "
                "first page"
            )
        after = json.loads(payload)["after"]
        return str(after)
