"""Orchestration inputs as the host stores and shows them.

HandleStartOrchestratorRequestAsync parses the request body once (JsonConvert) and starts
the orchestration with that value; the tracking store keeps its JSON serialization. The
status payload and the orchestration context show the stored text parsed back
(DurableClient.ParseToJToken: whitespace-only is "", text that is not JSON stays text).

The Python SDK posts its input already JSON-encoded (a JSON string holding the input's JSON
text), so for an SDK start the stored value is a JSON string and the SDK decodes the text
inside it; a plain client posts the value itself.
"""

from __future__ import annotations

import json
from typing import Any


def stored_input(value: Any) -> str | None:
    """The stored text for an input value (None: no input)."""
    return None if value is None else json.dumps(value)


def parse_stored(text: str | None) -> Any:
    """DurableClient.ParseToJToken."""
    if text is None:
        return None
    stripped = text.strip()
    if not stripped:
        return ""
    try:
        return json.loads(stripped)
    except ValueError:
        return stripped
