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
import importlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..contract import FIELDS, ContractValidator, ContractViolation, build_schema
from ..http.openapi import build_openapi
from ..registry import Registry
from ..strict_json import JsonRefused, read_json

DEFAULT_REGISTRY = "orchestrators:registry"
EXIT_OK, EXIT_FAILURE, EXIT_INVALID, EXIT_REJECTED, EXIT_TRANSPORT = 0, 1, 2, 3, 4
# Outcomes that mean the request did what its policy allows.
GOOD = {"started", "replaced", "used-existing", "forwarded", "queued", "pending"}
REJECTED = {"rejected", "expired", "canceled"}

EPILOG = """exit status:
  0  everything was accepted (with --wait: started, or answered as the policy allows)
  1  any other failure
  2  invalid input (with --from: some lines were invalid; the valid ones were sent)
  3  rejected (an instance runs, or the request expired or was canceled)
  4  transport or authentication failure (nothing reached the queue or the app)
"""


class TransportError(Exception):
    pass


class InputError(ValueError):
    pass


def load_registry(reference: str) -> Registry:
    module_name, _, attribute = reference.partition(":")
    if not attribute:
        raise SystemExit(f"--registry must look like MODULE:ATTRIBUTE, got {reference!r}")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    registry = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(registry, Registry):
        raise SystemExit(f"{reference} is a {type(registry).__name__}, not a starters.Registry")
    return registry


def settings_env(args: argparse.Namespace) -> dict[str, str]:
    """The app's settings: ./local.settings.json Values, then the environment, then flags."""
    env: dict[str, str] = {}
    path = Path("local.settings.json")
    if path.is_file():
        try:
            values = json.loads(path.read_text()).get("Values", {})
            env.update({str(k): str(v) for k, v in values.items() if v is not None})
        except (json.JSONDecodeError, AttributeError):
            print(f"warning: {path} is not valid JSON; ignored", file=sys.stderr)
    env.update(os.environ)
    if args.emulator:
        endpoint = args.emulator.rstrip("/")
        env["ServiceBusConnection"] = f"UseEmbeddedServiceBus=true;Endpoint={endpoint}"
        env.setdefault("STARTER_APP_URL", endpoint)
    if args.app_url:
        env["STARTER_APP_URL"] = args.app_url
    if args.function_key:
        env["STARTER_FUNCTION_KEY"] = args.function_key
    return env


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m starters",
        description="Race-free singleton starter: produce start requests and follow them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--registry",
        default=DEFAULT_REGISTRY,
        help=f"the orchestrator registry, as MODULE:ATTRIBUTE (default {DEFAULT_REGISTRY})",
    )
    parser.add_argument(
        "--emulator", metavar="URL", help="the embedded runtime, e.g. http://127.0.0.1:7071"
    )
    parser.add_argument("--app-url", metavar="URL", help="the app's base URL (STARTER_APP_URL)")
    parser.add_argument("--function-key", help="a function key for the app (STARTER_FUNCTION_KEY)")
    commands = parser.add_subparsers(dest="command", required=True)

    enqueue = commands.add_parser("enqueue", help="send start requests")
    enqueue.add_argument("orchestrator", nargs="?")
    enqueue.add_argument("instance_id", nargs="?")
    enqueue.add_argument("--input", help="the input as JSON, or @file.json")
    enqueue.add_argument("--on-running")
    enqueue.add_argument("--on-finished")
    enqueue.add_argument("--request-id")
    enqueue.add_argument(
        "--from", dest="from_file", type=Path, help="a JSON Lines file of requests"
    )
    enqueue.add_argument("--wait", type=float, help="seconds to wait for each outcome")
    enqueue.add_argument("--json", action="store_true", help="machine-readable output")

    status = commands.add_parser("status", help="an instance's status")
    status.add_argument("instance_id")
    status.add_argument("--json", action="store_true")

    outcome = commands.add_parser("outcome", help="what became of a request")
    outcome.add_argument("request_id")
    outcome.add_argument("--wait", type=float)
    outcome.add_argument("--json", action="store_true")

    cancel = commands.add_parser("cancel", help="cancel a pending or queued request")
    cancel.add_argument("request_id")
    cancel.add_argument("--json", action="store_true")

    dead = commands.add_parser("dead-letters", help="the start queue's dead letters")
    dead_commands = dead.add_subparsers(dest="dead_command", required=True)
    dead_list = dead_commands.add_parser("list", help="list them")
    dead_list.add_argument("--json", action="store_true")
    resubmit = dead_commands.add_parser("resubmit", help="send one again (derived MessageId)")
    resubmit.add_argument("message_id")
    resubmit.add_argument("--json", action="store_true")

    for name, text in (
        ("schema", "the start request's JSON Schema"),
        ("openapi", "the HTTP API's OpenAPI document"),
    ):
        document = commands.add_parser(name, help=f"print {text}")
        document.add_argument("--output", type=Path, help="write to this file instead of stdout")
    validate = commands.add_parser("validate", help="check a start request body (JSON)")
    validate.add_argument("file", help="a file holding the message body, or - for stdin")
    validate.add_argument(
        "--session-id", help="the message's SessionId (default: the body's instanceId)"
    )
    return parser


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


async def _enqueue(args: argparse.Namespace, registry: Registry, env: Mapping[str, str]) -> int:
    from .producer import StartRequestSender, StartSpec

    if args.from_file is not None:
        return await _enqueue_file(args, registry, env)
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
    async with StartRequestSender.from_settings(registry, env) as sender:
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
    args: argparse.Namespace, registry: Registry, env: Mapping[str, str]
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
    async with StartRequestSender.from_settings(registry, env) as sender:
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
    args = _parser().parse_args(argv)
    registry = load_registry(args.registry)
    if args.command in ("schema", "openapi"):
        document = build_schema(registry) if args.command == "schema" else build_openapi(registry)
        text = json.dumps(document, indent=2) + "\n"
        if args.output:
            args.output.write_text(text)
        else:
            sys.stdout.write(text)
        return EXIT_OK
    if args.command == "validate":
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        validator = ContractValidator(registry)
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
            return asyncio.run(_enqueue(args, registry, env))
        if args.command == "dead-letters":
            return asyncio.run(_dead_letters(args, env))
        return asyncio.run(_app_command(args, env))
    except TransportError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_TRANSPORT
