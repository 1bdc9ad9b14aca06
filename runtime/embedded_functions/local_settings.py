"""`local.settings.json`, read as Core Tools reads it: its `Values` become app settings."""

from __future__ import annotations

import os
from pathlib import Path

from .config_errors import ConfigFileError, line_of, read_json_config


class SettingsFileError(ConfigFileError):
    pass


def read_local_settings(script_root: str | Path) -> dict[str, str]:
    """The file's `Values`; an absent file is no error (an empty mapping)."""
    path = Path(script_root) / "local.settings.json"
    if not path.is_file():
        return {}
    try:
        document = read_json_config(path)
    except ConfigFileError as error:
        raise SettingsFileError(error.path, error.line, error.problem) from None
    values = document.get("Values", {}) if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise SettingsFileError(
            path, line_of(path, '"Values"') or 1, "'Values' must be an object of settings"
        )
    return {str(k): "" if v is None else str(v) for k, v in values.items()}


def apply_local_settings(values: dict[str, str]) -> None:
    """Set each value unless the environment already has it (the environment wins)."""
    for key, value in values.items():
        os.environ.setdefault(key, value)
