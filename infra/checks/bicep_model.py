"""The Bicep templates as one deployment would see them, for a given set of parameters.

pycep-parser gives a syntax tree; this module evaluates the few expression forms the
templates use (parameters, variables, ==, !, &&, ||, ?:, concat, empty, contains,
property access), so a rule can ask "which resources exist, with which properties, when
durableBackend is durableTaskScheduler?". Anything it cannot evaluate (a runtime value such
as `identity.properties.clientId`) stays as an `Opaque` holding its Bicep-like text.
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycep import BicepParser

INFRA = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Opaque:
    """A value only Azure knows (a resource property, a function result)."""

    text: str


def parse(text: str) -> dict[str, Any]:
    """A fresh tree each call (callers may not mutate the cached one)."""
    return copy.deepcopy(_parse(text))


@functools.lru_cache(maxsize=8)
def _parse(text: str) -> dict[str, Any]:
    return BicepParser().parse(text=text)


@dataclass
class Scope:
    names: dict[str, Any]
    resources: set[str] = field(default_factory=set)


def _text(node: Any) -> str:
    """A readable form of an expression that cannot be evaluated."""
    if isinstance(node, dict) and _is_node(node, "operator"):
        op = node["operator"]
        if op["type"] == "property_accessor":
            operands = op["operands"]
            return f"{_text(operands['operand_1'])}.{_text(operands['operand_2'])}"
    if isinstance(node, dict) and _is_node(node, "function"):
        return f"{node['function']['type']}(...)"
    return str(node)


def _is_node(node: dict[str, Any], key: str) -> bool:
    # An alert's `operator: 'GreaterThan'` is a property, not an expression.
    return len(node) == 1 and isinstance(node.get(key), dict) and "type" in node[key]


def _interpolate(text: str, scope: Scope) -> str:
    def known(match: re.Match[str]) -> str:
        value = scope.names.get(match.group(1))
        return value if isinstance(value, str) else match.group(0)

    return re.sub(r"\$\{(\w+)\}", known, text)


def _path(node: Any) -> list[str] | None:
    # pycep nests `a.b.c` as a . (b . c).
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict) and _is_node(node, "operator"):
        op = node["operator"]
        if op["type"] == "property_accessor":
            head = _path(op["operands"]["operand_1"])
            tail = _path(op["operands"]["operand_2"])
            if head is not None and tail is not None:
                return head + tail
    return None


def evaluate(node: Any, scope: Scope) -> Any:
    if isinstance(node, str):
        if node in scope.names:
            return scope.names[node]
        if node in scope.resources:
            return Opaque(node)
        return _interpolate(node, scope)
    if isinstance(node, list):
        return [evaluate(item, scope) for item in node]
    if not isinstance(node, dict):
        return node
    if _is_node(node, "operator"):
        return _operator(node["operator"], scope)
    if _is_node(node, "function"):
        return _function(node["function"], scope)
    return {key: evaluate(value, scope) for key, value in node.items()}


def _operator(op: dict[str, Any], scope: Scope) -> Any:
    kind, operands = op["type"], op["operands"]
    if kind == "property_accessor":
        path = _path({"operator": op})
        if path and path[0] in scope.names:
            value = scope.names[path[0]]
            for key in path[1:]:
                if not isinstance(value, dict) or key not in value:
                    return Opaque(".".join(path))
                value = value[key]
            return value
        return Opaque(".".join(path) if path else _text({"operator": op}))
    if kind == "conditional":
        condition = evaluate(operands["condition"], scope)
        if isinstance(condition, Opaque):
            return Opaque(f"({condition.text}) ? ...")
        branch = "true_value" if condition else "false_value"
        return evaluate(operands[branch], scope)
    if kind == "not":
        return not evaluate(operands["bool_value"], scope)
    left = evaluate(operands.get("operand_1"), scope)
    right = evaluate(operands.get("operand_2"), scope)
    if kind == "equals":
        return left == right
    if kind == "not_equals":
        return left != right
    if kind == "and":
        return bool(left) and bool(right)
    if kind == "or":
        return bool(left) or bool(right)
    if kind == "greater_than":
        return left > right
    if kind == "greater_than_or_equals":
        return left >= right
    return Opaque(kind)


def _function(fn: dict[str, Any], scope: Scope) -> Any:
    kind, parameters = fn["type"], fn.get("parameters") or {}
    if kind == "empty":
        value = evaluate(parameters["item_to_test"], scope)
        return not value
    if kind == "contains":
        container = evaluate(parameters["container"], scope)
        item = evaluate(parameters["item_to_find"], scope)
        return item in container
    if kind == "concat":
        parts = [evaluate(value, scope) for value in parameters.values() if value is not None]
        if all(isinstance(part, list) for part in parts):
            return [item for part in parts for item in part]
        return "".join(str(part) for part in parts)
    if kind == "subscription_resource_id":
        name = evaluate(parameters.get("resource_name_1"), scope)
        return f"/roleDefinitions/{name}" if isinstance(name, str) else Opaque("roleDefinition")
    return Opaque(f"{kind}(...)")


@dataclass
class Resource:
    name: str
    type: str
    exists: bool
    body: dict[str, Any]


@dataclass
class Deployment:
    """One evaluation of main.bicep and resources.bicep for a set of parameter values."""

    main: dict[str, Any]
    module: dict[str, Any]
    main_values: dict[str, Any]
    values: dict[str, Any]
    resources: dict[str, Resource]
    outputs: dict[str, Any]

    def of_type(self, kind: str, *, existing_only: bool = True) -> dict[str, Resource]:
        return {
            name: r
            for name, r in self.resources.items()
            if r.type == kind and (r.exists or not existing_only)
        }


def _scope(document: dict[str, Any], values: dict[str, Any]) -> Scope:
    names: dict[str, Any] = dict(values)
    scope = Scope(names, set(document.get("resources", {})))
    # Variables in file order: each may use the ones above it.
    for name, variable in document.get("variables", {}).items():
        names[name] = evaluate(variable["value"], scope)
    return scope


def deploy(main: dict[str, Any], module: dict[str, Any], overrides: dict[str, Any]) -> Deployment:
    """Evaluate main.bicep with its defaults plus `overrides`, then its resources module."""
    main_values = {name: param.get("default") for name, param in main.get("parameters", {}).items()}
    main_values.update(overrides)
    main_scope = _scope(main, main_values)
    (call,) = main["modules"].values()
    module_values = {
        name: evaluate(expression, main_scope)
        for name, expression in call["config"]["params"].items()
    }
    scope = _scope(module, module_values)
    resources: dict[str, Resource] = {}
    for name, resource in module.get("resources", {}).items():
        config = resource["config"]
        condition = config.get("condition")
        body = config.get("config", config) if condition is not None else config
        exists = True if condition is None else bool(evaluate(condition, scope))
        resources[name] = Resource(name, resource["type"], exists, evaluate(body, scope))
    outputs = {
        name: evaluate(output["value"], scope) for name, output in module.get("outputs", {}).items()
    }
    return Deployment(main, module, main_values, scope.names, resources, outputs)


def load(texts: dict[str, str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse main.bicep and resources.bicep (or the texts given for them)."""
    texts = texts or {}
    documents = []
    for name in ("main.bicep", "resources.bicep"):
        text = texts.get(name) or (INFRA / name).read_text()
        documents.append(parse(text))
    return documents[0], documents[1]
