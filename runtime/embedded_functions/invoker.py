"""Calling app functions as the Python worker does: arguments by binding name."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from .app_loader import FunctionInfo

logger = logging.getLogger("embedded_functions.functions")

# Bindings the embedded host can fill in; any other binding makes the function unsupported.
SUPPORTED_BINDINGS = frozenset(
    {
        "httpTrigger",
        "http",
        "serviceBusTrigger",
        "timerTrigger",
        "durableClient",
        "orchestrationTrigger",
        "activityTrigger",
        "entityTrigger",
    }
)


class Invoker:
    def __init__(self, client_binding: Callable[[], str], max_threads: int = 32) -> None:
        self.client_binding = client_binding
        self._executor = ThreadPoolExecutor(max_threads, thread_name_prefix="function")

    @staticmethod
    def unsupported(info: FunctionInfo) -> list[str]:
        return sorted({str(b.get("type")) for b in info.bindings} - SUPPORTED_BINDINGS)

    async def invoke(self, info: FunctionInfo, trigger_value: Any) -> Any:
        kwargs: dict[str, Any] = {str(info.trigger["name"]): trigger_value}
        for name in info.durable_client_names:
            kwargs[name] = self.client_binding()
        if info.is_async:
            return await info.function(**kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(info.function, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
