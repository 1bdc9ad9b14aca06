"""Queues declared in the `Config.json` format of Microsoft's Service Bus emulator.

One file serves both emulators: `UserConfig.Namespaces[].Queues[]` with `Name` and
`Properties` (ISO 8601 durations such as `PT1M`). A queue a trigger names but the file
does not declare is created with Service Bus's defaults.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..config_errors import ConfigFileError, expect_object, line_of, read_json_config

_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


class QueueConfigError(ValueError):
    """A value the queue configuration cannot hold; read_queue_config says where."""


def parse_duration(text: str) -> timedelta:
    """ISO 8601 durations (`PT1M`, `P14D`) and .NET time spans (`00:01:00`)."""
    value = text.strip()
    match = _DURATION.match(value)
    if match and value not in ("P", "PT"):
        parts = {k: float(v) for k, v in match.groupdict().items() if v}
        return timedelta(**parts)
    if ":" in value:
        days = 0.0
        if "." in value.split(":")[0]:
            head, _, value = value.partition(".")
            days = float(head)
        hours, minutes, seconds = value.split(":")
        return timedelta(
            days=days, hours=float(hours), minutes=float(minutes), seconds=float(seconds)
        )
    raise QueueConfigError(f"{text!r} is not a duration (use ISO 8601, e.g. PT1M)")


@dataclass(frozen=True)
class QueueSettings:
    """A queue's properties; the defaults are Service Bus's (Standard tier)."""

    name: str
    requires_session: bool = False
    lock_duration: timedelta = timedelta(minutes=1)
    max_delivery_count: int = 10
    default_message_ttl: timedelta = timedelta(days=14)
    dead_lettering_on_expiration: bool = False
    requires_duplicate_detection: bool = False
    duplicate_detection_window: timedelta = timedelta(minutes=10)
    declared: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "RequiresSession": self.requires_session,
            "LockDuration": str(self.lock_duration),
            "MaxDeliveryCount": self.max_delivery_count,
            "DefaultMessageTimeToLive": str(self.default_message_ttl),
            "DeadLetteringOnMessageExpiration": self.dead_lettering_on_expiration,
            "RequiresDuplicateDetection": self.requires_duplicate_detection,
            "DuplicateDetectionHistoryTimeWindow": str(self.duplicate_detection_window),
            "Declared": self.declared,
        }


def _queue(entry: dict[str, Any]) -> QueueSettings:
    name = entry.get("Name")
    if not isinstance(name, str) or not name:
        raise QueueConfigError("every queue needs a Name")
    props = entry.get("Properties") or {}
    settings = QueueSettings(name=name)
    changes: dict[str, Any] = {}
    if "RequiresSession" in props:
        changes["requires_session"] = bool(props["RequiresSession"])
    if "LockDuration" in props:
        changes["lock_duration"] = parse_duration(str(props["LockDuration"]))
    if "MaxDeliveryCount" in props:
        changes["max_delivery_count"] = int(props["MaxDeliveryCount"])
    if "DefaultMessageTimeToLive" in props:
        changes["default_message_ttl"] = parse_duration(str(props["DefaultMessageTimeToLive"]))
    if "DeadLetteringOnMessageExpiration" in props:
        changes["dead_lettering_on_expiration"] = bool(props["DeadLetteringOnMessageExpiration"])
    if "RequiresDuplicateDetection" in props:
        changes["requires_duplicate_detection"] = bool(props["RequiresDuplicateDetection"])
    if "DuplicateDetectionHistoryTimeWindow" in props:
        window = parse_duration(str(props["DuplicateDetectionHistoryTimeWindow"]))
        changes["duplicate_detection_window"] = window
    return replace(settings, **changes)


def load_queue_config(path: Path | None) -> dict[str, QueueSettings]:
    """Queues by name; a missing file is no error (an empty mapping)."""
    if path is None or not path.is_file():
        return {}
    document = read_json_config(path)
    queues: dict[str, QueueSettings] = {}
    user = expect_object(path, document, "Config.json")
    config = expect_object(path, user.get("UserConfig") or {}, "'UserConfig'", "UserConfig")
    namespaces = config.get("Namespaces") or []
    if not isinstance(namespaces, list):
        line = line_of(path, '"Namespaces"')
        raise ConfigFileError(path, line, "'Namespaces' must be a list")
    for namespace in namespaces:
        namespace = expect_object(path, namespace, "each namespace", "Namespaces")
        for entry in namespace.get("Queues") or []:
            entry = expect_object(path, entry, "each queue", "Queues")
            try:
                queue = _queue(entry)
            except (QueueConfigError, TypeError, ValueError) as error:
                near = json.dumps(entry.get("Name")) if entry.get("Name") else '"Queues"'
                raise ConfigFileError(path, line_of(path, near), str(error)) from None
            queues[queue.name] = queue
    return queues
