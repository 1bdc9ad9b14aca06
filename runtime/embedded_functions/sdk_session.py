"""The Durable SDK's shared HTTP session, which binds to the event loop that first used it."""

from __future__ import annotations

import asyncio
import contextlib


async def reset_durable_sdk_session() -> None:
    """Close and forget the SDK's shared aiohttp session (it binds to one event loop)."""
    from azure.durable_functions.models.utils import http_utils

    session = getattr(http_utils, "_client_session", None)
    if session is not None and not session.closed:
        with contextlib.suppress(RuntimeError):  # created on a loop that is gone
            await session.close()
    http_utils._client_session = None
    http_utils._session_lock = asyncio.Lock()
