"""`python -m embedded_functions serve`: run a Functions app locally, as `func start` would."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from .app_loader import AppLoadError
from .config_errors import ConfigFileError
from .data_lock import DataDirectoryInUse
from .durable.instances import StartMode
from .host import FunctionsHost, HostOptions
from .keys import OpenNetworkRefused
from .local_settings import SettingsFileError
from .servicebus.config import QueueConfigError

EXIT_OK, EXIT_USAGE, EXIT_APP, EXIT_IN_USE, EXIT_PORT = 0, 2, 3, 4, 5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="embedded-functions",
        description="Embedded runtime for Azure Functions apps with Durable Functions.",
        epilog="Exit status: 0 stopped cleanly, 2 usage, 3 the app could not be loaded, "
        "4 the data directory is in use, 5 the port is taken.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the app in --script-root")
    serve.add_argument("--script-root", type=Path, default=Path("."), help="default: .")
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve.add_argument("--port", type=int, default=7071, help="default: 7071 (0: any free port)")
    where = serve.add_mutually_exclusive_group()
    where.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".emulator"),
        help="state directory (default .emulator)",
    )
    where.add_argument("--in-memory", action="store_true", help="keep no state on disk")
    serve.add_argument(
        "--start-mode",
        choices=[m.value for m in StartMode],
        default=StartMode.AZURE_STORAGE.value,
        help="how starts of an existing ID are checked (default azure-storage)",
    )
    serve.add_argument(
        "--time-skipping",
        action="store_true",
        help="fire durable timers as soon as nothing else can run",
    )
    serve.add_argument(
        "--queue-config",
        type=Path,
        default=Path("servicebus-emulator/Config.json"),
        help="queues, in the Service Bus emulator's Config.json format "
        "(default servicebus-emulator/Config.json under the script root; may be absent)",
    )
    serve.add_argument(
        "--enforce-keys",
        action="store_true",
        help="require keys (code= or x-functions-key) on HTTP functions, the Durable "
        "management API and the queue's REST API; needed to listen beyond loopback",
    )
    serve.add_argument("--log-level", default="INFO", help="default: INFO")
    return parser


async def _serve(options: HostOptions) -> int:
    host = FunctionsHost(options)
    try:
        await host.start()
    except OpenNetworkRefused as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (
        AppLoadError,
        ConfigFileError,
        SettingsFileError,
        QueueConfigError,
        ImportError,
        SyntaxError,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_APP
    except DataDirectoryInUse as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_IN_USE
    except OSError as error:
        print(f"error: cannot listen on {options.host}:{options.port}: {error}", file=sys.stderr)
        return EXIT_PORT
    for line in host.describe():
        print(line, flush=True)
    print(f"Listening on {host.base_url} (Ctrl+C to stop)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("Stopping...", flush=True)
    await host.stop()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    options = HostOptions(
        script_root=args.script_root,
        host=args.host,
        port=args.port,
        data_dir=None if args.in_memory else args.data_dir,
        start_mode=StartMode(args.start_mode),
        time_skipping=args.time_skipping,
        queue_config=args.queue_config,
        enforce_keys=args.enforce_keys,
    )
    return asyncio.run(_serve(options))
