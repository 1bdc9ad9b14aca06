"""The command line's calls to the app's HTTP API: status, outcome (and --wait), cancel."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from typing import Any

from ._cli_output import (
    EXIT_FAILURE,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_REJECTED,
    Failure,
    TransportError,
    describe,
    emit,
    exit_for,
    reason,
)


def app(env: Mapping[str, str]) -> Any:
    from .app_client import AppClient

    url = env.get("STARTER_APP_URL")
    if not url:
        raise Failure(  # a settings problem (1), not a failed connection (4)
            "this needs the app: start it with `make run`, or give --emulator URL, "
            "--app-url URL or STARTER_APP_URL"
        )
    return AppClient(url, env.get("STARTER_FUNCTION_KEY"))


def app_failure(error: Exception, url: str, what: str) -> Failure:
    """An AppError or a connection failure as the one-line failure it means."""
    from .app_client import AppError

    if isinstance(error, AppError):
        if error.status in (401, 403):
            return TransportError(f"the app refused the function key: {error}")
        if error.status == 404:
            return Failure(f"{what}: {error}", EXIT_FAILURE)
        if error.status == 409:
            return Failure(f"{what}: {error}", EXIT_REJECTED)
        if 400 <= error.status < 500:
            return Failure(f"{what}: {error}", EXIT_INVALID)
        return TransportError(f"{what}: {error}")
    return TransportError(f"cannot reach the app at {url}: {reason(error)}")


async def outcome_of(env: Mapping[str, str], request_id: str, wait: float) -> dict[str, Any]:
    import aiohttp

    from .app_client import AppError

    client = app(env)
    try:
        record: dict[str, Any] = await client.wait_for_outcome(request_id, wait)
    except (AppError, OSError, aiohttp.ClientError, asyncio.TimeoutError) as error:
        raise app_failure(error, client.base_url, f"no outcome for request {request_id}") from None
    return record


async def app_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    import aiohttp

    from .app_client import AppError

    client = app(env)
    subject = (
        f"instance {args.instance_id}" if args.command == "status" else f"request {args.request_id}"
    )
    try:
        if args.command == "status":
            body = await client.status(args.instance_id)
            emit(args, body, f"{body['instanceId']} {body['runtimeStatus']}")
            return EXIT_OK
        if args.command == "outcome":
            if args.wait:
                record = await client.wait_for_outcome(args.request_id, args.wait)
            else:
                _, record = await client.outcome(args.request_id)
            emit(args, record, describe(record))
            return exit_for(str(record["outcome"]))
        body = await client.cancel(args.request_id)
        emit(args, body, body["outcome"])
        return EXIT_OK
    except (AppError, OSError, aiohttp.ClientError, asyncio.TimeoutError) as error:
        raise app_failure(error, client.base_url, subject) from None
