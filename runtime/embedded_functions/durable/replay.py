"""One orchestration episode: the host's context JSON in, the SDK's orchestrator state out.

The out-of-process protocol: the orchestrator function gets the whole history (past events
marked IsPlayed, then an OrchestratorStarted and the new events) and returns every action
it has scheduled so far, cumulatively. The runtime tells new actions from old ones by
their position: each action that takes a task ID takes the next one, in the order the SDK
numbers its tasks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from .payloads import parse_stored

OUT_OF_PROC_MARKER = "$OutOfProcData$:"


class ActionType(IntEnum):
    CallActivity = 0
    CallActivityWithRetry = 1
    CallSubOrchestrator = 2
    CallSubOrchestratorWithRetry = 3
    ContinueAsNew = 4
    CreateTimer = 5
    WaitForExternalEvent = 6
    CallEntity = 7
    CallHttp = 8
    SignalEntity = 9
    ScheduledSignalEntity = 10
    WhenAny = 11
    WhenAll = 12


# Supported by this runtime; anything else fails the instance with its name.
SUPPORTED = frozenset(
    {
        ActionType.CallActivity,
        ActionType.CallActivityWithRetry,
        ActionType.CallSubOrchestrator,
        ActionType.CallSubOrchestratorWithRetry,
        ActionType.ContinueAsNew,
        ActionType.CreateTimer,
        ActionType.WaitForExternalEvent,
        ActionType.CallEntity,
        ActionType.SignalEntity,
    }
)


@dataclass
class EpisodeResult:
    is_done: bool
    actions: list[dict[str, Any]] = field(default_factory=list)
    output: Any = None
    error: str | None = None
    custom_status: Any = None
    has_custom_status: bool = False


def build_context(
    *,
    instance_id: str,
    input_json: str | None,
    past: list[dict[str, Any]],
    new: list[dict[str, Any]],
    parent_instance_id: str | None,
) -> str:
    """The context JSON a real host hands the orchestration trigger (replay schema V3).

    `new` starts with this episode's OrchestratorStarted event.
    """
    history = [dict(e, IsPlayed=True) for e in past] + [dict(e, IsPlayed=False) for e in new]
    return json.dumps(
        {
            "history": history,
            # The host passes the stored input parsed back (GetInputAsJson); the SDK
            # serializes an object again and decodes the text it gets.
            "input": parse_stored(input_json),
            "instanceId": instance_id,
            "isReplaying": bool(past),
            "parentInstanceId": parent_instance_id,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
        }
    )


def run_orchestrator(function: Callable[[str], Any], context_json: str) -> EpisodeResult:
    """Call the orchestrator; a raising one carries its state after `$OutOfProcData$:`."""
    try:
        returned = function(context_json)
    except Exception as error:
        text = str(error)
        if OUT_OF_PROC_MARKER in text:
            message, _, state_text = text.partition(OUT_OF_PROC_MARKER)
            try:
                state = json.loads(state_text)
            except json.JSONDecodeError:
                return EpisodeResult(is_done=False, error=message.strip() or text)
            result = _parse_state(state)
            result.error = state.get("error") or message.strip()
            return result
        return EpisodeResult(is_done=False, error=f"{type(error).__name__}: {error}")
    state = json.loads(returned) if isinstance(returned, str) else returned
    if not isinstance(state, dict):
        return EpisodeResult(
            is_done=False, error="the orchestrator did not return the orchestration state"
        )
    return _parse_state(state)


def _parse_state(state: dict[str, Any]) -> EpisodeResult:
    raw_actions = state.get("actions") or []
    # Schema V2+: one outer list holding every action; V1 (legacy): one list per yield.
    flat: list[dict[str, Any]] = []
    for group in raw_actions:
        for action in group:
            flat.extend(_flatten(action))
    return EpisodeResult(
        is_done=bool(state.get("isDone")),
        actions=flat,
        output=state.get("output"),
        error=state.get("error"),
        custom_status=state.get("customStatus"),
        has_custom_status="customStatus" in state,
    )


def _flatten(action: dict[str, Any]) -> Iterator[dict[str, Any]]:
    kind = action.get("actionType")
    if kind in (ActionType.WhenAll, ActionType.WhenAny):
        for child in action.get("compoundActions") or []:
            yield from _flatten(child)
    else:
        yield action


def takes_task_id(action: dict[str, Any]) -> bool:
    """Every action but waiting for an event takes a task ID, as the SDK numbers them."""
    return action.get("actionType") != ActionType.WaitForExternalEvent


def action_name(action: dict[str, Any]) -> str:
    try:
        return ActionType(action.get("actionType", -1)).name
    except ValueError:
        return f"action type {action.get('actionType')}"
