"""The settings this app needs on the embedded runtime, as `make run` gets them from
local.settings.json.template: the runtime injects nothing of its own into the app."""

from __future__ import annotations

from pathlib import Path

# No Endpoint: the app completes it from the runtime's published EMBEDDED_RUNTIME_URL.
EMBEDDED_QUEUE = {"ServiceBusConnection": "UseEmbeddedServiceBus=true"}


def app_settings(data_dir: Path | None = None, **more: str) -> dict[str, str]:
    """Outcomes in memory (one process), or beside the runtime's state in `data_dir`."""
    store = f"sqlite:{data_dir / 'outcomes.sqlite3'}" if data_dir is not None else "memory"
    return {**EMBEDDED_QUEUE, "OUTCOME_STORE": store, **more}
