"""Service Bus triggers, dispatched as the Functions host does with `host.json` settings.

A session trigger runs `maxConcurrentSessions` slots. A slot accepts one session, handles
its messages (`maxConcurrentCallsPerSession` at a time), keeps the locks renewed while a
function runs (up to `maxAutoLockRenewalDuration`), and lets the session go only after it
has been idle for `sessionIdleTimeout`, then accepts the next one. It never skips that
wait: the idle timeout is what bounds distinct-ID throughput in Azure too. With
`autoCompleteMessages` the host completes a message when the function returns and
abandons it when the function raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Any

import azure.functions as func
from azure.functions.servicebus import ServiceBusMessage

from ..app_loader import FunctionInfo
from .config import parse_duration
from .session_queue import DEAD_LETTER_SUFFIX, LockLost, Message, SessionLease, SessionQueues

logger = logging.getLogger("embedded_functions.servicebus.triggers")


@dataclass(frozen=True)
class ServiceBusOptions:
    """`extensions.serviceBus` in host.json, with the host's defaults."""

    max_concurrent_sessions: int = 8
    max_concurrent_calls_per_session: int = 1
    max_concurrent_calls: int = 16
    session_idle_timeout: timedelta | None = None
    auto_complete_messages: bool = True
    max_auto_lock_renewal_duration: timedelta = timedelta(minutes=5)

    @classmethod
    def from_host_json(cls, config: dict[str, Any]) -> ServiceBusOptions:
        section = (config.get("extensions") or {}).get("serviceBus") or {}
        idle = section.get("sessionIdleTimeout")
        renewal = section.get("maxAutoLockRenewalDuration")
        return cls(
            max_concurrent_sessions=int(section.get("maxConcurrentSessions", 8)),
            max_concurrent_calls_per_session=int(section.get("maxConcurrentCallsPerSession", 1)),
            max_concurrent_calls=int(section.get("maxConcurrentCalls", 16)),
            session_idle_timeout=parse_duration(str(idle)) if idle else None,
            auto_complete_messages=bool(section.get("autoCompleteMessages", True)),
            max_auto_lock_renewal_duration=(
                parse_duration(str(renewal)) if renewal else timedelta(minutes=5)
            ),
        )

    @property
    def idle_seconds(self) -> float:
        # Unset, the Service Bus SDK waits up to a minute for the next session message.
        return (self.session_idle_timeout or timedelta(seconds=60)).total_seconds()


def to_binding_message(message: Message, dead_letter: bool = False) -> func.ServiceBusMessage:
    def utc(moment: Any) -> Any:
        return moment.astimezone(timezone.utc) if moment else None

    return ServiceBusMessage(
        body=message.body,
        message_id=message.message_id,
        session_id=message.session_id,
        content_type=message.content_type,
        delivery_count=message.delivery_count,
        enqueued_time_utc=utc(message.enqueued_at),
        expires_at_utc=utc(message.expires_at),
        locked_until=utc(message.locked_until),
        lock_token=message.lock_token,
        sequence_number=message.sequence_number,
        label=message.broker.get("label"),
        correlation_id=message.broker.get("correlationId"),
        application_properties=dict(message.application_properties),
        user_properties=dict(message.application_properties),
        dead_letter_reason=message.dead_letter_reason if dead_letter else None,
        dead_letter_error_description=message.dead_letter_description if dead_letter else None,
        dead_letter_source=message.queue if dead_letter else None,
    )


class QueueSignals:
    """Wakes the receivers a send concerns, not every receiver of the queue.

    A slot that holds a session waits on that session; a message for it wakes that slot
    alone. A message for a session no slot holds wakes one slot waiting to accept. Waking
    every slot on every send cost one receive query per slot per message (with 128 slots,
    128 queries a send). Without session IDs (a plain queue, a dead-letter queue, a
    caller that does not say) every waiter of the queue wakes.
    """

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self._sessions: dict[tuple[str, str], asyncio.Event] = {}
        self._acceptors: dict[str, deque[asyncio.Future[None]]] = {}

    def notify(self, queue: str, sessions: frozenset[str] | None = None) -> None:
        if sessions is None:
            event = self._events.pop(queue, None)
            if event is not None:
                event.set()
            for (name, _), session_event in self._sessions.items():
                if name == queue:
                    session_event.set()
            for _ in range(len(self._acceptors.get(queue, ()))):
                self._wake_acceptor(queue)
            return
        for session in sessions:
            held = self._sessions.get((queue, session))
            if held is not None:
                held.set()
            else:
                self._wake_acceptor(queue)

    def _wake_acceptor(self, queue: str) -> None:
        waiting = self._acceptors.get(queue)
        while waiting:
            future = waiting.popleft()
            if not future.done():
                future.set_result(None)
                return

    async def wait(self, queue: str, timeout: float) -> None:
        event = self._events.setdefault(queue, asyncio.Event())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), max(0.0, timeout))

    async def wait_to_accept(self, queue: str, timeout: float) -> None:
        """Until a message for a session nobody holds arrives (or the timeout)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._acceptors.setdefault(queue, deque()).append(future)
        try:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(future, max(0.0, timeout))
        finally:
            future.cancel()
            with contextlib.suppress(ValueError):  # a woken waiter has left already
                self._acceptors[queue].remove(future)

    def hold(self, queue: str, session: str) -> None:
        self._sessions[(queue, session)] = asyncio.Event()

    def let_go(self, queue: str, session: str) -> None:
        self._sessions.pop((queue, session), None)

    async def wait_in_session(self, queue: str, session: str, timeout: float) -> bool:
        """Until a message for this held session arrives (True) or the timeout (False)."""
        event = self._sessions.get((queue, session))
        if event is None:
            return True
        signalled = True
        try:
            await asyncio.wait_for(event.wait(), max(0.0, timeout))
        except asyncio.TimeoutError:
            signalled = event.is_set()  # set as the timeout fired
        event.clear()
        return signalled


Invoke = Callable[[FunctionInfo, Any], Awaitable[Any]]


class ServiceBusTriggers:
    def __init__(
        self,
        queues: SessionQueues,
        signals: QueueSignals,
        invoke: Invoke,
        options: ServiceBusOptions,
    ) -> None:
        self.queues = queues
        self.signals = signals
        self.invoke = invoke
        self.options = options
        self._tasks: list[asyncio.Task[None]] = []
        self._dead_letter_tasks: list[asyncio.Task[None]] = []
        self._queues: set[str] = set()
        self._inflight: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self.invocations = 0

    def start(self, function: FunctionInfo, queue_name: str) -> None:
        if queue_name.endswith(DEAD_LETTER_SUFFIX):
            base = queue_name[: -len(DEAD_LETTER_SUFFIX)]
            self.queues.ensure_queue(base)
            task = self._spawn(self._dead_letter_receiver(function, base), f"{function.name}-dlq")
            self._dead_letter_tasks.append(task)
            return
        self._queues.add(queue_name)
        sessions = bool(function.trigger.get("isSessionsEnabled"))
        queue = self.queues.ensure_queue(queue_name, requires_session=sessions)
        if queue.requires_session:
            for slot in range(self.options.max_concurrent_sessions):
                self._spawn(self._session_slot(function, queue_name), f"{function.name}-s{slot}")
        else:
            for worker in range(self.options.max_concurrent_calls):
                self._spawn(self._receiver(function, queue_name), f"{function.name}-r{worker}")

    def _spawn(self, coroutine: Any, name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.append(task)
        return task

    def is_idle(self) -> bool:
        """No function running on a message, none deliverable to a trigger's queue."""
        return not self._inflight and not any(self.queues.deliverable(q) for q in self._queues)

    async def stop_dead_letter_triggers(self) -> None:
        """Stop reading dead-letter queues (the rest keep running): dead letters stay put."""
        for task in self._dead_letter_tasks:
            task.cancel()
        await asyncio.gather(*self._dead_letter_tasks, return_exceptions=True)

    async def stop(self, drain_seconds: float = 30.0) -> None:
        """Stop taking messages; let running functions finish (bounded), then cancel."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=drain_seconds)
        for task in self._inflight:
            task.cancel()

    # -- loops ----------------------------------------------------------------------

    def _until_due(self, queue: str, limit: float) -> float:
        """The wait, cut short by the earliest scheduled message (it comes with no signal)."""
        due = self.queues.next_visible_after(queue)
        if due is not None:
            limit = min(limit, (due - self.queues.clock.now()).total_seconds())
        return limit

    async def _wait_for_work(self, queue: str, limit: float) -> None:
        await self.signals.wait(queue, self._until_due(queue, limit))

    async def _session_slot(self, function: FunctionInfo, queue: str) -> None:
        idle = self.options.idle_seconds
        loop = asyncio.get_running_loop()
        while not self._stopping:
            lease = self.queues.accept_session(queue)
            if lease is None:
                # The timeout is a safety net, not the way work arrives: another holder's
                # lease that lapses (or a clock that skips ahead) frees a session silently.
                await self.signals.wait_to_accept(queue, self._until_due(queue, 1.0))
                continue
            self.signals.hold(queue, lease.session_id)
            idle_until = loop.time() + idle
            running: set[asyncio.Task[Any]] = set()
            try:
                while not self._stopping:
                    if len(running) >= self.options.max_concurrent_calls_per_session:
                        await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                        running = {t for t in running if not t.done()}
                        idle_until = loop.time() + idle
                        continue
                    try:
                        message = self.queues.receive(queue, lease)
                    except LockLost:
                        break
                    if message is None:
                        if running:
                            await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                            running = {t for t in running if not t.done()}
                            idle_until = loop.time() + idle
                            continue
                        remaining = idle_until - loop.time()
                        if remaining <= 0:
                            break
                        signalled = await self.signals.wait_in_session(
                            queue, lease.session_id, self._until_due(queue, remaining)
                        )
                        if not signalled and loop.time() >= idle_until:
                            break  # idle, and nothing came: no second empty receive
                        continue
                    task = asyncio.ensure_future(self._handle(function, message, lease))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                    running.add(task)
                    if self.options.max_concurrent_calls_per_session == 1:
                        await asyncio.wait({task})
                        running.discard(task)
                        idle_until = loop.time() + idle
            finally:
                if running:
                    await asyncio.wait(running)
                self.signals.let_go(queue, lease.session_id)
                self.queues.release_session(lease)

    async def _receiver(self, function: FunctionInfo, queue: str) -> None:
        while not self._stopping:
            message = self.queues.receive(queue)
            if message is None:
                await self._wait_for_work(queue, 1.0)
                continue
            task = asyncio.ensure_future(self._handle(function, message, None))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            await asyncio.wait({task})

    async def _dead_letter_receiver(self, function: FunctionInfo, queue: str) -> None:
        signal_name = queue + DEAD_LETTER_SUFFIX
        while not self._stopping:
            message = self.queues.receive_dead_letter(queue)
            if message is None:
                await self.signals.wait(signal_name, 1.0)
                continue
            task = asyncio.ensure_future(self._handle(function, message, None, dead_letter=True))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            await asyncio.wait({task})

    # -- one message ----------------------------------------------------------------

    async def _handle(
        self,
        function: FunctionInfo,
        message: Message,
        lease: SessionLease | None,
        dead_letter: bool = False,
    ) -> None:
        self.invocations += 1
        call = asyncio.ensure_future(
            self.invoke(function, to_binding_message(message, dead_letter))
        )
        lock_seconds = self.queues.settings(message.queue).lock_duration.total_seconds()
        loop = asyncio.get_running_loop()
        renew_until = loop.time() + self.options.max_auto_lock_renewal_duration.total_seconds()
        current = lease
        while not call.done():
            await asyncio.wait({call}, timeout=max(0.05, lock_seconds / 2))
            if call.done() or loop.time() > renew_until:
                continue
            try:
                if current is not None:
                    current = self.queues.renew_session(current)
                else:
                    self.queues.renew_message_lock(message)
            except LockLost:
                logger.warning(
                    "lost the lock on %s while %s ran", message.message_id, function.name
                )
        failure = call.exception()
        if not self.options.auto_complete_messages:
            return  # the function settles, or the lock runs out and the message comes back
        try:
            if failure is None:
                if dead_letter:
                    self.queues.delete_dead_letter(message.queue, message.sequence_number)
                else:
                    self.queues.complete(message)
            else:
                logger.error(
                    "function %s failed on message %s (delivery %d): %s",
                    function.name,
                    message.message_id,
                    message.delivery_count,
                    failure,
                )
                if not dead_letter:
                    self.queues.abandon(message)
        except LockLost as lost:
            logger.warning("%s: %s; the message will be delivered again", function.name, lost)
