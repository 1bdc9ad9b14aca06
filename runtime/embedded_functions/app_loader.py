"""Import a Functions app the way the Python worker does, and index its functions.

The worker imports `function_app.py` from the script root and takes the single
`FunctionRegister` (a `func.FunctionApp` or `df.DFApp`) it defines, whatever its name;
blueprints registered on it come with it.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func


class AppLoadError(RuntimeError):
    """The script root holds no usable function app; the message says why."""


@dataclass
class FunctionInfo:
    name: str
    trigger_type: str
    trigger: dict[str, Any]
    bindings: list[dict[str, Any]]
    function: Callable[..., Any]

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.function)

    def binding_names(self, binding_type: str) -> list[str]:
        return [str(b["name"]) for b in self.bindings if b.get("type") == binding_type]

    @property
    def durable_client_names(self) -> list[str]:
        return self.binding_names("durableClient")


@dataclass
class FunctionIndex:
    functions: list[FunctionInfo] = field(default_factory=list)

    def _find(self, trigger_type: str, name: str) -> FunctionInfo | None:
        key = name.casefold()
        for info in self.functions:
            if info.trigger_type == trigger_type and info.name.casefold() == key:
                return info
        return None

    def orchestrator(self, name: str) -> FunctionInfo | None:
        return self._find("orchestrationTrigger", name)

    def activity(self, name: str) -> FunctionInfo | None:
        return self._find("activityTrigger", name)

    def of_type(self, trigger_type: str) -> list[FunctionInfo]:
        return [f for f in self.functions if f.trigger_type == trigger_type]


def _binding_dict(binding: Any) -> dict[str, Any]:
    raw = binding.get_dict_repr()
    return {k: getattr(v, "value", v) for k, v in raw.items()}


def index_app(app: Any) -> FunctionIndex:
    """Index a FunctionRegister. `get_functions()` may be called once per app object."""
    index = FunctionIndex()
    for function in app.get_functions():
        bindings = [_binding_dict(b) for b in function.get_bindings()]
        trigger = next((b for b in bindings if str(b.get("type", "")).endswith("Trigger")), None)
        if trigger is None:
            raise AppLoadError(f"function {function.get_function_name()} has no trigger")
        index.functions.append(
            FunctionInfo(
                name=function.get_function_name(),
                trigger_type=str(trigger["type"]),
                trigger=trigger,
                bindings=bindings,
                function=function.get_user_function(),
            )
        )
    return index


def find_app(module: ModuleType) -> Any:
    apps = [value for value in vars(module).values() if isinstance(value, func.FunctionRegister)]
    if not apps:
        raise AppLoadError(
            f"{module.__file__} defines no function app (a func.FunctionApp or df.DFApp object)"
        )
    if len({id(a) for a in apps}) > 1:
        raise AppLoadError(f"{module.__file__} defines more than one function app")
    return apps[0]


def load_app(script_root: str | Path) -> tuple[ModuleType, Any, FunctionIndex]:
    root = Path(script_root).resolve()
    path = root / "function_app.py"
    from .app_loader_v1 import function_json_folders, load_v1_app, refuse_mixed_models

    folders = function_json_folders(root) if root.is_dir() else []
    refuse_mixed_models(root, folders)
    if folders:
        package, index = load_v1_app(root, folders)
        return package, None, index
    if not path.is_file():
        raise AppLoadError(f"no function_app.py (v2) and no function.json folders (v1) in {root}")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    # A unique module name: tests load several apps into one process.
    module_name = f"function_app__{abs(hash(str(root)))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    app = find_app(module)
    return module, app, index_app(app)
