"""App settings as the host reads them: `%NAME%` expressions, the task hub's name."""

from __future__ import annotations

import logging
import os
import re
from typing import Any

logger = logging.getLogger("embedded_functions.host")

DEFAULT_HUB = "TestHubName"

# The connection value that selects the embedded Service Bus, as UseDevelopmentStorage=true
# selects Azurite; the endpoint is the published EMBEDDED_RUNTIME_URL (runtime_signal.py).
EMBEDDED_SERVICE_BUS = "UseEmbeddedServiceBus=true"


def resolve_setting_expression(value: str, env: dict[str, str] | None = None) -> str:
    """`%NAME%` binding expressions resolved from app settings, as the host does."""
    settings = dict(os.environ) if env is None else env

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in settings:
            raise KeyError(f"the app setting {name} (used as %{name}%) is not set")
        return settings[name]

    return re.sub(r"%([^%]+)%", replace, value)


def hub_name(config: dict[str, Any]) -> str:
    name = (config.get("extensions") or {}).get("durableTask", {}).get("hubName")
    if not name:
        return DEFAULT_HUB
    try:
        return resolve_setting_expression(str(name))
    except KeyError:
        logger.warning("hubName %s is not resolvable; using %s", name, DEFAULT_HUB)
        return DEFAULT_HUB
