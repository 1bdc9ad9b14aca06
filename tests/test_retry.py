"""The handler retries what its adapters declare transient, and nothing else: a bug is
raised at once instead of being re-scheduled as a copy eight times."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from starters.contract import StartRequest
from starters.functions.settings import HandlerSettings
from starters.handling.handler import StartHandler
from starters.handling.results import Note
from starters.handling.retry import COMMON_TRANSIENT_ERRORS, declared_transient_errors
from starters.messages import IncomingMessage, OutgoingMessage
from starters.outcomes import Fence, Outcome, OutcomeRecord
from starters.stores.memory import MemoryOutcomeStore
from starters.stores.sqlite import SqliteOutcomeStore
from starters.validation import ContractValidator
from tests.fakes import FakeClock, FakeDurable, RecordingSender


class FailingStore(MemoryOutcomeStore):
    """The memory store whose reads and first writes (`get`, `begin`: whichever the handler
    calls first) raise the given errors, one a call, then work."""

    def __init__(self, *errors: BaseException) -> None:
        super().__init__()
        self.errors = list(errors)
        self.gets = 0

    def _next(self) -> None:
        self.gets += 1
        if self.errors:
            raise self.errors.pop(0)

    async def get(self, request_id: str) -> OutcomeRecord | None:
        self._next()
        return await super().get(request_id)

    async def begin(
        self, claim: OutcomeRecord, fence: Fence | None, *, recorded: bool = False
    ) -> OutcomeRecord | None:
        self._next()
        return await super().begin(claim, fence, recorded=recorded)


def delivery() -> IncomingMessage:
    request = StartRequest("long_job", "job-1", "req-1", {"duration_s": 1})
    out = OutgoingMessage.for_request(request)
    return IncomingMessage(out.body, out.session_id, out.message_id)


def handler_over(
    store: MemoryOutcomeStore, validator: ContractValidator, sender: RecordingSender
) -> StartHandler:
    return StartHandler(
        validator, store, sender, clock=FakeClock(), settings=HandlerSettings(retry_attempts=3)
    )


async def test_a_bug_is_raised_at_once_and_not_rescheduled(
    validator: ContractValidator, durable: FakeDurable
) -> None:
    store = FailingStore(KeyError("a bug in the store adapter"))
    sender = RecordingSender()
    with pytest.raises(KeyError, match="a bug"):
        await handler_over(store, validator, sender).handle(delivery(), durable)
    assert store.gets == 1  # not retried
    assert sender.sent == []  # no re-scheduled copy
    assert durable.history == []


async def test_a_transient_error_is_retried_and_the_request_decided(
    validator: ContractValidator, durable: FakeDurable
) -> None:
    store = FailingStore(ConnectionError("reset"), TimeoutError("slow"))
    sender = RecordingSender()
    result = await handler_over(store, validator, sender).handle(delivery(), durable)
    assert result.outcome is Outcome.STARTED and result.note is Note.DECIDED
    assert store.gets == 3 and len(durable.history) == 1


async def test_a_transient_error_past_the_budget_reschedules_a_copy(
    validator: ContractValidator, durable: FakeDurable
) -> None:
    store = FailingStore(*(ConnectionError("down") for _ in range(4)))
    sender = RecordingSender()
    result = await handler_over(store, validator, sender).handle(delivery(), durable)
    assert result.outcome is None and result.note is Note.RESCHEDULED
    assert [m.application_properties.get("transientFailures") for m in sender.sent] == [1]
    assert durable.history == []


def test_adapters_declare_their_own_transient_errors(tmp_path: Any) -> None:
    declared = declared_transient_errors(SqliteOutcomeStore(str(tmp_path / "o.db")))
    assert sqlite3.OperationalError in declared
    assert set(COMMON_TRANSIENT_ERRORS) <= set(declared)
    assert KeyError not in declared and TypeError not in declared
