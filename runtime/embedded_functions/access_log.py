"""One access-log line per HTTP request the runtime serves: method, path, status, time.

The query's values are left out (`?code=…`): a function key travels in `code`, and any
other value may hold what a caller did not mean to log. Bodies are never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

logger = logging.getLogger("embedded_functions.access")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def logged_target(request: web.Request) -> str:
    names = "&".join(f"{name}=…" for name in request.query)
    return request.rel_url.raw_path + (f"?{names}" if names else "")  # as sent: one token


@web.middleware
async def access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.monotonic()
    status = 500  # what the client gets when a handler raises
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as error:
        status = error.status
        raise
    finally:
        logger.info(
            "%s %s %d %.1fms",
            request.method,
            logged_target(request),
            status,
            (time.monotonic() - started) * 1000,
        )
