"""The app's HTTP API from the producer's side: outcomes, instance status, cancel."""

from __future__ import annotations

import asyncio
import time
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import aiohttp

# The longest wait the app holds one request for (`?wait=`, MAX_WAIT_S in the HTTP API):
# a longer wait is a sequence of such requests.
SERVER_WAIT_S = 30.0
DECIDED = 200


class AppError(Exception):
    """The app answered with an error; `status` and `body` say what."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        detail = body.get("detail") or body.get("title") if isinstance(body, dict) else body
        super().__init__(f"HTTP {status}: {detail or _phrase(status)}")


class AppClient:
    def __init__(self, base_url: str, function_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"x-functions-key": function_key} if function_key else {}

    async def _call(self, method: str, path: str, **params: Any) -> tuple[int, Any]:
        timeout = aiohttp.ClientTimeout(total=SERVER_WAIT_S + 30)
        query = {k: str(v) for k, v in params.items() if v is not None}
        async with (
            aiohttp.ClientSession(timeout=timeout, headers=self.headers) as session,
            session.request(method, self.base_url + path, params=query) as response,
        ):
            raw = await response.read()
            try:
                body = await response.json(content_type=None) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")[:200]
            return response.status, body

    async def outcome(self, request_id: str, wait: float | None = None) -> tuple[int, Any]:
        """(200, record) once decided, (202, record) while pending or queued, else AppError."""
        status, body = await self._call(
            "GET", f"/api/requests/{_segment(request_id)}", wait=wait or None
        )
        if status not in (200, 202):
            raise AppError(status, body)
        return status, body

    async def wait_for_outcome(self, request_id: str, timeout: float) -> dict[str, Any]:
        """The request's record once decided, or the latest one (pending, queued) when
        `timeout` seconds pass first. AppError 404 when nothing is recorded by then."""
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            left = deadline - time.monotonic()
            try:
                status, record = await self.outcome(request_id, wait=min(max(left, 0), 30))
            except AppError as error:
                if error.status != 404 or time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(min(0.2, max(deadline - time.monotonic(), 0)))
                continue
            if status == DECIDED or time.monotonic() >= deadline:
                result: dict[str, Any] = record
                return result
            if left > 0 and status != DECIDED:
                # queued behind a running instance: the app answers 202 at once; poll gently.
                await asyncio.sleep(min(0.5, max(deadline - time.monotonic(), 0)))

    async def status(self, instance_id: str) -> Any:
        status, body = await self._call("GET", f"/api/instances/{_segment(instance_id)}")
        if status != 200:
            raise AppError(status, body)
        return body

    async def cancel(self, request_id: str) -> Any:
        status, body = await self._call("DELETE", f"/api/requests/{_segment(request_id)}")
        if status != 200:
            raise AppError(status, body)
        return body


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return "no detail"


def _segment(value: str) -> str:
    # An ID is one path segment: `a/b` must not become two.
    return quote(value, safe="")
