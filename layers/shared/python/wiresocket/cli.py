"""The ``wiresocket`` command. Today it has one subcommand, ``local``, which runs the local stack (SPEC §10).

Kept apart from ``local/stack.py`` so the stack stays a library the tests can drive in-process, while this
module owns what only a process owns: argument parsing, logging setup, signals and the exit code.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from wiresocket.local.stack import LocalStack, LocalStackError, LocalStackOptions, Seeder, print_summary


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port: {text}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``wiresocket`` command."""
    parser = argparse.ArgumentParser(prog="wiresocket", description="WireSocket security plane tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    local = commands.add_parser(
        "local",
        help="run the control plane locally on an embedded moto server",
        description="Run the control plane on this machine: embedded moto, real handlers, local gateways.",
    )
    local.add_argument("--http-port", type=_port, default=8080, help="control-plane HTTP port (0 = any free)")
    local.add_argument("--ws-port", type=_port, default=8081, help="WebSocket API emulator port (0 = any free)")
    local.add_argument(
        "--ws-idle-timeout", type=_seconds, default=600.0, help="close WebSocket connections idle this long (s)"
    )
    local.add_argument(
        "--ws-max-lifetime", type=_seconds, default=7200.0, help="close WebSocket connections this old (s)"
    )
    local.add_argument("--state-dir", type=Path, default=Path(".wiresocket"), help="where local.json is written")
    local.add_argument("--moto-port", type=_port, default=0, help="embedded moto server port (0 = any free)")
    return parser


def run_local(options: LocalStackOptions, *, seeder: Seeder | None = None) -> int:
    """Run the local stack until SIGINT or SIGTERM; 0 after a clean stop, 1 if it could not start."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Installed before starting, so a signal that arrives during start-up still ends in a clean stop.
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack = LocalStack(options, seeder=seeder)
    try:
        try:
            state = stack.start()
        except (LocalStackError, OSError, ImportError) as exc:
            print(f"wiresocket local: cannot start: {exc}", file=sys.stderr, flush=True)
            return 1
        print_summary(state, stack.state_file, sys.stdout)
        while not stop.wait(0.5):
            pass
        print("wiresocket local: stopping", file=sys.stderr, flush=True)
        return 0
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wiresocket`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    # moto's per-request lines, credential chatter, and websockets' per-connection lines (the emulator logs its own).
    for noisy in ("botocore", "boto3", "werkzeug", "pynamodb", "websockets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "local":
        options = LocalStackOptions(
            http_port=args.http_port,
            ws_port=args.ws_port,
            state_dir=args.state_dir,
            moto_port=args.moto_port,
            ws_idle_timeout=args.ws_idle_timeout,
            ws_max_lifetime=args.ws_max_lifetime,
        )
        return run_local(options)
    return 2  # unreachable: argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
