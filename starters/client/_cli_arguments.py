"""The command line's arguments, and the registry and settings they point at."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

from ..registry import Registry

DEFAULT_REGISTRY = "orchestrators:registry"

EPILOG = """exit status:
  0  everything was accepted (with --wait: started, or answered as the policy allows)
  1  any other failure
  2  invalid input (with --from: some lines were invalid; the valid ones were sent)
  3  rejected (an instance runs, or the request expired or was canceled)
  4  transport or authentication failure (nothing reached the queue or the app)
"""


class RegistryUnavailable(Exception):
    """The registry named by --registry cannot be loaded."""


def choose_registry(reference: str | None) -> Registry | None:
    """The registry `--registry` names; without the flag the app's default registry when it
    is importable here, else None: validation then uses the published JSON Schema."""
    if reference is not None:
        return load_registry(reference)
    try:
        return load_registry(DEFAULT_REGISTRY)
    except RegistryUnavailable as unavailable:
        if isinstance(unavailable.__cause__, ModuleNotFoundError):
            return None  # not in the app's repository: a producer elsewhere
        raise


def load_registry(reference: str) -> Registry:
    module_name, _, attribute = reference.partition(":")
    if not attribute:
        raise RegistryUnavailable(f"--registry must look like MODULE:ATTRIBUTE, got {reference!r}")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        registry = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise RegistryUnavailable(f"cannot load the registry {reference}: {error}") from error
    if not isinstance(registry, Registry):
        raise RegistryUnavailable(
            f"{reference} is a {type(registry).__name__}, not a starters.Registry"
        )
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


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m starters",
        description="Race-free singleton starter: produce start requests and follow them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--registry",
        help=(
            f"the orchestrator registry, as MODULE:ATTRIBUTE (default {DEFAULT_REGISTRY} when "
            "importable; otherwise requests are checked against the published JSON Schema)"
        ),
    )
    parser.add_argument(
        "--schema",
        type=Path,
        help="the app's published start-request schema (default: the one in this package)",
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
