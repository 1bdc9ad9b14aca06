"""host.json, with the app settings that override it as in Azure.

An app setting `AzureFunctionsJobHost__extensions__serviceBus__maxConcurrentSessions=4`
overrides `extensions.serviceBus.maxConcurrentSessions` (the host's configuration reads
the `AzureFunctionsJobHost` section from the environment, `__` separating the levels,
keys case-insensitive). The host binds these strings to typed options: here `true`/`false`
become booleans and integers numbers, the rest stay text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config_errors import ConfigFileError, expect_object, line_of, read_json_config

OVERRIDE_PREFIX = "AzureFunctionsJobHost__"


def read_host_json(script_root: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    path = script_root / "host.json"
    config: dict[str, Any] = {}
    if path.is_file():
        config = expect_object(path, read_json_config(path), "host.json")
        for section in ("extensions", "logging"):
            if section in config:
                expect_object(path, config[section], f"'{section}'", section)
        for name, value in (config.get("extensions") or {}).items():
            if value is not None:
                expect_object(path, value, f"'extensions.{name}'", name)
    if env is not None:
        apply_overrides(config, env)
    return config


def _typed(value: str) -> Any:
    text = value.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return value


def apply_overrides(config: dict[str, Any], env: Mapping[str, str]) -> list[str]:
    """Apply `AzureFunctionsJobHost__...` settings in place; returns the paths set."""
    applied = []
    for name, value in sorted(env.items()):
        if not name.lower().startswith(OVERRIDE_PREFIX.lower()):
            continue
        keys = [k for k in name[len(OVERRIDE_PREFIX) :].split("__") if k]
        if not keys:
            continue
        node = config
        for key in keys[:-1]:
            actual = next((k for k in node if k.lower() == key.lower()), key)
            child = node.get(actual)
            if not isinstance(child, dict):
                child = {}
                node[actual] = child
            node = child
        last = next((k for k in node if k.lower() == keys[-1].lower()), keys[-1])
        node[last] = _typed(value)
        applied.append(".".join(keys))
    return applied


def option_error(script_root: Path, key: str, problem: str) -> ConfigFileError:
    """A host.json value the runtime cannot use (or the app setting overriding it)."""
    path = script_root / "host.json"
    return ConfigFileError(path, line_of(path, f'"{key}"'), problem)
