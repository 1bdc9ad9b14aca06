"""A FIFO of early external events per name, patched into the Durable Python SDK.

azure-functions-durable (1.7.0, the newest release) keeps one deferred completion per
event name when an event arrives before the orchestration waits for it
(`TaskOrchestrationExecutor.set_task_value` writes `context.deferred_tasks[name]`): a later
early event of the same name overwrites an earlier one, and
`DurableOrchestrationContext._add_to_open_tasks` fires the deferred completion without
removing it, so every later wait for that name gets the same stale event again. Upstream:
Azure/azure-functions-durable-python#507; the JavaScript SDK fixed the same defect with a
FIFO per event (Azure/azure-functions-durable-js#707).

The fix changes only the early-event path: an `EventRaised` that finds no waiter is put at
the end of its name's queue, and a new waiter for that name takes the head of the queue,
once. Task completions by sequence number (activities, timers, sub-orchestrations) keep
the SDK's own code. Replay stays deterministic: the queue is rebuilt from the history in
the same order on every episode.

It replaces two SDK methods, so it is installed only on the versions it was tested with
(`TESTED_VERSIONS`); `install` refuses any other. `build_blueprint` installs it, never an
import of this module.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

SDK_DISTRIBUTION = "azure-functions-durable"
# The releases whose `set_task_value` and `_add_to_open_tasks` this patch was read against
# and tested with (tests/test_sdk_event_fifo.py). A new release must be re-checked: it may
# fix the defect itself, or change the methods this replaces.
TESTED_VERSIONS = frozenset({"1.7.0"})
# The key of an external event's task (the event name) in the SDK's completion table.
_EVENT_ID_KEY = "Name"
_QUEUE_ATTRIBUTE = "_starters_early_events"


class UnsupportedSdkVersion(RuntimeError):
    """The installed SDK is not one the early-event fix was tested with."""


@dataclass(frozen=True)
class _Original:
    set_task_value: Callable[..., Any]
    add_to_open_tasks: Callable[..., Any]


_lock = threading.Lock()
_original: _Original | None = None


def installed_sdk_version() -> str | None:
    try:
        return version(SDK_DISTRIBUTION)
    except PackageNotFoundError:
        return None


def is_supported(sdk_version: str | None = None) -> bool:
    return (sdk_version or installed_sdk_version()) in TESTED_VERSIONS


def is_installed() -> bool:
    return _original is not None


def install() -> None:
    """Patch the SDK (idempotent). Raises UnsupportedSdkVersion on an untested version."""
    global _original
    sdk_version = installed_sdk_version()
    if not is_supported(sdk_version):
        raise UnsupportedSdkVersion(
            f"{SDK_DISTRIBUTION} {sdk_version or '(not installed)'} is not a version the "
            "forward policy's early-event fix was tested with "
            f"(tested: {', '.join(sorted(TESTED_VERSIONS))}); without it, repeated events "
            "of one name are lost or delivered again. Pin a tested version in "
            "requirements.txt, or re-check starters/sdk_event_fifo.py against this one"
        )
    from azure.durable_functions.models.DurableOrchestrationContext import (
        DurableOrchestrationContext,
    )
    from azure.durable_functions.models.Task import AtomicTask
    from azure.durable_functions.models.TaskOrchestrationExecutor import (
        TaskOrchestrationExecutor,
    )

    with _lock:
        if _original is not None:
            return
        original = _Original(
            set_task_value=TaskOrchestrationExecutor.set_task_value,
            add_to_open_tasks=DurableOrchestrationContext._add_to_open_tasks,
        )

        def set_task_value(self: Any, event: Any, is_success: bool, id_key: str) -> None:
            if id_key != _EVENT_ID_KEY:
                original.set_task_value(self, event, is_success, id_key)
                return
            name = getattr(event, id_key)
            if self.context.open_tasks.get(name):
                original.set_task_value(self, event, is_success, id_key)
                return
            # No waiter yet: keep it, behind any earlier early event of the same name.
            _queue_of(self.context).setdefault(name, deque()).append(
                lambda: original.set_task_value(self, event, is_success, id_key)
            )

        def add_to_open_tasks(self: Any, task: Any) -> None:
            fresh_waiter = (
                isinstance(task, AtomicTask) and not task._is_scheduled and isinstance(task.id, str)
            )
            original.add_to_open_tasks(self, task)
            if not fresh_waiter:
                return
            waiting = _queue_of(self).get(task.id)
            if waiting:
                complete = waiting.popleft()
                if not waiting:
                    del _queue_of(self)[task.id]
                complete()

        TaskOrchestrationExecutor.set_task_value = set_task_value
        DurableOrchestrationContext._add_to_open_tasks = add_to_open_tasks
        _original = original


def uninstall() -> None:
    """Put the SDK's own methods back (for the test that shows the defect)."""
    global _original
    from azure.durable_functions.models.DurableOrchestrationContext import (
        DurableOrchestrationContext,
    )
    from azure.durable_functions.models.TaskOrchestrationExecutor import (
        TaskOrchestrationExecutor,
    )

    with _lock:
        if _original is None:
            return
        TaskOrchestrationExecutor.set_task_value = _original.set_task_value
        DurableOrchestrationContext._add_to_open_tasks = _original.add_to_open_tasks
        _original = None


@contextmanager
def disabled() -> Iterator[None]:
    """The SDK as released, for the duration of the block; the fix is restored after."""
    was_installed = is_installed()
    uninstall()
    try:
        yield
    finally:
        if was_installed:
            install()


def _queue_of(context: Any) -> dict[str, deque[Callable[[], None]]]:
    queues: dict[str, deque[Callable[[], None]]] | None = getattr(context, _QUEUE_ATTRIBUTE, None)
    if queues is None:
        queues = {}
        setattr(context, _QUEUE_ATTRIBUTE, queues)
    return queues
