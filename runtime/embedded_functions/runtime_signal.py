"""Where a running runtime listens and keeps its data, for the app and for other tools.

The runtime names nothing of the app it serves: it publishes facts about itself, and an app
or a command line that wants the embedded queue or the data directory reads them.

- App settings, set for the app it serves (restored when an in-process host stops):
  `EMBEDDED_RUNTIME_URL` (`http://127.0.0.1:7071`) and `EMBEDDED_RUNTIME_DATA_DIR` (the
  absolute data directory; absent with `--in-memory`) and, with `--enforce-keys`,
  `EMBEDDED_RUNTIME_QUEUE_KEY` (the key of the queue's REST API, for the app's senders).
- A file, `<data dir>/runtime.json`, while the runtime runs: `url`, `dataDir`, `pid`,
  `queues` (name -> REST send URL) and `keysRequired` (no keys: they are printed at
  start). Written atomically; removed on a clean stop. A file left by a killed process
  names a pid that no longer runs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

URL_SETTING = "EMBEDDED_RUNTIME_URL"
DATA_DIR_SETTING = "EMBEDDED_RUNTIME_DATA_DIR"
QUEUE_KEY_SETTING = "EMBEDDED_RUNTIME_QUEUE_KEY"
SIGNAL_FILE = "runtime.json"


@dataclass
class RuntimeSignal:
    url: str
    data_dir: Path | None
    queues: dict[str, str] = field(default_factory=dict)
    queue_key: str | None = None  # set when keys are enforced

    def settings(self) -> dict[str, str]:
        values = {URL_SETTING: self.url}
        if self.data_dir is not None:
            values[DATA_DIR_SETTING] = str(self.data_dir)
        if self.queue_key is not None:
            values[QUEUE_KEY_SETTING] = self.queue_key
        return values

    def document(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "dataDir": str(self.data_dir) if self.data_dir is not None else None,
            "pid": os.getpid(),
            "queues": dict(self.queues),
            "keysRequired": self.queue_key is not None,
        }

    def publish(self) -> Path | None:
        """Write `runtime.json` into the data directory (nothing for an in-memory runtime)."""
        if self.data_dir is None:
            return None
        path = self.data_dir / SIGNAL_FILE
        partial = path.with_suffix(".json.tmp")
        partial.write_text(json.dumps(self.document(), indent=2) + "\n")
        partial.replace(path)
        return path

    def withdraw(self) -> None:
        if self.data_dir is None:
            return
        path = self.data_dir / SIGNAL_FILE
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        if isinstance(document, dict) and document.get("pid") == os.getpid():
            path.unlink(missing_ok=True)


def read_signal(data_dir: str | Path) -> dict[str, Any] | None:
    """The `runtime.json` a runtime published in `data_dir`, or None if there is none."""
    try:
        document = json.loads((Path(data_dir) / SIGNAL_FILE).read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None
