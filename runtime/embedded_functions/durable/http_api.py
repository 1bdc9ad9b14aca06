"""The Durable Functions HTTP API, as the host's HttpApiHandler serves it.

Routes under `/runtime/webhooks/durabletask/`, matched on the URL-decoded path as the
host matches them (`+` becomes a space there too):

    orchestrators/{functionName}/{instanceId?}      POST start
    instances/                                      GET list, DELETE purge by filter
    instances/{instanceId}                          GET status, DELETE purge
    instances/{instanceId}/{operation}              POST terminate|suspend|resume|restart|rewind
    instances/{instanceId}/raiseEvent/{eventName}   POST raise an event
    entities/{entityName}/{entityKey}               GET state, POST signal (entity_http.py)
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from aiohttp import web

from ..operation_counts import count, durable_route
from .entity_http import EntityHttpApi
from .history import parse_time, timestamp
from .http_routes import ONE, REST, Handler, Route, dispatch
from .instance_ids import InvalidInstanceId, check_instance_id
from .instances import InstanceExists, ListQuery, UnknownInstance, UnknownOrchestrator
from .paging import DEFAULT_PAGE_SIZE, ContinuationTokens, InvalidContinuationToken
from .payloads import stored_input
from .rewind import NotFailed, rewind
from .runtime import DurableRuntime
from .status_query import parse_runtime_statuses
from .statuses import FINISHED, RuntimeStatus

WEBHOOK_PATH = "/runtime/webhooks/durabletask"
# The SDK client's `rpcBaseUrl`: on the host, a listener of its own on 127.0.0.1 (keys.py).
RPC_PATH = "/durabletask"
CONNECTION_NAME = "Storage"


def _error(status: int, message: str, exception: Exception | None = None) -> web.Response:
    # ASP.NET's HttpError shape, which the SDK reads (`ExceptionMessage` on a 400 start).
    body: dict[str, Any] = {"Message": message}
    if exception is not None:
        body["ExceptionMessage"] = str(exception)
        body["ExceptionType"] = type(exception).__name__
    return web.json_response(body, status=status)


def _problem(status: int, title: str, detail: str) -> web.Response:
    """A refusal the host has no answer of its own for: an RFC 9457 problem document."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return web.json_response(body, status=status, content_type="application/problem+json")


def _flag(request: web.Request, name: str, default: bool) -> bool:
    value = request.query.get(name)
    if value is None:
        return default
    if value.lower() == "true":
        return True
    if value.lower() == "false":
        return False
    return default


def _time_query(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    if not value:
        return None
    try:
        return timestamp(parse_time(value))
    except ValueError:
        return None


class DurableHttpApi:
    def __init__(
        self,
        runtime: DurableRuntime,
        base_url: str,
        *,
        rpc_base_url: str | None = None,
        system_key: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.base_url = base_url.rstrip("/")
        self.entity_api = EntityHttpApi(runtime.entities)
        self.rpc_base_url = (rpc_base_url or base_url).rstrip("/") + RPC_PATH + "/"
        # With keys enforced, the URLs it hands out carry the system key, as the host's do.
        self.system_key = system_key
        self.tokens = ContinuationTokens(runtime.hub_name)
        self._routes = self._route_table()

    def client_binding(self) -> str:
        """The JSON the host hands a `durable_client_input` binding."""
        base = self.base_url + WEBHOOK_PATH
        query = self._required_query()
        instance = f"{base}/instances/INSTANCEID"
        create = f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]"
        wait = "timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}"
        return json.dumps(
            {
                "taskHubName": self.runtime.hub_name,
                "creationUrls": {
                    "createNewInstancePostUri": f"{create}?{query}",
                    "createAndWaitOnNewInstancePostUri": f"{create}?{wait}&{query}",
                },
                "managementUrls": self._management_urls("INSTANCEID", instance, query),
                "baseUrl": base,
                "requiredQueryStringParameters": query,
                "rpcBaseUrl": self.rpc_base_url,
                "httpBaseUrl": base,
                "maxGrpcMessageSizeInBytes": 0,
            }
        )

    @staticmethod
    def _management_urls(instance_id: str, prefix: str, query: str) -> dict[str, str]:
        return {
            "id": instance_id,
            "statusQueryGetUri": f"{prefix}?{query}",
            "sendEventPostUri": f"{prefix}/raiseEvent/{{eventName}}?{query}",
            "terminatePostUri": f"{prefix}/terminate?reason={{text}}&{query}",
            "rewindPostUri": f"{prefix}/rewind?reason={{text}}&{query}",
            "purgeHistoryDeleteUri": f"{prefix}?{query}",
            "restartPostUri": f"{prefix}/restart?{query}",
            "suspendPostUri": f"{prefix}/suspend?reason={{text}}&{query}",
            "resumePostUri": f"{prefix}/resume?reason={{text}}&{query}",
        }

    def _required_query(self) -> str:
        query = f"taskHub={self.runtime.hub_name}&connection={CONNECTION_NAME}"
        return f"{query}&code={self.system_key}" if self.system_key else query

    def routes(self) -> list[web.RouteDef]:
        """The management API (keyed)."""
        return [web.route("*", WEBHOOK_PATH + r"/{tail:[\s\S]*}", self.handle)]

    def rpc_routes(self) -> list[web.RouteDef]:
        """The SDK client's internal API (loopback only)."""
        return [web.route("*", RPC_PATH + r"/{tail:[\s\S]*}", self.handle_rpc)]

    async def handle_rpc(self, request: web.Request) -> web.StreamResponse:
        return await self.handle(request, RPC_PATH)

    async def handle(
        self, request: web.Request, base_path: str = WEBHOOK_PATH
    ) -> web.StreamResponse:
        raw = urlsplit(request.raw_path).path
        path = unquote_plus(raw)[len(base_path) :].strip("/")
        parts = path.split("/") if path else []
        count(durable_route("rpc" if base_path == RPC_PATH else "webhook", request.method, parts))
        try:
            return await dispatch(self._routes, request, parts)
        except Exception as error:  # the host's catch-all
            return _error(500, "Something went wrong while processing your request", error)

    def _route_table(self) -> list[Route]:
        """The paths of the module docstring, in the order they are tried."""
        start = self._start
        return [
            Route("POST", ("orchestrators", ONE), lambda r, a: start(r, a[0], None)),
            Route("POST", ("orchestrators", ONE, ONE), lambda r, a: start(r, a[0], a[1])),
            Route("GET", ("instances",), lambda r, a: self._list(r)),
            Route("DELETE", ("instances",), lambda r, a: self._purge_by(r)),
            Route("GET", ("instances", ONE), lambda r, a: self._status(r, a[0])),
            Route("DELETE", ("instances", ONE), lambda r, a: self._purge(a[0])),
            Route(
                "POST",
                ("instances", ONE, "raiseEvent", ONE),
                lambda r, a: self._raise_event(r, a[0], a[1]),
            ),
            *(
                Route("POST", ("instances", ONE, op), self._controller(op), any_case=True)
                for op in ("terminate", "suspend", "resume")
            ),
            Route("POST", ("instances", ONE, "restart"), lambda r, a: self._restart(r, a[0]), True),
            Route("POST", ("instances", ONE, "rewind"), lambda r, a: self._rewind(r, a[0]), True),
            Route("*", ("entities", REST), self.entity_api.handle),
        ]

    def _controller(self, operation: str) -> Handler:
        return lambda request, captured: self._control(request, captured[0], operation)

    def _check_status_response(self, request: web.Request, instance_id: str) -> web.Response:
        origin = f"{request.scheme}://{request.host}"
        base = origin + WEBHOOK_PATH
        query = self._required_query()
        urls = self._management_urls(instance_id, f"{base}/instances/{instance_id}", query)
        body = {key: value for key, value in urls.items() if key != "rewindPostUri"}
        return web.json_response(
            body,
            status=202,
            headers={"Location": urls["statusQueryGetUri"], "Retry-After": "10"},
        )

    async def _start(
        self, request: web.Request, function_name: str, instance_id: str | None
    ) -> web.Response:
        text = await request.text()
        input_json: str | None = None
        if text.strip():
            try:
                value = json.loads(text)
            except json.JSONDecodeError as error:
                return _error(400, "Invalid JSON content", error)
            # Parsed once, and that value is the input (HandleStartOrchestratorRequestAsync):
            # the SDK's JSON-encoded input stays a string, a plain body is the value.
            input_json = stored_input(value)
        try:
            # StartNewAsync checks that the orchestrator exists first, then the ID.
            if instance_id and self.runtime.functions.orchestrator(function_name) is not None:
                check_instance_id(instance_id)
            new_id = await self.runtime.start_new(
                function_name,
                instance_id or None,
                input_json,
                version=request.query.get("version", ""),
            )
        except (UnknownOrchestrator, InvalidInstanceId) as error:
            # The handler's catch of ArgumentException.
            return _error(400, "One or more of the arguments submitted is incorrect", error)
        except InstanceExists as error:
            # Newer hosts answer 409 Conflict; the 2024 host fell into its catch-all (500).
            return _error(409, str(error), error)
        return self._check_status_response(request, new_id)

    def _status(self, request: web.Request, instance_id: str) -> web.Response:
        status = self.runtime.get_status(
            instance_id,
            show_history=_flag(request, "showHistory", False),
            show_history_output=_flag(request, "showHistoryOutput", False),
            show_input=_flag(request, "showInput", True),
        )
        if status is None:
            return web.Response(status=404)
        state = status["runtimeStatus"]
        if state in FINISHED:
            fail = state == RuntimeStatus.Failed and _flag(
                request, "returnInternalServerErrorOnFailure", False
            )
            return web.json_response(status, status=500 if fail else 200)
        return web.json_response(
            status,
            status=202,
            headers={"Location": str(request.url), "Retry-After": "5"},
        )

    def _list(self, request: web.Request) -> web.Response:
        try:
            limit = int(request.query["top"]) if "top" in request.query else DEFAULT_PAGE_SIZE
        except ValueError:
            limit = DEFAULT_PAGE_SIZE
        token = request.headers.get("x-ms-continuation-token", "").strip()
        try:
            after = self.tokens.read(token) if token and token != "null" else None
        except InvalidContinuationToken as error:
            return _problem(400, "Invalid continuation token", str(error))
        query = ListQuery(
            created_from=_time_query(request, "createdTimeFrom"),
            created_to=_time_query(request, "createdTimeTo"),
            statuses=parse_runtime_statuses(request.query.getall("runtimeStatus", [])),
            prefix=request.query.get("instanceIdPrefix") or None,
            after=after,
            limit=limit if limit > 0 else DEFAULT_PAGE_SIZE,
            show_input=_flag(request, "showInput", True),
        )
        results, last = self.runtime.list_instances(query)
        headers = {"x-ms-continuation-token": self.tokens.issue(last)} if last else {}
        return web.json_response(results, headers=headers)

    def _purge(self, instance_id: str) -> web.Response:
        # HandleDeleteHistoryByIdRequestAsync checks only that the instance exists; the
        # Azure Storage tracking store purges by ID whatever its status.
        status = self.runtime.get_status(instance_id, show_input=False)
        if status is None:
            return web.Response(status=404)
        deleted = self.runtime.purge(instance_id)
        return web.json_response({"instancesDeleted": deleted})

    def _purge_by(self, request: web.Request) -> web.Response:
        created_from = _time_query(request, "createdTimeFrom")
        if created_from is None:
            return web.json_response(
                "Please provide value for 'createdTimeFrom' parameter.", status=400
            )
        deleted = self.runtime.purge_by(
            created_from,
            _time_query(request, "createdTimeTo"),
            parse_runtime_statuses(request.query.getall("runtimeStatus", [])),
        )
        if deleted == 0:
            return web.Response(status=404)
        return web.json_response({"instancesDeleted": deleted})

    def _control(self, request: web.Request, instance_id: str, operation: str) -> web.Response:
        status = self.runtime.get_status(instance_id, show_input=False)
        if status is None:
            return web.Response(status=404)
        if status["runtimeStatus"] in FINISHED:
            return web.Response(status=410)
        reason = request.query.get("reason")
        getattr(self.runtime, operation)(instance_id, reason)
        return web.Response(status=202)

    async def _raise_event(
        self, request: web.Request, instance_id: str, event_name: str
    ) -> web.Response:
        status = self.runtime.get_status(instance_id, show_input=False)
        if status is None:
            return web.Response(status=404)
        if status["runtimeStatus"] in FINISHED:
            return web.Response(status=410)
        if request.content_type.lower() != "application/json":
            return _error(400, "Only application/json request content is supported")
        text = await request.text()
        try:
            json.loads(text or "null")
        except json.JSONDecodeError as error:
            return _error(400, "Invalid JSON content", error)
        self.runtime.raise_event(instance_id, event_name, text if text.strip() else None)
        return web.Response(status=202)

    async def _restart(self, request: web.Request, instance_id: str) -> web.Response:
        new_id = _flag(request, "restartWithNewInstanceId", True)
        try:
            restarted = await self.runtime.restart(instance_id, new_id)
        except UnknownInstance as error:
            return _error(400, "InstanceId does not match a valid orchestration instance.", error)
        except InstanceExists as error:
            return _error(
                409, "A non-terminal instance with this instance ID already exists.", error
            )
        return self._check_status_response(request, restarted)

    def _rewind(self, request: web.Request, instance_id: str) -> web.Response:
        # HandleRewindInstanceRequestAsync: 404, 410 for a finished instance that did not
        # fail; RewindAsync's InvalidOperationException for a running one is its 500.
        status = self.runtime.get_status(instance_id, show_input=False)
        if status is None:
            return web.Response(status=404)
        if status["runtimeStatus"] in (
            RuntimeStatus.Completed,
            RuntimeStatus.Terminated,
            RuntimeStatus.Canceled,
        ):
            return web.Response(status=410)
        try:
            rewind(self.runtime, instance_id, request.query.get("reason"))
        except NotFailed as error:
            body = {
                "Message": "Something went wrong while processing your request",
                "ExceptionMessage": str(error),
                "ExceptionType": "System.InvalidOperationException",
            }
            return web.json_response(body, status=500)
        return web.Response(status=202)
