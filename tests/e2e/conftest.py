"""End-to-end fixtures: the real ``wiresocket local`` command in its own process, as a developer runs it.

The stack runs as a subprocess (not in the test process) so the tests see exactly what ``make dev`` gives a
user — the CLI, signals, exit code, ``local.json`` — and the stack's environment (fake AWS credentials,
``AWS_ENDPOINT_URL``) cannot leak into other tests.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from wiresocket import names
from wiresocket.config import WS_CONNECT_PER_IP_MAX

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
E2E_CONNECT_LIMIT_ENV = {names.ENV_WS_CONNECT_PER_IP_LIMIT: str(WS_CONNECT_PER_IP_MAX)}
"""Every e2e client connects from 127.0.0.1, many times a minute (the revocation test alone opens 250 sockets):
the stacks started here raise the per-IP connect limit (SPEC §7: 60/min, ``wiresocket local``'s default)."""


@dataclass
class RunningStack:
    """A ``wiresocket local`` process and the parsed ``local.json`` it wrote."""

    process: subprocess.Popen[bytes]
    state: dict[str, Any]
    state_dir: Path
    log_dir: Path

    @property
    def control_plane_url(self) -> str:
        return str(self.state["control_plane_url"])

    def output(self) -> str:
        """What the process printed so far (stdout, then stderr), for assertion messages."""
        return "\n".join((self.log_dir / name).read_text(errors="replace") for name in ("stdout", "stderr"))

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Send ``sig`` and return the exit code; kill the process and fail if it does not exit in time."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"wiresocket local did not stop within {STOP_TIMEOUT_SECONDS:.0f}s after {sig.name}")


def free_port() -> int:
    """A port nothing listens on right now (for the reserved WebSocket port, which is not bound yet)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def launch(state_dir: Path, log_dir: Path, *extra_args: str) -> subprocess.Popen[bytes]:
    """Start ``wiresocket local`` on free ports with its output in ``log_dir``; does not wait for readiness."""
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **E2E_CONNECT_LIMIT_ENV, "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "wiresocket.cli",
        "local",
        "--http-port",
        "0",
        "--ws-port",
        "0",  # ephemeral, bound by the stack itself (a probed free port could be taken before it binds)
        "--moto-port",
        "0",
        "--state-dir",
        str(state_dir),
        # No demo page by default: its port is fixed (5173, the demo app's allowed origin), so only the tests
        # that use it bind it (tests/e2e/test_demo_browser.py passes --demo-port 5173 after this).
        "--demo-port",
        "0",
        *extra_args,
    ]
    with (log_dir / "stdout").open("wb") as out, (log_dir / "stderr").open("wb") as err:
        return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out, stderr=err)


def wait_for_state(process: subprocess.Popen[bytes], state_dir: Path, log_dir: Path) -> dict[str, Any]:
    """Wait until ``local.json`` exists (the stack's "ready" signal) and return it parsed."""
    state_file = state_dir / "local.json"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not state_file.exists():
        if process.poll() is not None:
            err = (log_dir / "stderr").read_text(errors="replace")
            pytest.fail(f"wiresocket local exited with {process.returncode} before it was ready:\n{err}")
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            pytest.fail(f"wiresocket local wrote no local.json within {START_TIMEOUT_SECONDS:.0f}s")
        time.sleep(0.1)
    state: dict[str, Any] = json.loads(state_file.read_text())
    return state


def start_stack(base: Path) -> RunningStack:
    """Start a stack under ``base`` (state in ``base/state``, logs in ``base/logs``) and wait until ready."""
    state_dir, log_dir = base / "state", base / "logs"
    process = launch(state_dir, log_dir)
    return RunningStack(process, wait_for_state(process, state_dir, log_dir), state_dir, log_dir)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """One running local stack shared by the session; must exit 0 within 10 s of SIGTERM at the end."""
    stack = start_stack(tmp_path_factory.mktemp("local-stack"))
    yield stack
    exit_code = stack.stop(signal.SIGTERM)
    assert exit_code == 0, stack.output()


@pytest.fixture
def start_local_stack(tmp_path: Path) -> Iterator[Callable[[], RunningStack]]:
    """A factory for a private stack (tests that stop it themselves); leftovers are killed at teardown."""
    started: list[RunningStack] = []

    def start() -> RunningStack:
        stack = start_stack(tmp_path / f"stack-{len(started)}")
        started.append(stack)
        return stack

    yield start
    for stack in started:
        if stack.process.poll() is None:
            stack.process.kill()
            stack.process.wait()
