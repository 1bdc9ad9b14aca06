"""The command line's listings (`list`, `instances`) and the dead letters from the records
(`dead-letters list`, `dead-letters resubmit REQUEST_ID`), through the app's HTTP API."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping
from typing import Any

from ._cli_app import app, app_failure
from ._cli_output import EXIT_OK, emit

REQUEST_COLUMNS = (
    ("RECEIVED", "receivedAt"),
    ("REQUEST", "requestId"),
    ("INSTANCE", "instanceId"),
    ("ORCHESTRATOR", "orchestrator"),
    ("OUTCOME", "outcome"),
    ("REASON", "reason"),
)
INSTANCE_COLUMNS = (
    ("INSTANCE", "instanceId"),
    ("NAME", "name"),
    ("STATUS", "runtimeStatus"),
    ("CREATED", "createdTime"),
    ("UPDATED", "lastUpdatedTime"),
)
_REASON_CHARS = 60


def add_listing_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--limit", type=int, metavar="N", help="records a page, 1 to 100 (default 50)"
    )
    command.add_argument(
        "--all", action="store_true", help="every page (follows the continuation tokens)"
    )
    command.add_argument(
        "--continuation-token",
        metavar="TOKEN",
        help="the page after the one that printed this token (the same filters)",
    )


def _cell(value: Any, limit: int | None = None) -> str:
    text = "" if value is None else " ".join(str(value).split())
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def table(items: list[dict[str, Any]], columns: tuple[tuple[str, str], ...]) -> str:
    rows = [[title for title, _ in columns]] + [
        [_cell(item.get(key), _REASON_CHARS if key == "reason" else None) for _, key in columns]
        for item in items
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def request_filters(args: argparse.Namespace) -> dict[str, str | int | None]:
    return {
        "instanceId": args.instance,
        "outcome": args.outcome,
        "orchestrator": args.orchestrator,
        "since": args.since,
        "until": args.until,
        "limit": args.limit,
    }


async def _listing(
    args: argparse.Namespace, client: Any, kind: str, filters: dict[str, str | int | None]
) -> dict[str, Any]:
    one_page = client.list_requests if kind == "requests" else client.list_instances
    every = client.every_request if kind == "requests" else client.every_instance
    if args.all:
        return {"items": [item async for item in every(**filters)], "continuationToken": None}
    page: dict[str, Any] = await one_page(**filters, continuationToken=args.continuation_token)
    return page


def _show(args: argparse.Namespace, page: dict[str, Any], columns: Any, none: str) -> None:
    text = table(page["items"], columns) if page["items"] else none
    emit(args, page, text)
    if page.get("continuationToken") and not args.json:
        print(
            "more: --all, or --continuation-token " + page["continuationToken"],
            file=sys.stderr,
        )


async def listing_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """`list` (outcome records) and `instances` (Durable instances)."""
    import aiohttp

    from .app_client import AppError

    client = app(env)
    try:
        if args.command == "list":
            page = await _listing(args, client, "requests", request_filters(args))
            _show(args, page, REQUEST_COLUMNS, "no requests")
        else:
            filters = {"prefix": args.prefix, "status": args.status, "limit": args.limit}
            page = await _listing(args, client, "instances", filters)
            _show(args, page, INSTANCE_COLUMNS, "no instances")
        return EXIT_OK
    except (AppError, OSError, aiohttp.ClientError, asyncio.TimeoutError) as error:
        raise app_failure(error, client.base_url, f"listing {args.command}") from None


async def dead_letters_from_records(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """The dead-lettered records (which keep the body), whether or not the message is
    still on the dead-letter queue; resubmit one by its request ID."""
    import aiohttp

    from .app_client import AppError

    client = app(env)
    try:
        if args.dead_command == "list":
            items = [
                item async for item in client.every_request(outcome="dead-lettered", include="body")
            ]
            text = table(items, REQUEST_COLUMNS) if items else "no dead-lettered requests"
            emit(args, items, text)
            return EXIT_OK
        record = await client.resubmit(args.message_id)
        emit(args, record, f"resubmitted {record['requestId']}: {record['outcome']}")
        return EXIT_OK
    except (AppError, OSError, aiohttp.ClientError, asyncio.TimeoutError) as error:
        what = "dead-lettered requests" if args.dead_command == "list" else args.message_id
        raise app_failure(error, client.base_url, what) from None
