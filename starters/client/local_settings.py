"""Where a producer's settings come from: local.settings.json, the environment, the flags,
and the embedded runtime a `make run` publishes (`<data dir>/runtime.json`).

Under `make run`, local.settings.json says `ServiceBusConnection=UseEmbeddedServiceBus=true`
with no Endpoint: the app learns the runtime's URL from the runtime itself, and so does a
producer, from the `runtime.json` the runtime keeps in its data directory (`.emulator/`
beside local.settings.json, or `EMBEDDED_RUNTIME_DATA_DIR`). The command line and the
Python client read the same settings, from any directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from ..functions.settings import EMBEDDED_RUNTIME_URL

SETTINGS_FILE = "local.settings.json"
DEFAULT_DATA_DIR = ".emulator"  # `make run --data-dir`
DATA_DIR_SETTING = "EMBEDDED_RUNTIME_DATA_DIR"
SIGNAL_FILE = "runtime.json"
APP_URL_SETTING = "STARTER_APP_URL"
FUNCTION_KEY_SETTING = "STARTER_FUNCTION_KEY"


class TargetError(ValueError):
    """A setting or flag that names the target cannot be used; the message says which."""


def find_settings_file(start: Path | None = None) -> Path | None:
    """local.settings.json in `start` (the working directory) or the nearest parent."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        path = candidate / SETTINGS_FILE
        if path.is_file():
            return path
    return None


def read_settings_file(path: Path) -> dict[str, str]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise TargetError(f"{path} cannot be read as JSON: {error}") from None
    values = document.get("Values", {}) if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise TargetError(f'{path} has no "Values" object')
    return {str(k): str(v) for k, v in values.items() if v is not None}


def normalize_url(value: str, what: str) -> str:
    """`127.0.0.1:7071` -> `http://127.0.0.1:7071`; anything but a plain http(s) URL refused."""
    text = value.strip()
    if "://" not in text:
        text = f"http://{text}"
    text = text.rstrip("/")
    parts = urlsplit(text)
    try:
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise TargetError(f"{what} must be a URL like http://127.0.0.1:7071, got {value!r}")
    return text


def _running(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it runs, as another user
    return True


def published_runtime_url(data_dir: Path) -> str | None:
    """The URL a running embedded runtime published in `data_dir`, or None (no file, or a
    file left by a process that no longer runs)."""
    try:
        document = json.loads((data_dir / SIGNAL_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or not _running(document.get("pid")):
        return None
    url = document.get("url")
    return url if isinstance(url, str) and url else None


def producer_env(
    *,
    settings_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    emulator: str | None = None,
    app_url: str | None = None,
    function_key: str | None = None,
) -> dict[str, str]:
    """The settings a producer uses: local.settings.json's Values (`settings_file`, else the
    nearest one), then the environment, then the flags. Without an explicit target, a running
    embedded runtime's published URL completes an Endpoint-less embedded connection and is
    the app's URL."""
    env: dict[str, str] = {}
    path = settings_file or find_settings_file()
    if path is not None:
        env.update(read_settings_file(path))
    env.update(os.environ if environ is None else environ)
    if emulator is not None:
        endpoint = normalize_url(emulator, "--emulator")
        env["ServiceBusConnection"] = f"UseEmbeddedServiceBus=true;Endpoint={endpoint}"
        env[EMBEDDED_RUNTIME_URL] = endpoint
        env.setdefault(APP_URL_SETTING, endpoint)
    elif not env.get(EMBEDDED_RUNTIME_URL):
        folder = path.parent if path is not None else Path.cwd()
        data_dir = Path(env.get(DATA_DIR_SETTING) or folder / DEFAULT_DATA_DIR)
        published = published_runtime_url(data_dir)
        if published is not None:
            env[EMBEDDED_RUNTIME_URL] = published
    if env.get(EMBEDDED_RUNTIME_URL) and not env.get(APP_URL_SETTING):
        env[APP_URL_SETTING] = env[EMBEDDED_RUNTIME_URL]
    if app_url is not None:
        env[APP_URL_SETTING] = app_url
    if env.get(APP_URL_SETTING):
        env[APP_URL_SETTING] = normalize_url(env[APP_URL_SETTING], "the app's URL")
    if function_key is not None:
        env[FUNCTION_KEY_SETTING] = function_key
    return env
