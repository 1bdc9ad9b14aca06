"""`GET /api/requests` and `GET /api/instances`: the listings, paged with continuation tokens.

Both answer `{"items": [...], "continuationToken": str | null}`; a null token is the last
page. Bodies (requests) and inputs (instances) stay out unless `include=` asks for them:
a listing is for looking around, and a body can be 256 KB of someone's data.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from datetime import datetime
from typing import Any

from ..contract import INSTANCE_ID_PATTERN, INSTANCE_ID_RULE
from ..instance_listing import (
    HostRefusedToken,
    InstanceQuery,
    InstanceQueryFailed,
)
from ..outcomes import Outcome
from ..policies import RuntimeStatus
from ..ports import InstanceClient, OutcomeStore
from ..record_query import RecordCursor, RecordQuery
from .continuation import BadToken, issue_token, read_token
from .core import HttpAnswer, HttpRequest, json_answer
from .listing_params import (
    BadParameter,
    bad_parameter,
    include,
    limit,
    matching,
    moment,
    one_of,
    printable_text,
    text,
    unknown_or_repeated,
)
from .problems import problem

logger = logging.getLogger("starters.http")

REQUEST_FILTERS = frozenset(
    {"instanceId", "outcome", "orchestrator", "since", "until", "limit", "include"}
)
INSTANCE_FILTERS = frozenset({"prefix", "status", "limit", "include"})
TOKEN = "continuationToken"
_PREFIX_PATTERN = "[A-Za-z0-9_.:-]{1,100}"
_PREFIX_RULE = "1 to 100 characters from A-Z a-z 0-9 - _ . :"
_CURSOR_KEYS = frozenset({"receivedAt", "requestId"})
_HOST_KEYS = frozenset({"host"})

_INSTANCE_ID = re.compile(INSTANCE_ID_PATTERN)
_PREFIX = re.compile(_PREFIX_PATTERN)


def _filters(req: HttpRequest, names: frozenset[str]) -> dict[str, str | None] | HttpAnswer:
    """The selection a continuation token is bound to, or the 400 for a parameter that is
    unknown or repeated."""
    refused = unknown_or_repeated(req, names | {TOKEN})
    if refused is not None:
        return refused
    # The page size may change between pages; what is selected may not.
    return {name: text(req, name) for name in names - {"limit"}}


def _cursor(position: dict[str, str]) -> RecordCursor:
    try:
        received = datetime.fromisoformat(position["receivedAt"])
    except ValueError:
        raise BadToken("is not a token this API issued") from None
    if received.tzinfo is None:
        raise BadToken("is not a token this API issued")
    return RecordCursor(received, position["requestId"])


def _bad_token(error: BadToken) -> HttpAnswer:
    return bad_parameter(BadParameter(TOKEN, str(error)))


def listed_record(public: dict[str, Any], with_body: bool) -> dict[str, Any]:
    if not with_body:
        public.pop("body", None)
        public.pop("bodyEncoding", None)
    return public


async def list_requests(req: HttpRequest, store: OutcomeStore) -> HttpAnswer:
    """GET /api/requests: outcome records, newest first."""
    filters = _filters(req, REQUEST_FILTERS)
    if not isinstance(filters, dict):
        return filters
    try:
        query = RecordQuery(
            instance_id=matching(req, "instanceId", _INSTANCE_ID, INSTANCE_ID_RULE),
            outcomes=frozenset(one_of(req, "outcome", [o.value for o in Outcome], Outcome)),
            orchestrator=printable_text(req, "orchestrator", 200),
            since=moment(req, "since"),
            until=moment(req, "until"),
            limit=limit(req),
        )
        with_body = include(req, "body")
        token = text(req, TOKEN)
        if token is not None:
            query = dataclasses.replace(
                query, after=_cursor(read_token(token, filters, _CURSOR_KEYS))
            )
    except BadParameter as error:
        return bad_parameter(error)
    except BadToken as error:
        return _bad_token(error)
    # One more than the page: whether there is a next page, without an empty last one.
    found = await store.list_records(dataclasses.replace(query, limit=query.limit + 1))
    page = found[: query.limit]
    next_token = None
    if len(found) > query.limit:
        last = RecordCursor.of(page[-1])
        next_token = issue_token(
            {"receivedAt": last.received_at.isoformat(), "requestId": last.request_id}, filters
        )
    items = [listed_record(record.to_public(), with_body) for record in page]
    return json_answer(200, {"items": items, TOKEN: next_token})


async def list_instances(req: HttpRequest, client: InstanceClient) -> HttpAnswer:
    """GET /api/instances: Durable instances by ID prefix and runtime status."""
    filters = _filters(req, INSTANCE_FILTERS)
    if not isinstance(filters, dict):
        return filters
    try:
        statuses = one_of(req, "status", [s.value for s in RuntimeStatus], RuntimeStatus)
        query = InstanceQuery(
            prefix=matching(req, "prefix", _PREFIX, _PREFIX_RULE),
            statuses=frozenset(statuses),
            limit=limit(req),
            show_input=include(req, "input"),
        )
        token = text(req, TOKEN)
        if token is not None:
            host = read_token(token, filters, _HOST_KEYS)["host"]
            query = dataclasses.replace(query, host_token=host)
    except BadParameter as error:
        return bad_parameter(error)
    except BadToken as error:
        return _bad_token(error)
    try:
        page = await client.list_instances(query)
    except HostRefusedToken:
        return _bad_token(BadToken("is no longer valid: repeat the query from its first page"))
    except InstanceQueryFailed as error:
        logger.warning("listing instances failed: %s", error)
        return problem(
            503,
            "Durable API unavailable",
            f"{error}; ask again",
            kind="durable-unavailable",
            headers={"Retry-After": "5"},
        )
    next_token = issue_token({"host": page.host_token}, filters) if page.host_token else None
    return json_answer(200, {"items": page.items, TOKEN: next_token})
