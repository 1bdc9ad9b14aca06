"""`python -m starters` (or `singleton-starters`): produce start requests, see what became of them.

    enqueue ORCHESTRATOR INSTANCE_ID [--input JSON|@file.json] [--on-running P]
            [--on-finished P] [--request-id ID] [--wait S] [--json]
    enqueue --from requests.jsonl [--wait S] [--json]
    status INSTANCE_ID            outcome REQUEST_ID [--wait S]        cancel REQUEST_ID
    dead-letters list             dead-letters resubmit MESSAGE_ID
    schema | openapi [--output FILE]        validate FILE|- [--session-id ID]

Target: the app's settings from the environment or ./local.settings.json (the environment
wins), or `--emulator http://127.0.0.1:7071` for the embedded runtime. The app's HTTP API
(status, outcome, cancel, --wait) is `--app-url` or STARTER_APP_URL, with `--function-key`
or STARTER_FUNCTION_KEY.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..contract import FIELDS, ContractViolation, build_schema
from ..registry import Registry
from ..strict_json import JsonRefused, read_json
from ..validation import ContractValidator
from ._cli_arguments import RegistryUnavailable, choose_registry, parser, settings_env
from .published_schema import PublishedSchemaValidator, load_schema

EXIT_OK, EXIT_FAILURE, EXIT_INVALID, EXIT_REJECTED, EXIT_TRANSPORT = 0, 1, 2, 3, 4
# Outcomes that mean the request did what its policy allows.
GOOD = {"started", "replaced", "used-existing", "forwarded", "queued", "pending"}
REJECTED = {"rejected", "expired", "canceled"}


class TransportError(Exception):
    pass


class InputError(ValueError):
    pass


def _emit(args: argparse.Namespace, payload: Any, text: str) -> None:
    print(json.dumps(payload) if getattr(args, "json", False) else text)


def _read_input(value: str | None) -> Any:
    if value is None:
        return None
    raw = Path(value[1:]).read_text() if value.startswith("@") else value
    try:
        return read_json(raw, what="--input")
    except JsonRefused as refused:
        raise InputError(str(refused)) from None


def _exit_for(outcome: str) -> int:
    if outcome in GOOD:
        return EXIT_OK
    if outcome in REJECTED:
        return EXIT_REJECTED
    if outcome == "invalid":
        return EXIT_INVALID
    return EXIT_TRANSPORT


async def _outcome_of(env: Mapping[str, str], request_id: str, wait: float) -> dict[str, Any]:
    from .app_client import AppClient, AppError

    url = env.get("STARTER_APP_URL")
    if not url:
        raise TransportError(
            "--wait and outcome need the app: --app-url, STARTER_APP_URL or --emulator"
        )
    client = AppClient(url, env.get("STARTER_FUNCTION_KEY"))
    try:
        _, record = await client.outcome(request_id, wait=min(wait, 30.0) if wait else None)
    except AppError as error:
        if error.status in (401, 403):
            raise TransportError(f"the app refused the key: {error}") from None
        # A 404 after the wait (never recorded) or a 429 (too many waits): no traceback.
        raise TransportError(f"no outcome for request {request_id}: {error}") from None
    except OSError as error:
        raise TransportError(f"cannot reach the app at {url}: {error}") from None
    result: dict[str, Any] = record
    return result


async def _enqueue(
    args: argparse.Namespace, registry: Registry | None, env: Mapping[str, str], schema: Any
) -> int:
    from .producer import StartRequestSender, StartSpec

    if args.from_file is not None:
        return await _enqueue_file(args, registry, env, schema)
    if not args.orchestrator or not args.instance_id:
        print("error: enqueue needs ORCHESTRATOR and INSTANCE_ID (or --from FILE)", file=sys.stderr)
        return EXIT_INVALID
    try:
        value = _read_input(args.input)
    except InputError as error:
        print(f"invalid: {error}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as error:
        print(f"invalid: --input: {error}", file=sys.stderr)
        return EXIT_INVALID
    spec = StartSpec(
        args.orchestrator,
        args.instance_id,
        value,
        args.request_id,
        args.on_running,
        args.on_finished,
    )
    async with StartRequestSender.from_settings(registry, env, schema=schema) as sender:
        (result,) = await sender.send_many([spec])
    if result.invalid:
        print(f"invalid: {result.error}", file=sys.stderr)
        return EXIT_INVALID
    if not result.accepted:
        print(f"error: not sent: {result.error}", file=sys.stderr)
        return EXIT_TRANSPORT
    payload: dict[str, Any] = result.to_json()
    text = f"{result.request_id}"
    code = EXIT_OK
    if args.wait:
        assert result.request_id is not None
        record = await _outcome_of(env, result.request_id, args.wait)
        payload["outcome"] = record
        text += f" {record['outcome']}" + (f": {record['reason']}" if record.get("reason") else "")
        code = _exit_for(str(record["outcome"]))
    _emit(args, payload, text)
    return code


def _line_spec(number: int, line: str) -> Any:
    from .producer import StartSpec

    try:
        item = read_json(line, what="the line")
    except JsonRefused as refused:
        return f"line {number}: {refused}"
    if not isinstance(item, dict):
        return f"line {number}: not a JSON object"
    unknown = set(item) - set(FIELDS)
    if unknown:
        return f"line {number}: unknown field(s): {', '.join(sorted(unknown))}"
    if item.get("schemaVersion", 1) != 1:
        return f"line {number}: unsupported schemaVersion {item.get('schemaVersion')!r}"
    return StartSpec(
        str(item.get("orchestrator", "")),
        str(item.get("instanceId", "")),
        item.get("input"),
        item.get("requestId"),
        item.get("onRunning"),
        item.get("onFinished"),
    )


async def _enqueue_file(
    args: argparse.Namespace, registry: Registry | None, env: Mapping[str, str], schema: Any
) -> int:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from .producer import StartRequestSender, StartSpec

    lines = args.from_file.read_text().splitlines()
    specs: list[tuple[int, StartSpec]] = []
    problems: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        spec = _line_spec(number, line)
        if isinstance(spec, str):
            problems.append(spec)
        else:
            specs.append((number, spec))
    console = Console(stderr=True)
    counts: dict[str, int] = {"sent": 0, "invalid": len(problems), "failed": 0}
    outcomes: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    async with StartRequestSender.from_settings(registry, env, schema=schema) as sender:
        with Progress(console=console, disable=args.json or not console.is_terminal) as progress:
            task = progress.add_task("sending", total=len(specs))
            for start in range(0, len(specs), 100):
                chunk = specs[start : start + 100]
                results = await sender.send_many([spec for _, spec in chunk])
                for (number, _), result in zip(chunk, results, strict=True):
                    row = {"line": number, **result.to_json()}
                    if result.invalid:
                        counts["invalid"] += 1
                        problems.append(f"line {number}: {result.error}")
                    elif result.accepted:
                        counts["sent"] += 1
                    else:
                        counts["failed"] += 1
                    rows.append(row)
                progress.advance(task, len(chunk))
    if args.wait:
        for row in rows:
            if row["accepted"]:
                record = await _outcome_of(env, row["requestId"], args.wait)
                row["outcome"] = record["outcome"]
                outcomes[record["outcome"]] = outcomes.get(record["outcome"], 0) + 1
    for problem_text in problems:
        print(f"invalid: {problem_text}", file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                {"counts": counts, "outcomes": outcomes, "requests": rows, "invalid": problems}
            )
        )
    else:
        table = Table(title="enqueue summary")
        table.add_column("result")
        table.add_column("count", justify="right")
        for key, value in counts.items():
            table.add_row(key, str(value))
        for key, value in sorted(outcomes.items()):
            table.add_row(f"outcome {key}", str(value))
        Console().print(table)
    if counts["failed"]:
        return EXIT_TRANSPORT
    if counts["invalid"]:
        return EXIT_INVALID
    if any(_exit_for(k) == EXIT_REJECTED for k in outcomes):
        return EXIT_REJECTED
    return EXIT_OK


async def _app_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from .app_client import AppClient, AppError

    url = env.get("STARTER_APP_URL")
    if not url:
        print(
            "error: this needs the app: --app-url, STARTER_APP_URL or --emulator", file=sys.stderr
        )
        return EXIT_TRANSPORT
    client = AppClient(url, env.get("STARTER_FUNCTION_KEY"))
    try:
        if args.command == "status":
            body = await client.status(args.instance_id)
            _emit(args, body, f"{body['instanceId']} {body['runtimeStatus']}")
            return EXIT_OK
        if args.command == "outcome":
            _, record = await client.outcome(args.request_id, wait=args.wait)
            reason = f": {record['reason']}" if record.get("reason") else ""
            _emit(args, record, f"{record['outcome']}{reason}")
            return _exit_for(str(record["outcome"]))
        body = await client.cancel(args.request_id)
        _emit(args, body, body["outcome"])
        return EXIT_OK
    except AppError as error:
        print(f"error: {error}", file=sys.stderr)
        if error.status in (401, 403):
            return EXIT_TRANSPORT
        return EXIT_REJECTED if error.status == 409 else EXIT_FAILURE
    except OSError as error:
        print(f"error: cannot reach the app at {url}: {error}", file=sys.stderr)
        return EXIT_TRANSPORT


async def _dead_letters(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from ..functions.settings import StarterSettings
    from ..senders.from_settings import create_sender
    from ..senders.rest import embedded_endpoint, embedded_key
    from ..senders.servicebus import service_bus_client
    from .dead_letters import EmbeddedDeadLetters, ServiceBusDeadLetters, resubmit

    settings = StarterSettings.from_env(env)
    connection = settings.service_bus
    endpoint = (
        embedded_endpoint(connection.connection_string)
        if connection.kind == "connection-string" and connection.connection_string
        else None
    )
    source: Any
    if endpoint is not None:
        key = embedded_key(connection.connection_string or "")
        source = EmbeddedDeadLetters(endpoint, settings.queue_name, key)
    else:
        source = ServiceBusDeadLetters(service_bus_client(connection), settings.queue_name)
    try:
        if args.dead_command == "list":
            letters = await source.list()
            lines = [
                f"{d.sequence_number}\t{d.message_id}\t{d.session_id}\t{d.reason}" for d in letters
            ]
            _emit(args, [d.to_json() for d in letters], "\n".join(lines) or "no dead letters")
            return EXIT_OK
        sender = create_sender(settings)
        try:
            letter = await resubmit(source, sender, args.message_id)
        finally:
            await sender.close()
        _emit(args, letter.to_json(), f"resubmitted {letter.message_id}")
        return EXIT_OK
    except LookupError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except (OSError, ConnectionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_TRANSPORT


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        registry = choose_registry(args.registry)
        schema = load_schema(args.schema) if registry is None else None
    except (RegistryUnavailable, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    if args.command in ("schema", "openapi"):
        if args.command == "schema":
            document = build_schema(registry) if registry is not None else schema
        elif registry is None:
            print("error: openapi needs the app's registry (--registry)", file=sys.stderr)
            return EXIT_FAILURE
        else:
            from ..http.openapi import build_openapi  # the HTTP API's types: load on demand

            document = build_openapi(registry)
        text = json.dumps(document, indent=2) + "\n"
        if args.output:
            args.output.write_text(text)
        else:
            sys.stdout.write(text)
        return EXIT_OK
    if args.command == "validate":
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        validator: ContractValidator | PublishedSchemaValidator = (
            ContractValidator(registry)
            if registry is not None
            else PublishedSchemaValidator(schema)
        )
        try:
            body = validator.parse(raw)
            session_id = args.session_id if args.session_id is not None else body.get("instanceId")
            request = validator.validate(body, session_id=session_id)
        except ContractViolation as violation:
            for item in violation.violations:
                print(f"invalid: {item}", file=sys.stderr)
            return EXIT_INVALID
        print(json.dumps({"valid": True, "request": request.to_body()}))
        return EXIT_OK
    env = settings_env(args)
    try:
        if args.command == "enqueue":
            return asyncio.run(_enqueue(args, registry, env, schema))
        if args.command == "dead-letters":
            return asyncio.run(_dead_letters(args, env))
        return asyncio.run(_app_command(args, env))
    except TransportError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_TRANSPORT
