"""`singleton-starters` (or `python -m starters`): produce start requests, see what became of them.

    enqueue ORCHESTRATOR INSTANCE_ID [--input JSON|@file.json] [--on-running P]
            [--on-finished P] [--request-id ID] [--wait S] [--json]
    enqueue --from requests.jsonl [--wait S] [--json]
    status INSTANCE_ID            outcome REQUEST_ID [--wait S]        cancel REQUEST_ID
    dead-letters list             dead-letters resubmit MESSAGE_ID
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

from ..contract import FIELDS, ContractViolation, build_schema
from ..functions.settings import SettingsError
from ..registry import Registry
from ..strict_json import JsonRefused, read_json
from ..validation import ContractValidator
from ._cli_arguments import RegistryUnavailable, UsageError, choose_registry, parser
from .local_settings import TargetError, producer_env
from .published_schema import PublishedSchemaValidator, load_schema

EXIT_OK, EXIT_FAILURE, EXIT_INVALID, EXIT_REJECTED, EXIT_TRANSPORT = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
# Outcomes that mean the request did what its policy allows.
GOOD = {"started", "replaced", "used-existing", "forwarded", "queued", "pending"}
REJECTED = {"rejected", "expired", "canceled"}


class Failure(Exception):
    """A failure the command line reports as one line, with its exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


class TransportError(Failure):
    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_TRANSPORT)


class InputError(Failure):
    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_INVALID)


def report(as_json: bool, message: str, code: int) -> int:
    """One line: on stderr, or with --json a JSON object on stdout."""
    line = " ".join(message.split())  # one line, whatever the message held
    if as_json:
        print(json.dumps({"error": line, "exitCode": code}))
    else:
        print(f"error: {line}", file=sys.stderr)
    return code


def _emit(args: argparse.Namespace, payload: Any, text: str) -> None:
    print(json.dumps(payload) if getattr(args, "json", False) else text)


def _read_input(value: str | None) -> Any:
    if value is None:
        return None
    try:
        raw = Path(value[1:]).read_text() if value.startswith("@") else value
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"--input {value}: {_reason(error)}") from None
    try:
        return read_json(raw, what="--input")
    except JsonRefused as refused:
        raise InputError(str(refused)) from None


def _reason(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error)


def _exit_for(outcome: str) -> int:
    if outcome in GOOD:
        return EXIT_OK
    if outcome in REJECTED:
        return EXIT_REJECTED
    if outcome == "invalid":
        return EXIT_INVALID
    return EXIT_FAILURE


def _app(env: Mapping[str, str]) -> Any:
    from .app_client import AppClient

    url = env.get("STARTER_APP_URL")
    if not url:
        raise Failure(  # a settings problem (1), not a failed connection (4)
            "this needs the app: start it with `make run`, or give --emulator URL, "
            "--app-url URL or STARTER_APP_URL"
        )
    return AppClient(url, env.get("STARTER_FUNCTION_KEY"))


def _app_failure(error: Exception, url: str, what: str) -> Failure:
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
    return TransportError(f"cannot reach the app at {url}: {_reason(error)}")


async def _outcome_of(env: Mapping[str, str], request_id: str, wait: float) -> dict[str, Any]:
    import aiohttp

    from .app_client import AppError

    client = _app(env)
    try:
        record: dict[str, Any] = await client.wait_for_outcome(request_id, wait)
    except (AppError, OSError, aiohttp.ClientError, asyncio.TimeoutError) as error:
        raise _app_failure(error, client.base_url, f"no outcome for request {request_id}") from None
    return record


def _describe(record: Mapping[str, Any]) -> str:
    reason = f": {record['reason']}" if record.get("reason") else ""
    return f"{record['outcome']}{reason}"


async def _enqueue(
    args: argparse.Namespace, registry: Registry | None, env: Mapping[str, str], schema: Any
) -> int:
    from .producer import StartRequestSender, StartSpec

    if args.from_file is not None:
        if args.orchestrator or args.instance_id or args.input is not None:
            raise InputError("enqueue takes ORCHESTRATOR INSTANCE_ID or --from FILE, not both")
        return await _enqueue_file(args, registry, env, schema)
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
        _app(env)  # no app to wait on: say so before anything is sent
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
        record = await _outcome_of(env, result.request_id, args.wait)
        payload["outcome"] = record
        text += f" {_describe(record)}"
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


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"--from {path}: {_reason(error)}") from None


def _parse_file(lines: Sequence[str]) -> tuple[list[tuple[int, Any]], dict[int, str]]:
    """The file's requests by line number, and its problems by line number: a line that is
    not a request, or that repeats a request ID an earlier line holds (the queue would
    deduplicate it: one outcome for two lines), is reported and not sent."""
    specs: list[tuple[int, Any]] = []
    problems: dict[int, str] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        spec = _line_spec(number, line)
        if isinstance(spec, str):
            problems[number] = spec
            continue
        if spec.request_id is not None:
            earlier = first_line.setdefault(str(spec.request_id), number)
            if earlier != number:
                problems[number] = (
                    f"line {number}: requestId {spec.request_id!r} repeats line {earlier}; not sent"
                )
                continue
        specs.append((number, spec))
    return specs, problems


def _progress(console: Any, disabled: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        disable=disabled,
    )


def _rate(task: Any) -> str:
    speed = task.speed
    return f"{speed:,.0f}/s" if speed else ""


CHUNK = 50  # requests per send: small enough for a progress bar that moves


async def _enqueue_file(
    args: argparse.Namespace, registry: Registry | None, env: Mapping[str, str], schema: Any
) -> int:
    from rich.console import Console
    from rich.table import Table

    from .producer import StartRequestSender

    specs, problems = _parse_file(_read_lines(args.from_file))
    if args.wait is not None:
        _app(env)
    console = Console(stderr=True)
    disabled = args.json or not console.is_terminal
    counts: dict[str, int] = {"sent": 0, "invalid": len(problems), "failed": 0}
    outcomes: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    async with StartRequestSender.from_settings(registry, env, schema=schema) as sender:
        with _progress(console, disabled) as progress:
            task = progress.add_task("sending", total=len(specs), rate="")
            for start in range(0, len(specs), CHUNK):
                chunk = specs[start : start + CHUNK]
                results = await sender.send_many([spec for _, spec in chunk])
                for (number, _), result in zip(chunk, results, strict=True):
                    rows.append({"line": number, **result.to_json()})
                    if result.invalid:
                        counts["invalid"] += 1
                        problems[number] = f"line {number}: {result.error}"
                    elif result.accepted:
                        counts["sent"] += 1
                    else:
                        counts["failed"] += 1
                progress.advance(task, len(chunk))
                progress.update(task, rate=_rate(progress.tasks[task]))
    if args.wait is not None:
        accepted = [row for row in rows if row["accepted"]]
        with _progress(console, disabled) as progress:
            task = progress.add_task("waiting", total=len(accepted), rate="")
            for row in accepted:
                try:
                    record = await _outcome_of(env, row["requestId"], args.wait)
                    outcome = str(record["outcome"])
                except Failure as failure:
                    outcome = "unknown"
                    row["error"] = str(failure)
                row["outcome"] = outcome
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                progress.advance(task)
                progress.update(task, rate=_rate(progress.tasks[task]))
    ordered = [problems[number] for number in sorted(problems)]  # in file order
    for problem_text in ordered:
        print(f"invalid: {problem_text}", file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                {"counts": counts, "outcomes": outcomes, "requests": rows, "invalid": ordered}
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
    if "unknown" in outcomes:
        return EXIT_FAILURE
    if any(_exit_for(k) == EXIT_REJECTED for k in outcomes):
        return EXIT_REJECTED
    return EXIT_OK


async def _app_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    import aiohttp

    from .app_client import AppError

    client = _app(env)
    subject = (
        f"instance {args.instance_id}" if args.command == "status" else f"request {args.request_id}"
    )
    try:
        if args.command == "status":
            body = await client.status(args.instance_id)
            _emit(args, body, f"{body['instanceId']} {body['runtimeStatus']}")
            return EXIT_OK
        if args.command == "outcome":
            if args.wait:
                record = await client.wait_for_outcome(args.request_id, args.wait)
            else:
                _, record = await client.outcome(args.request_id)
            _emit(args, record, _describe(record))
            return _exit_for(str(record["outcome"]))
        body = await client.cancel(args.request_id)
        _emit(args, body, body["outcome"])
        return EXIT_OK
    except (AppError, OSError, aiohttp.ClientError, asyncio.TimeoutError) as error:
        raise _app_failure(error, client.base_url, subject) from None


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
        raise Failure(str(error).strip("'\"")) from None
    except (OSError, ConnectionError) as error:
        raise TransportError(f"the queue: {_reason(error)}") from None


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
            raise Failure(f"--output {args.output}: {_reason(error)}") from None
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _validate(args: argparse.Namespace, registry: Registry | None, schema: Any) -> int:
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as error:
        raise InputError(f"{args.file}: {_reason(error)}") from None
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
        return asyncio.run(_dead_letters(args, env))
    return asyncio.run(_app_command(args, env))


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
