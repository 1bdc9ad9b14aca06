"""`POST /api/requests/{requestId}/resubmit`: a dead-lettered request decided again
(resubmission.py says what it does to the record, and why repeating it is safe)."""

from __future__ import annotations

from ..clock import Clock
from ..contract import REQUEST_ID_RULE, Violation, is_request_id
from ..outcomes import VersionConflict
from ..ports import OutcomeStore, QueueSender
from ..resubmission import NotResubmittable, ResubmitFailed, resubmit
from .core import HttpAnswer, HttpRequest, json_answer
from .cross_site import cross_site_refusal
from .listing_params import unknown_or_repeated
from .problems import QUEUE_RETRY_AFTER_S, problem

RETRY_AFTER_S = 1


async def resubmit_request(
    req: HttpRequest, store: OutcomeStore, sender: QueueSender, clock: Clock
) -> HttpAnswer:
    cross_site = cross_site_refusal(req)
    if cross_site is not None:
        return cross_site
    request_id = req.route_params.get("requestId", "")
    if not is_request_id(request_id):
        return problem(
            422,
            "Invalid request ID",
            f"{request_id!r} is not a valid request ID: {REQUEST_ID_RULE}",
            kind="contract-violation",
            violations=[Violation("requestId", REQUEST_ID_RULE)],
        )
    refused = unknown_or_repeated(req, frozenset())
    if refused is not None:
        return refused
    try:
        record = await resubmit(store, sender, clock, request_id)
    except NotResubmittable as refusal:
        return problem(
            409,
            "Not resubmittable",
            f"{refusal}; only a dead-lettered request that kept its body is resubmitted",
            kind="not-resubmittable",
            extra={"outcome": refusal.record.outcome.value},
        )
    except ResubmitFailed as failure:
        return problem(
            503,
            "Queue unavailable",
            f"{failure}; the record is unchanged, resubmit again",
            kind="queue-unavailable",
            headers={"Retry-After": str(QUEUE_RETRY_AFTER_S)},
        )
    except VersionConflict:
        return problem(
            409,
            "Being decided",
            f"request {request_id} kept changing; ask again",
            kind="being-decided",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    if record is None:
        return problem(
            404, "Unknown request", f"no start request {request_id} is known", kind="not-found"
        )
    return json_answer(202, record.to_public(), {"Location": f"/api/requests/{request_id}"})
