"""The app's HTTP API from the producer's side: outcomes, instance status, cancel, the
listings and resubmission."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
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

    async def list_requests(self, **filters: str | int | None) -> dict[str, Any]:
        """One page of `GET /api/requests` (filters by their query names: instanceId,
        outcome, orchestrator, since, until, limit, include, continuationToken)."""
        return await self._page("/api/requests", filters)

    async def list_instances(self, **filters: str | int | None) -> dict[str, Any]:
        """One page of `GET /api/instances` (prefix, status, limit, include,
        continuationToken)."""
        return await self._page("/api/instances", filters)

    async def every_request(self, **filters: str | int | None) -> AsyncIterator[dict[str, Any]]:
        """Every record the filters match, newest first, following continuation tokens."""
        async for item in self._every(self.list_requests, filters):
            yield item

    async def every_instance(self, **filters: str | int | None) -> AsyncIterator[dict[str, Any]]:
        async for item in self._every(self.list_instances, filters):
            yield item

    async def resubmit(self, request_id: str) -> Any:
        """Decide a dead-lettered request again, from its record (202 with the record)."""
        path = f"/api/requests/{_segment(request_id)}/resubmit"
        status, body = await self._call("POST", path)
        if status != 202:
            raise AppError(status, body)
        return body

    async def _page(self, path: str, filters: dict[str, str | int | None]) -> dict[str, Any]:
        status, body = await self._call("GET", path, **filters)
        if status != 200 or not isinstance(body, dict):
            raise AppError(status, body)
        return body

    async def _every(self, page: Any, filters: dict[str, str | int | None]) -> AsyncIterator[Any]:
        token: str | None = None
        while True:
            body = await page(**filters, continuationToken=token)
            for item in body["items"]:
                yield item
            token = body.get("continuationToken")
            if not token:
                return


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return "no detail"


def _segment(value: str) -> str:
    # An ID is one path segment: `a/b` must not become two.
    return quote(value, safe="")
