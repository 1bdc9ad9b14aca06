"""Activities run for the runtime: async ones on the loop, the others on a thread pool."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from azure.functions import _durable_functions as df_codec

from ..app_loader import FunctionIndex, FunctionInfo
from ..clock import RuntimeClock
from .activity_errors import user_traceback
from .history import EventType, event
from .instances import EVENT
from .statuses import FINISHED
from .store import ActivityItem, DurableStore

logger = logging.getLogger("embedded_functions.durable")


class ActivityRunning:
    """DurableRuntime's activity half: what it uses of the runtime is declared here."""

    store: DurableStore
    clock: RuntimeClock
    functions: FunctionIndex
    client_binding: Callable[[], str] | None
    _activities: deque[ActivityItem]
    _running_activities: set[int]
    _wake: asyncio.Event
    _executor: ThreadPoolExecutor

    _enqueue: Callable[..., None]  # DurableRuntime's: an inbox item for an instance

    # -- activities ---------------------------------------------------------------------

    async def _run_activity(self, item: ActivityItem) -> None:
        try:
            outcome = await self._invoke_activity(item)
            with self.store.transaction():
                if not self.store.delete_activity(item.id):
                    return  # purged meanwhile
                row = self.store.get_instance(item.instance_id)
                if row is None or row.execution_id != item.execution_id or row.status in FINISHED:
                    return  # the execution it belonged to is over
                meta = {"retry": item.meta["retry"]} if "retry" in item.meta else None
                if outcome[0]:
                    body = event(
                        EventType.TaskCompleted,
                        self.clock.now(),
                        TaskScheduledId=item.task_id,
                        Result=outcome[1],
                    )
                    meta = None
                else:
                    body = event(
                        EventType.TaskFailed,
                        self.clock.now(),
                        TaskScheduledId=item.task_id,
                        Reason=outcome[1],
                        Details=outcome[2],
                    )
                self._enqueue(
                    item.instance_id, EVENT, body, execution_id=item.execution_id, meta=meta
                )
        except Exception:
            logger.exception("activity %s of %s could not be recorded", item.name, item.instance_id)
            self._activities.append(item)  # try again
        finally:
            self._running_activities.discard(item.id)
            self._wake.set()

    async def _invoke_activity(self, item: ActivityItem) -> tuple[bool, str | None, str | None]:
        function = self.functions.activity(item.name)
        if function is None:
            return (
                False,
                f"The function '{item.name}' doesn't exist, is disabled, or is not an activity "
                "function.",
                None,
            )
        try:
            value = df_codec.df_loads(item.input) if item.input is not None else None
        except Exception:
            value = item.input
        kwargs = self._binding_arguments(function)
        kwargs[str(function.trigger["name"])] = value
        try:
            if function.is_async:
                result = await function.function(**kwargs)
            else:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(
                    self._executor, partial(function.function, **kwargs)
                )
            return True, df_codec.df_dumps(result), None
        except Exception as error:
            return (
                False,
                f"Activity function '{function.name}' failed: {error}",
                user_traceback(error),
            )

    def _binding_arguments(self, function: FunctionInfo) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if function.durable_client_names and self.client_binding is not None:
            for name in function.durable_client_names:
                kwargs[name] = self.client_binding()
        return kwargs
