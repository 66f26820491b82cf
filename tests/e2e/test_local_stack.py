"""``wiresocket local`` starts, announces itself in ``local.json`` only when ready, and stops cleanly (SPEC §10)."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.e2e.conftest import RunningStack, launch
from wiresocket import names
from wiresocket.local.stack import LocalStack, LocalStackError, LocalStackOptions

SPEC_KEYS = {"control_plane_url", "websocket_url", "operator", "dashboard_client", "demo"}


# --- The real command, in its own process ----------------------------------------------------------------


def test_a_busy_http_port_fails_fast_and_writes_no_local_json(tmp_path: Path) -> None:
    # Given something already listening on the HTTP port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # When the stack is started on that port
        process = launch(tmp_path / "state", tmp_path / "logs", "--http-port", str(port))
        try:
            exit_code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail("wiresocket local kept running on a busy port")
    # Then it exits non-zero with a message, and never claims to be ready
    assert exit_code == 1
    assert "cannot start" in (tmp_path / "logs" / "stderr").read_text()
    assert not (tmp_path / "state" / "local.json").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_stack_stops_cleanly_on_a_signal(
    start_local_stack: Callable[[], RunningStack], sig: signal.Signals
) -> None:
    # Given a running stack
    stack = start_local_stack()
    url = stack.control_plane_url
    # When it receives SIGTERM or SIGINT
    exit_code = stack.stop(sig)
    # Then it exits 0, the gateway is gone, and local.json is left in place
    assert exit_code == 0, stack.output()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/", timeout=2)
    assert (stack.state_dir / "local.json").exists()


def test_local_json_has_the_keys_of_spec_section_10(local_stack: RunningStack) -> None:
    # Given the running local stack
    # When its local.json is read
    state = local_stack.state
    # Then it has exactly the documented keys, URLs on the loopback interface, and the demo tenant
    # plus where the local AWS resources are (README) and every WebSocket region's URL (docs/websocket.md)
    assert set(state) == SPEC_KEYS | {"aws", "websocket_urls", "demo_url"}
    assert list(state["websocket_urls"].values()) == [state["websocket_url"]]
    assert state["control_plane_url"].startswith("http://127.0.0.1:")
    assert state["websocket_url"].startswith("ws://127.0.0.1:")
    assert state["demo"]["tenant_id"]


def test_local_json_is_readable_by_its_owner_only(local_stack: RunningStack) -> None:
    # Given the running local stack
    # When the permissions of local.json are read
    mode = stat.S_IMODE((local_stack.state_dir / "local.json").stat().st_mode)
    # Then only the owner can read it (it holds the demo credentials)
    assert mode == 0o600


def test_an_unknown_path_is_missing_authentication_token(local_stack: RunningStack) -> None:
    # Given the running local stack
    # When a path that is no control-plane resource is requested
    response = requests.get(f"{local_stack.control_plane_url}/no/such/resource", timeout=10)
    # Then it answers like API Gateway's REST API
    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}


# --- The WebSocket emulator (SPEC §10) ---------------------------------------------------------------------


def test_the_websocket_emulator_listens_and_serves_its_management_api(local_stack: RunningStack) -> None:
    # Given the running local stack
    websocket_url = str(local_stack.state["websocket_url"])
    management = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=local_stack.state["aws"]["websocket_management_url"],
        region_name=local_stack.state["aws"]["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    # When a plain HTTP request, a handshake without any token and a management call reach it
    plain = requests.get(websocket_url.replace("ws://", "http://", 1) + "/demo", timeout=10)
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{websocket_url}/?doc=demo", open_timeout=10)
    with pytest.raises(ClientError) as gone:
        management.get_connection(ConnectionId="L0SM9cOFvHcCIhw=")
    # Then the WebSocket port answers like API Gateway: no upgrade, no connection, and 410 for an unknown id
    assert plain.status_code == 426
    assert refused.value.response.status_code >= 400
    assert gone.value.response["Error"]["Code"] == "GoneException"


# --- The stack as a library, with an injected seeder ----------------------------------------------------


def trivial_seed(endpoint_url: str, settings: dict[str, str]) -> Mapping[str, object]:
    return {
        "operator": {"username": "operator", "password": "local-only"},
        "dashboard_client": {"client_id": "dashboard", "client_secret": "local-only"},
        "demo": {"tenant_id": "t-demo", "app_id": "a-demo", "client_id": "c", "client_secret": "s"},
    }


@pytest.fixture
def restored_environ() -> Iterator[None]:
    # The stack points this process's AWS configuration at its moto; other tests must not inherit that.
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.usefixtures("restored_environ")
def test_a_failing_seeder_stops_everything_and_writes_no_local_json(tmp_path: Path) -> None:
    # Given a seeder that fails
    def failing_seed(endpoint_url: str, settings: dict[str, str]) -> Mapping[str, object]:
        raise LocalStackError("seeding failed")

    stack = LocalStack(LocalStackOptions(http_port=0, ws_port=0, demo_port=0, state_dir=tmp_path), seeder=failing_seed)
    # When the stack is started
    with pytest.raises(LocalStackError):
        stack.start()
    # Then no local.json announces a stack that never became ready
    assert not (tmp_path / "local.json").exists()


@pytest.mark.usefixtures("restored_environ")
def test_local_json_is_written_only_once_the_gateway_answers(tmp_path: Path) -> None:
    # Given a stale local.json from an earlier run, and a seeder that checks it is gone when seeding runs
    (tmp_path / "local.json").write_text('{"stale": true}')
    seen: dict[str, object] = {}

    def checking_seed(endpoint_url: str, settings: dict[str, str]) -> Mapping[str, object]:
        seen["file_during_seed"] = (tmp_path / "local.json").exists()
        seen["settings"] = settings
        return trivial_seed(endpoint_url, settings)

    # (every port ephemeral: never colliding with a running `make dev` or another test's stack)
    stack = LocalStack(LocalStackOptions(http_port=0, ws_port=0, demo_port=0, state_dir=tmp_path), seeder=checking_seed)
    # When the stack is started
    try:
        state = stack.start()
        response = requests.get(f"{state['control_plane_url']}/nowhere", timeout=10)
        issuer = os.environ[names.ENV_ISSUER_BASE]
    finally:
        stack.stop()
    # Then the stale file was gone while seeding, the new one holds the seeder's data, and it is 0600
    assert seen["file_during_seed"] is False
    assert response.status_code == 403
    written = (tmp_path / "local.json").read_text()
    assert '"t-demo"' in written
    assert "stale" not in written
    assert stat.S_IMODE((tmp_path / "local.json").stat().st_mode) == 0o600
    assert (tmp_path / ".gitignore").read_text().strip().endswith("*")
    host, _, port = str(state["websocket_url"]).removeprefix("ws://").partition(":")
    assert (host, port.isdigit() and int(port) > 0) == ("127.0.0.1", True)  # the bound port, not the requested 0
    assert state["demo_url"] is None  # no demo listener (its port is fixed: 5173) when disabled
    # And the functions' settings name the created resources and this gateway as the issuer
    settings = seen["settings"]
    assert isinstance(settings, dict)
    assert settings[names.ENV_DIRECTORY_TABLE] == names.DIRECTORY_TABLE.default_name
    assert settings[names.ENV_MASTER_KEY_ID] == "alias/wiresocket-master"  # an alias, re-pointed on rotation
    assert settings[names.ENV_AUDIT_BUS] == names.AUDIT_BUS_NAME
    assert settings[names.ENV_ISSUER_BASE] == state["control_plane_url"] == issuer
