"""The starter's settings, read from app settings as the Functions host reads them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from ..contract import STANDARD_MAX_MESSAGE_BYTES

SERVICE_BUS_CONNECTION = "ServiceBusConnection"
# Published by the embedded runtime for the app it serves (emulator/runtime_signal.py): a
# `UseEmbeddedServiceBus=true` connection without an Endpoint means that runtime's queue.
EMBEDDED_RUNTIME_URL = "EMBEDDED_RUNTIME_URL"
# ...and the key of its queue's REST API when it enforces keys.
EMBEDDED_RUNTIME_QUEUE_KEY = "EMBEDDED_RUNTIME_QUEUE_KEY"
DEFAULT_QUEUE_NAME = "start-requests"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the setting."""


@dataclass(frozen=True)
class ServiceBusConnection:
    """How to reach Service Bus, following the host's connection conventions.

    `kind` is "connection-string" (`ServiceBusConnection`), "identity"
    (`ServiceBusConnection__fullyQualifiedNamespace`, optional `__credential` and
    `__clientId`) or "missing".
    """

    kind: str
    connection_string: str | None = None
    fully_qualified_namespace: str | None = None
    credential: str | None = None
    client_id: str | None = None

    @classmethod
    def from_settings(
        cls, env: Mapping[str, str], name: str = SERVICE_BUS_CONNECTION
    ) -> ServiceBusConnection:
        value = env.get(name, "").strip()
        if value:
            runtime_url = env.get(EMBEDDED_RUNTIME_URL, "").strip()
            if runtime_url and _embedded_without_endpoint(value):
                value = f"{value.rstrip(';')};Endpoint={runtime_url}"
                queue_key = env.get(EMBEDDED_RUNTIME_QUEUE_KEY, "").strip()
                if queue_key:
                    value += f";SharedAccessKey={queue_key}"
            return cls(kind="connection-string", connection_string=value)
        namespace = env.get(f"{name}__fullyQualifiedNamespace", "").strip()
        if namespace:
            return cls(
                kind="identity",
                fully_qualified_namespace=namespace,
                credential=env.get(f"{name}__credential", "").strip() or None,
                client_id=env.get(f"{name}__clientId", "").strip() or None,
            )
        return cls(kind="missing")


def _embedded_without_endpoint(connection_string: str) -> bool:
    parts = {
        key.strip().lower(): item.strip()
        for key, _, item in (p.partition("=") for p in connection_string.split(";") if p)
    }
    return parts.get("useembeddedservicebus", "").lower() == "true" and not parts.get("endpoint")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {raw!r}")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative, got {raw!r}")
    return value


@dataclass(frozen=True)
class HandlerSettings:
    """Timing of the session handler. Every bound sits well inside the queue's lock.

    - `deadline`: the whole handling of one message; well under the queue's lock duration
      (60 s by default), so a handler that overruns gives up before another may own the
      session.
    - `claim_lease`: how long a claim on a request or an instance ID holds; a claim left by
      a crashed handler frees itself after it.
    - `retry_attempts` and `retry_base`: bounded back-off for a transient failure inside
      one delivery; after that the request is re-scheduled as a copy.
    - `max_reschedules`: copies after which a transient failure is raised to the host
      (abandon, delivery count, finally the dead-letter queue).
    - `queue_wakeup`: how often the head of an instance's backlog (its oldest queued
      request) checks whether the instance finished; one scheduled copy per running ID
      with a backlog, whatever the backlog's length.
    - `queue_backoff_base`/`queue_backoff_max`: re-scheduling delay, doubling, for the
      queued requests behind the head (a backstop: the head hands its turn on).
    - `forward_ack_wait`: how long one delivery waits for an orchestrator that acknowledges
      forwards to list the request; after it, the request is re-scheduled as a copy that
      checks again (without raising the event a second time).
    """

    deadline: timedelta = timedelta(seconds=25)
    claim_lease: timedelta = timedelta(seconds=30)
    retry_attempts: int = 3
    retry_base: timedelta = timedelta(milliseconds=200)
    max_reschedules: int = 8
    reschedule_backoff_base: timedelta = timedelta(seconds=5)
    queue_backoff_base: timedelta = timedelta(seconds=2)
    queue_backoff_max: timedelta = timedelta(seconds=60)
    queue_wakeup: timedelta = timedelta(seconds=1)
    replace_wait: timedelta = timedelta(seconds=10)
    forward_ack_wait: timedelta = timedelta(seconds=10)

    @classmethod
    def from_settings(cls, env: Mapping[str, str]) -> HandlerSettings:
        deadline = _float(env, "STARTER_HANDLER_DEADLINE_S", 25)
        settings = cls(
            deadline=timedelta(seconds=deadline),
            claim_lease=timedelta(seconds=_float(env, "STARTER_CLAIM_LEASE_S", deadline + 5)),
            retry_attempts=_int(env, "STARTER_RETRY_ATTEMPTS", 3),
            max_reschedules=_int(env, "STARTER_MAX_RESCHEDULES", 8),
            queue_backoff_base=timedelta(seconds=_float(env, "STARTER_QUEUE_BACKOFF_S", 2)),
            queue_backoff_max=timedelta(seconds=_float(env, "STARTER_QUEUE_BACKOFF_MAX_S", 60)),
            queue_wakeup=timedelta(seconds=_float(env, "STARTER_QUEUE_WAKEUP_S", 1)),
            replace_wait=timedelta(seconds=_float(env, "STARTER_REPLACE_WAIT_S", 10)),
            forward_ack_wait=timedelta(seconds=_float(env, "STARTER_FORWARD_ACK_WAIT_S", 10)),
        )
        if settings.claim_lease < settings.deadline:
            raise SettingsError("STARTER_CLAIM_LEASE_S must be at least STARTER_HANDLER_DEADLINE_S")
        return settings


@dataclass(frozen=True)
class StarterSettings:
    queue_name: str
    service_bus: ServiceBusConnection
    outcome_store: str
    max_message_bytes: int
    handler: HandlerSettings
    # How long outcome records are kept: well past the duplicate-detection window (10 min)
    # and the queue's message time-to-live (1 h), since inputs may hold personal data.
    retention: timedelta = timedelta(days=7)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StarterSettings:
        env = os.environ if env is None else env
        return cls(
            queue_name=env.get("START_QUEUE_NAME", "").strip() or DEFAULT_QUEUE_NAME,
            service_bus=ServiceBusConnection.from_settings(env),
            outcome_store=env.get("OUTCOME_STORE", "").strip(),
            max_message_bytes=_int(
                env, "SERVICE_BUS_MAX_MESSAGE_BYTES", STANDARD_MAX_MESSAGE_BYTES
            ),
            handler=HandlerSettings.from_settings(env),
            retention=timedelta(days=_float(env, "OUTCOME_RETENTION_DAYS", 7)),
        )
