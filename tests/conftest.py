from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrators import registry as sample_registry
from starters.contract import ContractValidator
from starters.memory_store import MemoryOutcomeStore
from starters.outcomes import OutcomeStore
from starters.registry import Registry
from starters.sqlite_store import SqliteOutcomeStore
from tests.fakes import FakeClock, FakeDurable, RecordingSender


@pytest.fixture
def registry() -> Registry:
    return sample_registry


@pytest.fixture
def validator(registry: Registry) -> ContractValidator:
    return ContractValidator(registry)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def durable() -> FakeDurable:
    return FakeDurable()


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OutcomeStore]:
    """Every store, through the same tests: the stores' shared contract."""
    made: OutcomeStore
    if request.param == "memory":
        made = MemoryOutcomeStore()
    else:
        made = SqliteOutcomeStore(tmp_path / "outcomes.db")
    yield made
    await made.close()
