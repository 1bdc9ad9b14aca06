"""`enqueue --from requests.jsonl`: one start request a line, sent in chunks behind a progress
bar, each line's result (and with --wait its outcome) reported, then a summary."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..contract import FIELDS
from ..registry import Registry
from ..strict_json import JsonRefused, read_json
from ._cli_app import app, outcome_of
from ._cli_output import (
    EXIT_FAILURE,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_TRANSPORT,
    Failure,
    InputError,
    exit_for,
    reason,
)


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
        raise InputError(f"--from {path}: {reason(error)}") from None


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


async def enqueue_file(
    args: argparse.Namespace, registry: Registry | None, env: Mapping[str, str], schema: Any
) -> int:
    from rich.console import Console
    from rich.table import Table

    from .producer import StartRequestSender

    specs, problems = _parse_file(_read_lines(args.from_file))
    if args.wait is not None:
        app(env)
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
                    record = await outcome_of(env, row["requestId"], args.wait)
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
    if any(exit_for(k) == EXIT_REJECTED for k in outcomes):
        return EXIT_REJECTED
    return EXIT_OK
