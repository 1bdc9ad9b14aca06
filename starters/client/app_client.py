"""The app's HTTP API from the producer's side: outcomes, instance status, cancel."""

from __future__ import annotations

from typing import Any

import aiohttp


class AppError(Exception):
    """The app answered with an error; `status` and `body` say what."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        detail = body.get("detail") if isinstance(body, dict) else body
        super().__init__(f"{status}: {detail}")


class AppClient:
    def __init__(self, base_url: str, function_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"x-functions-key": function_key} if function_key else {}

    async def _call(self, method: str, path: str, **params: Any) -> tuple[int, Any]:
        timeout = aiohttp.ClientTimeout(total=60)
        query = {k: str(v) for k, v in params.items() if v is not None}
        async with (
            aiohttp.ClientSession(timeout=timeout, headers=self.headers) as session,
            session.request(method, self.base_url + path, params=query) as response,
        ):
            body = await response.json(content_type=None) if await response.read() else None
            return response.status, body

    async def outcome(self, request_id: str, wait: float | None = None) -> tuple[int, Any]:
        """(200, record) once decided, (202, record) while pending or queued, else AppError."""
        status, body = await self._call("GET", f"/api/requests/{request_id}", wait=wait)
        if status not in (200, 202):
            raise AppError(status, body)
        return status, body

    async def status(self, instance_id: str) -> Any:
        status, body = await self._call("GET", f"/api/instances/{instance_id}")
        if status != 200:
            raise AppError(status, body)
        return body

    async def cancel(self, request_id: str) -> Any:
        status, body = await self._call("DELETE", f"/api/requests/{request_id}")
        if status != 200:
            raise AppError(status, body)
        return body
