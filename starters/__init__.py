"""Race-free singleton orchestrations for Azure Durable Functions.

Start requests travel through a Service Bus session queue whose SessionId is the instance
ID; a session-triggered handler decides each one in order. See README.md.
"""

from .blueprint import build_blueprint
from .contract import (
    ContractValidator,
    ContractViolation,
    StartRequest,
    Violation,
    build_schema,
    message_id_for,
)
from .forwarding import acknowledges, forward_payload, read_forwarded
from .handler import HandlingResult, StartHandler, TransientFailure
from .instances import DurableInstanceClient, InstanceClient, InstanceSnapshot
from .messages import IncomingMessage, OutgoingMessage, Sender
from .outcomes import Outcome, OutcomeRecord, OutcomeStore
from .policies import Action, Decision, OnFinished, OnRunning, Policy, RuntimeStatus, decide
from .registry import OrchestratorSpec, Registry, RegistryError

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
