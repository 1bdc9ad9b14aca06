"""Effects on Durable Functions: start, terminate-then-start, forward, and telling a
redelivery's own earlier effect from someone else's instance.

Before an effect the handler writes an *intent* holding the instance's createdTime as it
was; a redelivered request compares it with the instance it finds, so it can tell its own
start (a new createdTime and its own input) from someone else's instance. A failed call is
never judged by its error text: the status is read again and decides.
"""

from __future__ import annotations

from ..clock import Clock
from ..contract import StartRequest, fingerprint
from ..forwarding import acknowledges, forward_payload
from ..functions.settings import HandlerSettings
from ..instances import InstanceSnapshot
from ..outcomes import Intent, IntentAction, Outcome
from ..policies import FINISHED_STATUSES
from ..ports import InstanceClient
from .retry import Retry, TransientFailure

_ACK_POLL_S = 0.1
_STOP_POLL_S = 0.1


class StatusChanged(Exception):
    """The instance changed under an action (someone else started it, or it finished)."""

    def __init__(self, status: InstanceSnapshot | None) -> None:
        self.status = status


def forward_raised_on(intent: Intent | None, status: InstanceSnapshot | None) -> bool:
    """Whether an earlier delivery already raised the event on this very instance."""
    return (
        intent is not None
        and intent.action is IntentAction.FORWARD_RAISED
        and status is not None
        and status.created_time == intent.prior_created_time
    )


def is_own_start(status: InstanceSnapshot, request: StartRequest, intent: Intent | None) -> bool:
    prior = intent.prior_created_time if intent else None
    return status.created_time != prior and fingerprint(status.input) == request.input_fingerprint


def reconcile(
    intent: Intent, status: InstanceSnapshot | None, request: StartRequest
) -> Outcome | None:
    """The outcome an earlier delivery already achieved, if its effect is visible."""
    if status is None:
        return None
    starts = (IntentAction.START, IntentAction.REPLACE)
    if intent.action in starts and is_own_start(status, request, intent):
        return Outcome.REPLACED if intent.action is IntentAction.REPLACE else Outcome.STARTED
    forwards = (IntentAction.FORWARD, IntentAction.FORWARD_RAISED)
    if intent.action in forwards and acknowledges(status.custom_status, request.request_id):
        return Outcome.FORWARDED
    return None


class Effects:
    def __init__(self, retry: Retry, clock: Clock, settings: HandlerSettings) -> None:
        self.retry = retry
        self.clock = clock
        self.settings = settings

    def _effect_failed(self, error: Exception) -> bool:
        # The Durable SDK reports a refused or failed call as a bare Exception (its HTTP
        # answer in the text); anything more specific that is not transient is a bug.
        return type(error) is Exception or self.retry.is_transient(error)

    async def start(
        self, request: StartRequest, client: InstanceClient, intent: Intent | None
    ) -> None:
        for attempt in range(self.settings.retry_attempts + 1):
            try:
                await client.start_new(request.orchestrator, request.instance_id, request.input)
                return
            except Exception as error:
                if not self._effect_failed(error):
                    raise
                # Never parse the error text: read the status again and see what is there.
                fresh = await self.retry(lambda: client.get_status(request.instance_id))
                prior = intent.prior_created_time if intent else None
                if fresh is not None and fresh.created_time != prior:
                    if is_own_start(fresh, request, intent):
                        return
                    raise StatusChanged(fresh) from error
                if attempt == self.settings.retry_attempts:
                    raise TransientFailure(f"start_new kept failing: {error}") from error
                await self.retry.backoff(attempt)

    async def terminate_and_wait(self, request: StartRequest, client: InstanceClient) -> None:
        reason = f"replaced by start request {request.request_id}"
        await self.retry(lambda: client.terminate(request.instance_id, reason))
        waited = 0.0
        limit = self.settings.replace_wait.total_seconds()
        while True:
            status = await self.retry(lambda: client.get_status(request.instance_id))
            if status is None or status.runtime_status in FINISHED_STATUSES:
                return
            if waited >= limit:
                raise TransientFailure(
                    f"instance {request.instance_id} did not stop within {limit:g} s of terminate"
                )
            await self.clock.sleep(_STOP_POLL_S)
            waited += _STOP_POLL_S

    async def forward(self, request: StartRequest, event_name: str, client: InstanceClient) -> None:
        payload = forward_payload(request.request_id, request.input)
        for attempt in range(self.settings.retry_attempts + 1):
            try:
                await client.raise_event(request.instance_id, event_name, payload)
                return
            except Exception as error:
                if not self._effect_failed(error):
                    raise
                fresh = await self.retry(lambda: client.get_status(request.instance_id))
                if fresh is None or fresh.runtime_status in FINISHED_STATUSES:
                    raise StatusChanged(fresh) from error
                if attempt == self.settings.retry_attempts:
                    raise TransientFailure(f"raise_event kept failing: {error}") from error
                await self.retry.backoff(attempt)

    async def await_acknowledgement(
        self, request: StartRequest, client: InstanceClient, target: InstanceSnapshot | None
    ) -> None:
        """Wait until the instance the event was raised on lists the request as read.

        An instance that finished (or was replaced) without reading it never will: the
        request is decided again on what is there now, so its input is not lost.
        """
        created = target.created_time if target else None
        limit = self.settings.forward_ack_wait.total_seconds()
        waited = 0.0
        while True:
            fresh = await self.retry(lambda: client.get_status(request.instance_id))
            if fresh is not None and acknowledges(fresh.custom_status, request.request_id):
                return
            if (
                fresh is None
                or fresh.created_time != created
                or fresh.runtime_status in FINISHED_STATUSES
            ):
                raise StatusChanged(fresh)
            if waited >= limit:
                raise TransientFailure(
                    f"instance {request.instance_id} has not acknowledged forwarded request "
                    f"{request.request_id} within {limit:g} s"
                )
            await self.clock.sleep(_ACK_POLL_S)
            waited += _ACK_POLL_S
