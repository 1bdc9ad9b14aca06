"""The entities part of the Durable HTTP API, as the host's HttpApiHandler serves it.

    entities/{entityName}/{entityKey}         GET the state (200, or 404 if it does not exist)
    entities/{entityName}/{entityKey}?op=...  POST signal an operation (202); the body is its input
    entities/{entityName}/{entityKey}         DELETE signal the `delete` operation (202)

The SDK's `signal_entity` and `read_entity_state` use these paths under `rpcBaseUrl`.
A key of `$` reads the entity with the empty key, as the host reads it.
"""

from __future__ import annotations

import json

from aiohttp import web

from .entities import Entities, EntityAddress, UnknownEntity, client_operation_input

EMPTY_KEY = "$"


def _bad_request(message: str) -> web.Response:
    # ASP.NET's HttpError shape, as the host's CreateErrorResponse writes it.
    return web.json_response({"Message": message}, status=400)


class EntityHttpApi:
    def __init__(self, entities: Entities) -> None:
        self.entities = entities

    async def handle(self, request: web.Request, rest: list[str]) -> web.StreamResponse:
        """`rest`: the decoded path segments after `entities/`."""
        if len(rest) != 2 or not rest[0]:
            return web.Response(status=404)
        name, key = rest
        try:
            address = EntityAddress.of(name, key)
        except ValueError as error:
            return _bad_request(str(error))
        if request.method == "GET":
            if key == EMPTY_KEY:
                address = EntityAddress.of(name, "")
            row = self.entities.read_state(address)
            if row is None:
                return web.Response(status=404)
            return web.Response(
                text=row.state if row.state is not None else "null",
                content_type="application/json",
            )
        if request.method not in ("POST", "DELETE"):
            return web.Response(status=404)
        operation = "delete" if request.method == "DELETE" else request.query.get("op", "")
        body = await request.text()
        try:
            input_text = client_operation_input(body, request.content_type)
        except json.JSONDecodeError as error:
            return web.json_response(
                {"Message": "Invalid JSON content", "ExceptionMessage": str(error)}, status=400
            )
        try:
            self.entities.signal(address, operation, input_text)
        except UnknownEntity as error:
            return _bad_request(str(error))
        return web.Response(status=202)
