"""The v1 programming model: one folder per function, `function.json` beside its script.

As the Python worker loads such an app: each folder of the script root holding a
`function.json` is one function, named after the folder; its `scriptFile` (default
`__init__.py`) is imported as a module of the app's package, so `from . import x` and
`from ..shared import y` work, and its `entryPoint` (default `main`) is the function.
The bindings are the ones `function.json` declares, in the shape the v2 decorators
produce, so the rest of the host treats both models alike. `orchestrationClient` is the
older name of `durableClient`.

An app is one model or the other: a script root with both `function_app.py` and
`function.json` folders is refused.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from .app_loader import AppLoadError, FunctionIndex, FunctionInfo

# Binding types the v1 model spells differently from v2.
_BINDING_ALIASES = {"orchestrationClient": "durableClient"}


def function_json_folders(root: Path) -> list[Path]:
    return sorted(
        child
        for child in root.iterdir()
        if child.is_dir() and not child.name.startswith(".") and (child / "function.json").is_file()
    )


def refuse_mixed_models(root: Path, folders: list[Path]) -> None:
    if folders and (root / "function_app.py").is_file():
        names = ", ".join(f"{f.name}/function.json" for f in folders)
        raise AppLoadError(
            f"{root} mixes the two Python programming models: function_app.py (v2) and "
            f"{names} (v1). An app uses one model; move the v1 functions into "
            "function_app.py or remove it."
        )


def load_v1_app(root: Path, folders: list[Path]) -> tuple[ModuleType, FunctionIndex]:
    """Import every function folder; returns the app's package module and the index."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    # One package per app (the worker calls it `__app__`); unique, as tests load several.
    package_name = f"function_app_v1__{abs(hash(str(root)))}"
    package = sys.modules.get(package_name)
    if package is None:
        package = ModuleType(package_name)
        package.__path__ = [str(root)]
        sys.modules[package_name] = package
    # Older v1 apps import their shared code as `__app__.shared_code`: the worker's name.
    for name in [n for n in sys.modules if n == "__app__" or n.startswith("__app__.")]:
        del sys.modules[name]
    sys.modules["__app__"] = package
    index = FunctionIndex()
    for folder in folders:
        info = _load_function(folder, package_name)
        if info is not None:
            index.functions.append(info)
    return package, index


def _load_function(folder: Path, package_name: str) -> FunctionInfo | None:
    config_path = folder / "function.json"
    try:
        config = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AppLoadError(f"{config_path} is not valid JSON: {error}") from error
    if not isinstance(config, dict) or not isinstance(config.get("bindings"), list):
        raise AppLoadError(f"{config_path} has no list of bindings")
    if config.get("disabled") is True:
        return None
    bindings = [_binding(config_path, b) for b in config["bindings"]]
    triggers = [b for b in bindings if str(b.get("type", "")).endswith("Trigger")]
    if len(triggers) != 1:
        raise AppLoadError(f"{config_path} must declare exactly one trigger binding")
    function = getattr(_import_script(folder, config, package_name), _entry_point(config), None)
    if not callable(function):
        raise AppLoadError(
            f"{folder / str(config.get('scriptFile') or '__init__.py')} has no function "
            f"{_entry_point(config)!r} (the entryPoint of {config_path})"
        )
    return FunctionInfo(
        name=folder.name,
        trigger_type=str(triggers[0]["type"]),
        trigger=triggers[0],
        bindings=bindings,
        function=function,
    )


def _binding(config_path: Path, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not raw.get("type") or not raw.get("name"):
        raise AppLoadError(f"{config_path}: every binding needs a type and a name: {raw!r}")
    binding = dict(raw)
    binding["type"] = _BINDING_ALIASES.get(str(raw["type"]), str(raw["type"]))
    return binding


def _entry_point(config: dict[str, Any]) -> str:
    return str(config.get("entryPoint") or "main")


def _import_script(folder: Path, config: dict[str, Any], package_name: str) -> ModuleType:
    script = (folder / str(config.get("scriptFile") or "__init__.py")).resolve()
    root = folder.parent.resolve()
    if not script.is_file() or script.suffix != ".py" or root not in script.parents:
        raise AppLoadError(f"{folder / 'function.json'}: no Python scriptFile at {script}")
    parts = list(script.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return importlib.import_module(".".join([package_name, *parts]))
