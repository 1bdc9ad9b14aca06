"""What a started host prints at start: its functions, endpoints, queues, settings, keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .durable.http_api import WEBHOOK_PATH
from .runtime_signal import SIGNAL_FILE
from .servicebus.session_queue import DEAD_LETTER_SUFFIX

if TYPE_CHECKING:
    from .host import FunctionsHost


def describe(host: FunctionsHost) -> list[str]:
    lines = [f"Embedded runtime for {host.script_root}", "", "Functions:"]
    for route in host.http.routes:
        methods = ",".join(sorted(route.methods)) if route.methods else "*"
        url = f"{host.base_url}/{host.http.prefix}/{route.template}".replace("//", "/")
        lines.append(f"  {route.function.name}: [{methods}] {url.replace(':/', '://')}")
    for line in host.listening:
        lines.append(f"  {line}")
    for info in host.functions.of_type("orchestrationTrigger"):
        lines.append(f"  {info.name}: orchestrationTrigger")
    for info in host.functions.of_type("activityTrigger"):
        lines.append(f"  {info.name}: activityTrigger")
    for info in host.functions.of_type("entityTrigger"):
        lines.append(f"  {info.name}: entityTrigger")
    for name, why in host.disabled.items():
        lines.append(f"  {name}: DISABLED ({why})")
    hub = host.runtime.hub_name
    lines += ["", f"Durable API: {host.base_url}{WEBHOOK_PATH}/ (task hub {hub})"]
    for queue in host.queues.queues.values():
        kind = "sessions" if queue.requires_session else "no sessions"
        lines.append(
            f"Queue {queue.name} ({kind}): POST {host.base_url}/{queue.name}/messages;"
            f" dead letters: GET {host.base_url}/{queue.name}{DEAD_LETTER_SUFFIX}/messages"
        )
    for name, value in host.injected.items():
        lines.append(f"Setting {name}={value}")
    if host.signal.data_dir is not None:
        lines.append(f"Published: {host.signal.data_dir / SIGNAL_FILE}")
    lines += host.keys.describe()
    state = host.store.path
    lines.append(f"State: {state}; start mode {host.options.start_mode.value}")
    if host.options.time_skipping:
        lines.append("Time skipping: on (timers fire as soon as nothing else can run)")
    return lines
