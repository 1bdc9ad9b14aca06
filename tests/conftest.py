from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from azure.data.tables.aio import TableClient

from orchestrators import registry as sample_registry
from starters.ports import OutcomeStore
from starters.registry import Registry
from starters.stores.memory import MemoryOutcomeStore
from starters.stores.sqlite import SqliteOutcomeStore
from starters.stores.table import TableOutcomeStore, counted
from starters.validation import ContractValidator
from tests.azurite import azurite_table  # noqa: F401 - the fixture
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


_tables = itertools.count()


@pytest.fixture(params=["memory", "sqlite", "table"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OutcomeStore]:
    """Every store, through the same tests: the stores' shared contract. `table` is Azure
    Table storage on a real Azurite, a fresh table per test."""
    made: OutcomeStore
    if request.param == "memory":
        made = MemoryOutcomeStore()
    elif request.param == "sqlite":
        made = SqliteOutcomeStore(tmp_path / "outcomes.db")
    else:
        connection = request.getfixturevalue("azurite_table")
        table = f"Outcomes{next(_tables)}x{os.getpid()}"
        made = TableOutcomeStore(
            TableClient.from_connection_string(connection, **counted(table_name=table))
        )
    yield made
    await made.close()
