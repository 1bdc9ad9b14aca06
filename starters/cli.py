"""`python -m starters`: the contract from the command line.

    python -m starters schema [--registry MODULE:ATTR] [--output FILE]
    python -m starters openapi [--registry MODULE:ATTR] [--output FILE]
    python -m starters validate FILE|- [--session-id ID] [--registry MODULE:ATTR]

Exit status: 0 success, 2 invalid input, 1 any other failure.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .contract import ContractValidator, ContractViolation, build_schema
from .openapi import build_openapi
from .registry import Registry

DEFAULT_REGISTRY = "orchestrators:registry"
EXIT_INVALID = 2


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m starters",
        description="Race-free singleton starter: the start-request contract.",
        epilog="Exit status: 0 success, 2 invalid input, 1 other failure.",
    )
    parser.add_argument(
        "--registry",
        default=DEFAULT_REGISTRY,
        help=f"the orchestrator registry, as MODULE:ATTRIBUTE (default {DEFAULT_REGISTRY})",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    schema = commands.add_parser("schema", help="print the start request's JSON Schema")
    schema.add_argument("--output", type=Path, help="write to this file instead of stdout")
    openapi = commands.add_parser("openapi", help="print the HTTP API's OpenAPI document")
    openapi.add_argument("--output", type=Path, help="write to this file instead of stdout")
    validate = commands.add_parser("validate", help="check a start request body (JSON)")
    validate.add_argument("file", help="a file holding the message body, or - for stdin")
    validate.add_argument(
        "--session-id", help="the message's SessionId (default: the body's instanceId)"
    )
    return parser


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
        return 0
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
    return 0
