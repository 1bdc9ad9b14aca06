"""The command line's arguments, and the registry and settings they point at."""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import textwrap
from pathlib import Path
from typing import Any, NoReturn

from ..outcomes import Outcome
from ..policies import OnFinished, OnRunning, RuntimeStatus
from ..registry import Registry
from ._cli_listing import add_listing_options

DEFAULT_REGISTRY = "orchestrators:registry"

EPILOG = """exit status:
  0    everything was accepted (with --wait: started, or answered as the policy allows)
  1    any other failure, an unknown request or instance included
  2    invalid input: bad arguments, an invalid request, an unreadable --input or --from file
       (with --from: some lines were invalid or repeated a request ID; the valid ones were sent)
  3    rejected (an instance runs, or the request expired or was canceled)
  4    transport or authentication failure (nothing reached the queue or the app)
  130  interrupted (Ctrl-C)
  (docs/producers.md lists every change of exit status)

target: local.settings.json (here or in a parent folder), then the environment, then the
flags. Under `make run` the embedded runtime's URL is read from .emulator/runtime.json, so
no flag is needed.
"""


class UsageError(Exception):
    """The arguments cannot be parsed: one line, exit status 2."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Wraps help without breaking a policy name (`restart-failed-only`) at its hyphens."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class QuietParser(argparse.ArgumentParser):
    """An argument parser whose errors are raised, so the command line reports them as one
    line (as JSON with --json) instead of argparse's usage text."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see --help)")


def seconds(text: str) -> float:
    """A --wait value: a finite number of seconds, zero or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or more seconds, got {text!r}")
    return value


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


def _common(target: argparse.ArgumentParser, defaults: bool) -> None:
    """The options every command takes, before or after the subcommand. In the subcommands
    they default to SUPPRESS, so a value given before the subcommand is kept."""

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    target.add_argument(
        "--registry",
        default=default(None),
        help=(
            f"the orchestrator registry, as MODULE:ATTRIBUTE (default {DEFAULT_REGISTRY} when "
            "importable; otherwise requests are checked against the published JSON Schema)"
        ),
    )
    target.add_argument(
        "--schema",
        type=Path,
        default=default(None),
        help="the app's published start-request schema (default: the one in this package)",
    )
    target.add_argument(
        "--settings",
        type=Path,
        metavar="FILE",
        default=default(None),
        help="the app's local.settings.json (default: the nearest one from here upwards)",
    )
    target.add_argument(
        "--emulator",
        metavar="URL",
        default=default(None),
        help="the embedded runtime, e.g. http://127.0.0.1:7071 (default: the one `make run` "
        "published in .emulator/runtime.json)",
    )
    target.add_argument(
        "--app-url",
        metavar="URL",
        default=default(None),
        help="the app's base URL (STARTER_APP_URL; default: the embedded runtime's)",
    )
    target.add_argument(
        "--function-key",
        metavar="KEY",
        default=default(None),
        help="a function key for the app (STARTER_FUNCTION_KEY)",
    )
    target.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="machine-readable output on stdout, errors included",
    )


def _command(commands: Any, name: str, text: str) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = commands.add_parser(
        name,
        help=text,
        description=text,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    _common(command, defaults=False)
    return command


def parser() -> argparse.ArgumentParser:
    parser = QuietParser(
        prog="singleton-starters",
        description="Race-free singleton starter: produce start requests and follow them.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    _common(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    running = ", ".join(p.value for p in OnRunning)
    finished = ", ".join(p.value for p in OnFinished)

    enqueue = _command(commands, "enqueue", "send start requests (one, or a JSON Lines file)")
    enqueue.add_argument("orchestrator", nargs="?", help="the orchestrator's registered name")
    enqueue.add_argument("instance_id", nargs="?", help="the instance ID (the singleton's key)")
    enqueue.add_argument("--input", metavar="JSON", help="the input as JSON, or @file.json")
    enqueue.add_argument(
        "--on-running",
        choices=[p.value for p in OnRunning],
        metavar="POLICY",
        help=f"when the ID runs: {running} (default: the orchestrator's registered policy)",
    )
    enqueue.add_argument(
        "--on-finished",
        choices=[p.value for p in OnFinished],
        metavar="POLICY",
        help=f"when the ID has finished: {finished} (default: the registered policy)",
    )
    enqueue.add_argument(
        "--request-id", metavar="ID", help="the request's ID (default: a random one)"
    )
    enqueue.add_argument(
        "--from",
        dest="from_file",
        type=Path,
        metavar="FILE",
        help="a JSON Lines file of requests (the contract's fields, one object a line)",
    )
    enqueue.add_argument(
        "--wait",
        type=seconds,
        metavar="SECONDS",
        help="wait up to this long for each request's outcome (needs the app's URL)",
    )

    status = _command(commands, "status", "an instance's Durable status")
    status.add_argument("instance_id", help="the instance ID")

    outcome = _command(commands, "outcome", "what became of a request")
    outcome.add_argument("request_id", help="the request ID enqueue printed")
    outcome.add_argument(
        "--wait", type=seconds, metavar="SECONDS", help="wait up to this long for the decision"
    )

    cancel = _command(commands, "cancel", "cancel a pending or queued request")
    cancel.add_argument("request_id", help="the request ID enqueue printed")

    listing = _command(commands, "list", "outcome records, newest first (the app's API)")
    listing.add_argument("--instance", metavar="ID", help="only this instance ID's")
    listing.add_argument(
        "--outcome",
        metavar="OUTCOMES",
        help="only these outcomes, comma-separated: " + ", ".join(o.value for o in Outcome),
    )
    listing.add_argument("--orchestrator", metavar="NAME", help="only this orchestrator's")
    listing.add_argument(
        "--since", metavar="TIME", help="received at or after (ISO 8601 with offset)"
    )
    listing.add_argument("--until", metavar="TIME", help="received before (ISO 8601 with offset)")
    add_listing_options(listing)
    instances = _command(commands, "instances", "Durable instances (the app's API)")
    instances.add_argument("--prefix", metavar="P", help="instance IDs starting with P")
    instances.add_argument(
        "--status",
        metavar="STATUSES",
        help="only these runtime statuses, comma-separated: "
        + ", ".join(s.value for s in RuntimeStatus),
    )
    add_listing_options(instances)

    dead = _command(commands, "dead-letters", "dead-lettered start requests")
    dead_commands = dead.add_subparsers(dest="dead_command", required=True, metavar="ACTION")
    from_queue = (
        "read the dead-letter queue itself (messages the app's dead-letter function has "
        "not taken), not the records"
    )
    listed = _command(dead_commands, "list", "the dead-lettered records, with their bodies")
    listed.add_argument("--from-queue", action="store_true", help=from_queue)
    resubmit = _command(
        dead_commands, "resubmit", "decide a dead-lettered request again, from its record"
    )
    resubmit.add_argument(
        "message_id",
        metavar="ID",
        help="the request ID (with --from-queue: the dead letter's MessageId)",
    )
    resubmit.add_argument("--from-queue", action="store_true", help=from_queue)

    for name, text in (
        ("schema", "print the start request's JSON Schema"),
        ("openapi", "print the HTTP API's OpenAPI document"),
    ):
        document = _command(commands, name, text)
        document.add_argument(
            "--output", type=Path, metavar="FILE", help="write to this file instead of stdout"
        )
    validate = _command(commands, "validate", "check a start request body (JSON)")
    validate.add_argument("file", help="a file holding the message body, or - for stdin")
    validate.add_argument(
        "--session-id",
        metavar="ID",
        help="the message's SessionId (default: the body's instanceId)",
    )
    completion = _command(commands, "completion", "print a shell completion script")
    completion.add_argument(
        "shell", choices=["bash", "zsh", "fish"], help="the shell: bash, zsh or fish"
    )
    return parser
