"""`singleton-starters` (or `python -m starters`): produce start requests, see what became of them.

    enqueue ORCHESTRATOR INSTANCE_ID [--input JSON|@file.json] [--on-running P]
            [--on-finished P] [--request-id ID] [--wait S] [--json]
    enqueue --from requests.jsonl [--wait S] [--json]
    status INSTANCE_ID            outcome REQUEST_ID [--wait S]        cancel REQUEST_ID
    list [--instance ID] [--outcome X,Y] [--orchestrator N] [--since T] [--until T]
         [--limit N] [--all] [--json]
    instances [--prefix P] [--status S,T] [--limit N] [--all] [--json]
    dead-letters list [--from-queue]    dead-letters resubmit REQUEST_ID [--from-queue]
    schema | openapi [--output FILE]        validate FILE|- [--session-id ID]
    completion bash|zsh|fish

Target: the app's settings from local.settings.json (the nearest one) and the environment
(the environment wins), completed by the embedded runtime that `make run` published
(local_settings.py), or `--emulator http://127.0.0.1:7071`. The app's HTTP API (status,
outcome, cancel, --wait) is `--app-url` or STARTER_APP_URL, with `--function-key` or
STARTER_FUNCTION_KEY. Options go before or after the subcommand.

Every failure is one line (with --json, a JSON object on stdout) and an exit status of
EPILOG: never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..contract import ContractViolation, build_schema
from ..functions.settings import SettingsError
from ..registry import Registry
from ..strict_json import JsonRefused, read_json
from ..validation import ContractValidator
from ._cli_app import app, app_command, outcome_of
from ._cli_arguments import RegistryUnavailable, UsageError, choose_registry, parser
from ._cli_enqueue_file import enqueue_file
from ._cli_listing import dead_letters_from_records, listing_command
from ._cli_output import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_TRANSPORT,
    GOOD,
    REJECTED,
    Failure,
    InputError,
    TransportError,
    describe,
    emit,
    exit_for,
    reason,
    report,
)
from .local_settings import TargetError, producer_env
from .published_schema import PublishedSchemaValidator, load_schema

__all__ = [  # the exit statuses and failures stay importable from here, as before the split
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_TRANSPORT",
    "GOOD",
    "REJECTED",
    "Failure",
    "InputError",
    "TransportError",
    "main",
    "report",
]


def _read_input(value: str | None) -> Any:
    if value is None:
        return None
    try:
        raw = Path(value[1:]).read_text() if value.startswith("@") else value
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"--input {value}: {reason(error)}") from None
    try:
        return read_json(raw, what="--input")
    except JsonRefused as refused:
        raise InputError(str(refused)) from None


async def _enqueue(
    args: argparse.Namespace, registry: Registry | None, env: Mapping[str, str], schema: Any
) -> int:
    from .producer import StartRequestSender, StartSpec

    if args.from_file is not None:
        if args.orchestrator or args.instance_id or args.input is not None:
            raise InputError("enqueue takes ORCHESTRATOR INSTANCE_ID or --from FILE, not both")
        return await enqueue_file(args, registry, env, schema)
    if not args.orchestrator or not args.instance_id:
        raise InputError("enqueue needs ORCHESTRATOR and INSTANCE_ID (or --from FILE)")
    value = _read_input(args.input)
    spec = StartSpec(
        args.orchestrator,
        args.instance_id,
        value,
        args.request_id,
        args.on_running,
        args.on_finished,
    )
    if args.wait is not None:
        app(env)  # no app to wait on: say so before anything is sent
    async with StartRequestSender.from_settings(registry, env, schema=schema) as sender:
        (result,) = await sender.send_many([spec])
    if result.invalid:
        raise InputError(f"invalid: {result.error}")
    if not result.accepted:
        raise TransportError(f"not sent: {result.error}")
    payload: dict[str, Any] = result.to_json()
    text = f"{result.request_id}"
    code = EXIT_OK
    if args.wait is not None:
        assert result.request_id is not None
        record = await outcome_of(env, result.request_id, args.wait)
        payload["outcome"] = record
        text += f" {describe(record)}"
        code = exit_for(str(record["outcome"]))
    emit(args, payload, text)
    return code


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
            emit(args, [d.to_json() for d in letters], "\n".join(lines) or "no dead letters")
            return EXIT_OK
        sender = create_sender(settings)
        try:
            letter = await resubmit(source, sender, args.message_id)
        finally:
            await sender.close()
        emit(args, letter.to_json(), f"resubmitted {letter.message_id}")
        return EXIT_OK
    except LookupError as error:
        raise Failure(str(error).strip("'\"")) from None
    except (OSError, ConnectionError) as error:
        raise TransportError(f"the queue: {reason(error)}") from None


def _completion(shell: str) -> str:
    from argcomplete.shell_integration import shellcode

    script: str = shellcode(["singleton-starters"], shell=shell)
    return script


def _documents(args: argparse.Namespace, registry: Registry | None, schema: Any) -> int:
    if args.command == "schema":
        document = build_schema(registry) if registry is not None else schema
    elif registry is None:
        raise Failure("openapi needs the app's registry (--registry)")
    else:
        from ..http.openapi import build_openapi  # the HTTP API's types: load on demand

        document = build_openapi(registry)
    text = json.dumps(document, indent=2) + "\n"
    if args.output:
        try:
            args.output.write_text(text)
        except OSError as error:
            raise Failure(f"--output {args.output}: {reason(error)}") from None
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _validate(args: argparse.Namespace, registry: Registry | None, schema: Any) -> int:
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as error:
        raise InputError(f"{args.file}: {reason(error)}") from None
    validator: ContractValidator | PublishedSchemaValidator = (
        ContractValidator(registry) if registry is not None else PublishedSchemaValidator(schema)
    )
    try:
        body = validator.parse(raw)
        session_id = args.session_id if args.session_id is not None else body.get("instanceId")
        request = validator.validate(body, session_id=session_id)
    except ContractViolation as violation:
        if args.json:
            print(
                json.dumps({"valid": False, "violations": [str(v) for v in violation.violations]})
            )
        else:
            for item in violation.violations:
                print(f"invalid: {item}", file=sys.stderr)
        return EXIT_INVALID
    print(json.dumps({"valid": True, "request": request.to_body()}))
    return EXIT_OK


def _run(argv: Sequence[str]) -> int:
    command_line = parser()
    try:
        import argcomplete
    except ImportError:  # completion is the `cli` extra's; the rest works without it
        pass
    else:
        argcomplete.autocomplete(command_line)
    args = command_line.parse_args(argv)
    if args.command == "completion":
        sys.stdout.write(_completion(args.shell))
        return EXIT_OK
    try:
        registry = choose_registry(args.registry)
        schema = load_schema(args.schema) if registry is None else None
    except (RegistryUnavailable, OSError, ValueError) as error:
        raise Failure(str(error)) from None
    if args.command in ("schema", "openapi"):
        return _documents(args, registry, schema)
    if args.command == "validate":
        return _validate(args, registry, schema)
    env = producer_env(
        settings_file=args.settings,
        emulator=args.emulator,
        app_url=args.app_url,
        function_key=args.function_key,
    )
    if args.command == "enqueue":
        return asyncio.run(_enqueue(args, registry, env, schema))
    if args.command == "dead-letters":
        if not args.from_queue:
            return asyncio.run(dead_letters_from_records(args, env))
        return asyncio.run(_dead_letters(args, env))
    if args.command in ("list", "instances"):
        return asyncio.run(listing_command(args, env))
    return asyncio.run(app_command(args, env))


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: every failure one line and an exit status, never a traceback."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in arguments
    try:
        return _run(arguments)
    except UsageError as error:
        return report(as_json, str(error), EXIT_INVALID)
    except Failure as failure:
        return report(as_json, str(failure), failure.code)
    except (SettingsError, TargetError) as error:
        hint = (
            " (is `make run` running? or give --emulator URL)" if "Endpoint" in str(error) else ""
        )
        return report(as_json, f"{error}{hint}", EXIT_FAILURE)
    except KeyboardInterrupt:
        return report(as_json, "interrupted", EXIT_INTERRUPTED)
    except Exception as error:  # the promise: a message, never a traceback
        return report(as_json, f"unexpected {type(error).__name__}: {error}", EXIT_FAILURE)
