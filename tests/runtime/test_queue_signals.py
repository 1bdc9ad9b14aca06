"""The session trigger's signals: a send wakes the slot it concerns, not every slot."""

from __future__ import annotations

import asyncio

from embedded_functions.servicebus.triggers import QueueSignals


async def test_a_message_for_a_held_session_wakes_its_holder_alone() -> None:
    signals = QueueSignals()
    signals.hold("q", "a")
    signals.hold("q", "b")
    holder_a = asyncio.ensure_future(signals.wait_in_session("q", "a", 30))
    holder_b = asyncio.ensure_future(signals.wait_in_session("q", "b", 30))
    acceptor = asyncio.ensure_future(signals.wait_to_accept("q", 30))
    await asyncio.sleep(0)
    signals.notify("q", frozenset({"a"}))
    assert await asyncio.wait_for(holder_a, 5) is True
    await asyncio.sleep(0)
    assert not holder_b.done() and not acceptor.done()
    signals.notify("q", None)  # no session named: everyone looks
    assert await asyncio.wait_for(holder_b, 5) is True
    await asyncio.wait_for(acceptor, 5)


async def test_a_message_for_a_new_session_wakes_one_acceptor() -> None:
    signals = QueueSignals()
    acceptors = [asyncio.ensure_future(signals.wait_to_accept("q", 30)) for _ in range(3)]
    await asyncio.sleep(0)
    signals.notify("q", frozenset({"new"}))
    done, pending = await asyncio.wait(acceptors, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    await asyncio.sleep(0)
    assert len(done) == 1 and all(not task.done() for task in pending)
    signals.notify("q", frozenset({"x", "y"}))  # two new sessions: the other two
    await asyncio.wait_for(asyncio.gather(*pending), 5)


async def test_a_timed_out_wait_says_nothing_came() -> None:
    signals = QueueSignals()
    signals.hold("q", "a")
    assert await signals.wait_in_session("q", "a", 0.01) is False
    await signals.wait_to_accept("q", 0.01)  # returns at its timeout
    assert not signals._acceptors["q"]  # and leaves no waiter behind
