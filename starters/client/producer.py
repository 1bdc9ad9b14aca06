"""The Python producer client: correct start requests, validated before they are sent.

    async with StartRequestSender.from_settings() as sender:
        result = await sender.send("long_job", "nightly-report", {"duration_s": 60})
        results = await sender.send_many([...])
        record = await sender.wait_for_outcome(result.request_id, timeout=30)

Settings as the command line reads them (local_settings.py): the nearest local.settings.json,
the environment, and under `make run` the embedded runtime it published; from any directory,
without the app's code (the published JSON Schema validates when no registry is given).

It validates with the starter's own validator and registry, maps each request to the
contract (SessionId = instance ID, MessageId = request ID) and reaches Azure Service Bus
or the embedded queue through the same settings as the app. Request IDs are random unless
given; a caller that retries with the same request ID is deduplicated by Service Bus, and
one that wants "at most once per X" derives the ID from X with `request_id_for(X)`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from ..contract import SCHEMA_VERSION, STANDARD_MAX_MESSAGE_BYTES, ContractViolation, StartRequest
from ..functions.settings import StarterSettings
from ..messages import OutgoingMessage
from ..policies import OnFinished, OnRunning
from ..ports import QueueSender
from ..registry import Registry
from ..senders.from_settings import create_sender
from ..validation import ContractValidator
from .app_client import AppClient
from .local_settings import APP_URL_SETTING, FUNCTION_KEY_SETTING, producer_env
from .published_schema import PublishedSchemaValidator


@dataclass(frozen=True)
class RetryOptions:
    """Retries of a send that failed in transit (the same MessageId: no duplicates)."""

    attempts: int = 4
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0


@dataclass(frozen=True)
class SendResult:
    request_id: str | None
    instance_id: str | None
    accepted: bool
    error: str | None = None
    invalid: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "requestId": self.request_id,
            "instanceId": self.instance_id,
            "accepted": self.accepted,
            "invalid": self.invalid,
            "error": self.error,
        }


@dataclass(frozen=True)
class StartSpec:
    """One request for `send_many`."""

    orchestrator: str
    instance_id: str
    input: Any = None
    request_id: str | None = None
    on_running: OnRunning | str | None = None
    on_finished: OnFinished | str | None = None


class StartRequestSender:
    def __init__(
        self,
        registry: Registry | None,
        sender: QueueSender,
        *,
        max_message_bytes: int | None = None,
        retry: RetryOptions | None = None,
        schema: Mapping[str, Any] | None = None,
        app: AppClient | None = None,
    ) -> None:
        """With a registry the app's own validator; without one (a producer in another
        repository) the published JSON Schema: `schema`, or the one in this package."""
        limit = max_message_bytes or STANDARD_MAX_MESSAGE_BYTES
        self.validator: ContractValidator | PublishedSchemaValidator = (
            ContractValidator(registry, limit)
            if registry is not None
            else PublishedSchemaValidator(schema, limit)
        )
        self.sender = sender
        self.retry = retry or RetryOptions()
        self.app = app

    @classmethod
    def from_settings(
        cls,
        registry: Registry | None = None,
        env: Mapping[str, str] | None = None,
        *,
        retry: RetryOptions | None = None,
        schema: Mapping[str, Any] | None = None,
    ) -> StartRequestSender:
        """The app's own setting names: `ServiceBusConnection[__...]`, `START_QUEUE_NAME`;
        the app's HTTP API (for `wait_for_outcome`) is STARTER_APP_URL and
        STARTER_FUNCTION_KEY. Without `env`, the settings the command line reads."""
        values = producer_env() if env is None else env
        settings = StarterSettings.from_env(values)
        url = values.get(APP_URL_SETTING)
        return cls(
            registry,
            create_sender(settings),
            max_message_bytes=settings.max_message_bytes,
            retry=retry,
            schema=schema,
            app=AppClient(url, values.get(FUNCTION_KEY_SETTING)) if url else None,
        )

    async def __aenter__(self) -> StartRequestSender:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.sender.close()

    def build(self, spec: StartSpec) -> StartRequest:
        """Validate one request (raises ContractViolation naming every broken rule)."""
        body: dict[str, Any] = {
            "schemaVersion": SCHEMA_VERSION,
            "orchestrator": spec.orchestrator,
            "instanceId": spec.instance_id,
            "requestId": spec.request_id or uuid.uuid4().hex,
            "input": spec.input,
        }
        for key, value in (("onRunning", spec.on_running), ("onFinished", spec.on_finished)):
            if value is not None:
                body[key] = getattr(value, "value", value)
        return self.validator.validate(body, session_id=spec.instance_id)

    async def send(
        self,
        orchestrator: str,
        instance_id: str,
        input: Any = None,
        *,
        request_id: str | None = None,
        on_running: OnRunning | str | None = None,
        on_finished: OnFinished | str | None = None,
    ) -> SendResult:
        spec = StartSpec(orchestrator, instance_id, input, request_id, on_running, on_finished)
        (result,) = await self.send_many([spec])
        return result

    async def wait_for_outcome(self, request_id: str, timeout: float) -> dict[str, Any]:
        """The request's outcome record once decided, or its latest record (pending,
        queued) after `timeout` seconds; AppError (status 404) if nothing is recorded by
        then. Needs the app's URL (STARTER_APP_URL, or the embedded runtime's)."""
        if self.app is None:
            raise LookupError("no app URL to wait on: set STARTER_APP_URL (or run `make run`)")
        return await self.app.wait_for_outcome(request_id, timeout)

    async def send_many(self, specs: Iterable[StartSpec]) -> list[SendResult]:
        """Validate all, send the valid ones batched per session; one result per request,
        in order. Invalid ones are reported and not sent."""
        results: list[SendResult | None] = []
        outgoing: list[tuple[int, StartRequest]] = []
        for index, spec in enumerate(specs):
            try:
                request = self.build(spec)
            except ContractViolation as violation:
                results.append(
                    SendResult(spec.request_id, spec.instance_id, False, str(violation), True)
                )
                continue
            results.append(None)
            outgoing.append((index, request))
        by_session: dict[str, list[tuple[int, StartRequest]]] = {}
        for index, request in outgoing:
            by_session.setdefault(request.instance_id, []).append((index, request))
        for group in by_session.values():
            error = await self._send_with_retry([OutgoingMessage.for_request(r) for _, r in group])
            for index, request in group:
                results[index] = SendResult(
                    request.request_id, request.instance_id, error is None, error
                )
        return [r for r in results if r is not None]

    async def _send_with_retry(self, messages: Sequence[OutgoingMessage]) -> str | None:
        delay = self.retry.backoff_s
        for attempt in range(self.retry.attempts):
            try:
                await self.sender.send(messages)
                return None
            except Exception as error:
                if attempt == self.retry.attempts - 1:
                    return f"{type(error).__name__}: {error}"
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry.max_backoff_s)
        return "not sent"
