"""For tests/test_dashboard_browser.py until the listing API lands on main: this app, with
stand-ins for `GET /api/requests`, `GET /api/instances` and
`POST /api/requests/{id}/resubmit` (same contract, outcomes in memory, first page only)."""

import base64
import json
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from orchestrators import EVENT_MAPPINGS, blueprints, registry
from starters import build_blueprint
from starters.contract import message_id_for
from starters.messages import ATTEMPT_PROPERTY, RESUBMISSION_PROPERTY, OutgoingMessage
from starters.outcomes import Outcome
from starters.stores.memory import MemoryOutcomeStore

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
for jobs in blueprints:
    app.register_functions(jobs)
starter = build_blueprint(registry, events=EVENT_MAPPINGS)
app.register_functions(starter)


def _page(items: list[Any]) -> func.HttpResponse:
    body = json.dumps({"items": items, "continuationToken": None})
    return func.HttpResponse(body, mimetype="application/json")


@app.route(route="requests", methods=["GET"])
async def standin_list_requests(req: func.HttpRequest) -> func.HttpResponse:
    store = (await starter.components.get()).store
    assert isinstance(store, MemoryOutcomeStore)
    records = sorted(store._records.values(), key=lambda r: r.received_at, reverse=True)
    wanted = {o for o in req.params.get("outcome", "").split(",") if o}
    instance_id = req.params.get("instanceId")
    chosen = [
        r.to_public()
        for r in records
        if (not wanted or r.outcome.value in wanted)
        and (not instance_id or r.instance_id == instance_id)
    ]
    return _page(chosen[: int(req.params.get("limit", "50"))])


@app.route(route="instances", methods=["GET"])
@app.durable_client_input(client_name="client")
async def standin_list_instances(req: func.HttpRequest, client: Any) -> func.HttpResponse:
    statuses = await client.get_status_all()
    return _page(
        [
            {
                "instanceId": s.instance_id,
                "name": s.name,
                "runtimeStatus": s.runtime_status.value if s.runtime_status else None,
                "createdTime": s.created_time.isoformat() if s.created_time else None,
                "lastUpdatedTime": s.last_updated_time.isoformat() if s.last_updated_time else None,
            }
            for s in statuses
        ]
    )


@app.route(route="requests/{requestId}/resubmit", methods=["POST"])
async def standin_resubmit(req: func.HttpRequest) -> func.HttpResponse:
    parts = await starter.components.get()
    record = await parts.store.get(req.route_params["requestId"])
    assert record is not None and record.outcome is Outcome.DEAD_LETTERED and record.body
    attempt = record.attempt + 1
    reopened = await parts.store.replace(
        record.evolve(outcome=Outcome.PENDING, reason=None, decided_at=None, attempt=attempt)
    )
    body = base64.b64decode(record.body) if record.body_encoding else record.body.encode("utf-8")
    message = OutgoingMessage(
        body=body,
        session_id=record.instance_id,
        message_id=message_id_for(record.request_id, attempt),
        application_properties={ATTEMPT_PROPERTY: attempt, RESUBMISSION_PROPERTY: attempt},
    )
    await parts.sender.send([message])
    return func.HttpResponse(
        json.dumps(reopened.to_public()), status_code=202, mimetype="application/json"
    )
