"""Race-free singleton orchestrations for Azure Durable Functions.

Start requests travel through a Service Bus session queue whose SessionId is the instance
ID; a session-triggered handler decides each one in order. See README.md.

Importing this package loads no server: the Functions blueprint and the handler load on
first use of their names, so a producer (`starters.client`) stays free of the host's SDKs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .contract import ContractViolation, StartRequest, Violation, build_schema, message_id_for
from .forwarding import acknowledges, forward_payload, read_forwarded
from .instances import DurableInstanceClient, InstanceSnapshot
from .messages import IncomingMessage, OutgoingMessage
from .outcomes import Outcome, OutcomeRecord
from .policies import Action, Decision, OnFinished, OnRunning, Policy, RuntimeStatus, decide
from .ports import InstanceClient, OutcomeStore, QueueSender, Sender
from .registry import OrchestratorSpec, Registry, RegistryError
from .validation import ContractValidator

if TYPE_CHECKING:
    from .functions.blueprint import build_blueprint
    from .handling.handler import HandlingResult, StartHandler, TransientFailure

# The heavy parts, by the module that defines them: loaded when first asked for.
_LAZY = {
    "build_blueprint": "starters.functions.blueprint",
    "HandlingResult": "starters.handling.handler",
    "StartHandler": "starters.handling.handler",
    "TransientFailure": "starters.handling.retry",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Action",
    "ContractValidator",
    "ContractViolation",
    "Decision",
    "DurableInstanceClient",
    "HandlingResult",
    "IncomingMessage",
    "InstanceClient",
    "InstanceSnapshot",
    "OnFinished",
    "OnRunning",
    "OrchestratorSpec",
    "Outcome",
    "OutcomeRecord",
    "OutcomeStore",
    "OutgoingMessage",
    "Policy",
    "QueueSender",
    "Registry",
    "RegistryError",
    "RuntimeStatus",
    "Sender",
    "StartHandler",
    "StartRequest",
    "TransientFailure",
    "Violation",
    "acknowledges",
    "build_blueprint",
    "build_schema",
    "decide",
    "forward_payload",
    "message_id_for",
    "read_forwarded",
]
