"""The outcome store the `OUTCOME_STORE` setting names."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..functions.settings import SettingsError
from ..ports import OutcomeStore
from .memory import MemoryOutcomeStore
from .sqlite import SqliteOutcomeStore
from .table import DEFAULT_TABLE, TableOutcomeStore, table_client_from_settings


def create_store(spec: str, env: Mapping[str, str] | None = None) -> OutcomeStore:
    """An outcome store from the `OUTCOME_STORE` setting.

    `table` (the default: Azure Table storage in the app's storage account, table
    `OUTCOME_TABLE`), `sqlite:<path>` (the embedded runtime's), or `memory` (one process).
    """
    settings = os.environ if env is None else env
    if spec in ("", "table"):
        table = settings.get("OUTCOME_TABLE", "").strip() or DEFAULT_TABLE
        return TableOutcomeStore(table_client_from_settings(settings, table))
    if spec == "memory":
        return MemoryOutcomeStore()
    if spec.startswith("sqlite:"):
        path = spec.removeprefix("sqlite:").strip()
        if not path:
            raise SettingsError(
                "OUTCOME_STORE=sqlite: needs a file path, e.g. sqlite:.emulator/outcomes.db"
            )
        return SqliteOutcomeStore(path)
    raise SettingsError(f"OUTCOME_STORE must be 'table', 'sqlite:<path>' or 'memory', got {spec!r}")
