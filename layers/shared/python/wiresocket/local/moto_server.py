"""An embedded moto server, so the local stack needs no AWS account, no Docker and no second process.

moto runs in a thread of the stack's own process (``ThreadedMotoServer``). The handlers reach it over HTTP
exactly as they reach AWS, through ``AWS_ENDPOINT_URL`` (honoured by boto3 itself), so no handler code
knows it is running locally. Because one process hosts everything, the process environment is made safe
first: fake credentials, a fixed region, and no profile or configured endpoint that could send a request
to a real AWS account by mistake.
"""

from __future__ import annotations

import http.client
import os
import socket
import threading
from collections.abc import MutableMapping
from types import TracebackType
from typing import Final, Self

from moto.server import ThreadedMotoServer

from wiresocket.local import moto_atomic

LOCAL_REGION: Final = "eu-west-1"
"""The AWS region the local stack pretends to run in."""

FAKE_CREDENTIALS: Final[dict[str, str]] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # moto's documented fake credential
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
}

# Settings that could make boto3 read a real profile or ignore AWS_ENDPOINT_URL and talk to real AWS.
_UNSAFE_VARIABLES: Final = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)

_START_TIMEOUT_SECONDS: Final = 30.0


class MotoServerError(RuntimeError):
    """The embedded moto server could not be started."""


def aws_environment(region: str = LOCAL_REGION, endpoint_url: str | None = None) -> dict[str, str]:
    """The AWS variables that point boto3 at moto: fake credentials, ``region`` and, if given, the endpoint."""
    env = dict(FAKE_CREDENTIALS)
    env["AWS_DEFAULT_REGION"] = region
    env["AWS_REGION"] = region
    env["AWS_EC2_METADATA_DISABLED"] = "true"  # never ask an instance metadata service for credentials
    if endpoint_url is not None:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    return env


def apply_aws_environment(env: MutableMapping[str, str], values: dict[str, str]) -> None:
    """Set ``values`` in ``env`` after removing every variable that could route a call to real AWS.

    Service-specific endpoints (``AWS_ENDPOINT_URL_DYNAMODB`` ...) win over ``AWS_ENDPOINT_URL`` in boto3,
    so any left over from the caller's shell are dropped too.
    """
    for name in list(env):
        if name in _UNSAFE_VARIABLES or name.startswith("AWS_ENDPOINT_URL_"):
            del env[name]
    env.update(values)


def _ensure_port_free(host: str, port: int) -> None:
    # ThreadedMotoServer.start() waits forever when the bind fails in its thread, so fail fast here instead.
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise MotoServerError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


class MotoServer:
    """An in-process moto server on ``host:port`` (port 0 picks a free one); a context manager.

    ``start()`` also sets fake credentials and the region in the process environment (unless
    ``configure_environment`` is false), so boto3 clients created afterwards can never reach real AWS, and
    (unless ``reset`` is false) empties moto's state, so every start is a fresh, empty AWS.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        region: str = LOCAL_REGION,
        configure_environment: bool = True,
        reset: bool = True,
    ) -> None:
        self._host = host
        self._port = port
        self._region = region
        self._configure_environment = configure_environment
        self._reset = reset
        self._server: ThreadedMotoServer | None = None
        self._endpoint_url: str | None = None

    @property
    def endpoint_url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._endpoint_url is None:
            raise MotoServerError("the moto server is not running")
        return self._endpoint_url

    def start(self) -> str:
        """Start the server (idempotent) and return its endpoint URL."""
        if self._endpoint_url is not None:
            return self._endpoint_url
        if self._configure_environment:
            apply_aws_environment(os.environ, aws_environment(self._region))
        _ensure_port_free(self._host, self._port)
        moto_atomic.install()  # DynamoDB's write atomicity, which moto lacks (see local/moto_atomic.py)
        server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
        starter = threading.Thread(target=server.start, name="moto-start", daemon=True)
        starter.start()
        starter.join(_START_TIMEOUT_SECONDS)
        if starter.is_alive():
            raise MotoServerError(f"moto did not start on {self._host}:{self._port}")
        host, port = server.get_host_and_port()
        self._server = server
        self._endpoint_url = f"http://{host}:{port}"
        if self._reset:
            self._reset_state()
        return self._endpoint_url

    def _reset_state(self) -> None:
        # moto keeps its backends in process globals, so a second server in one process (tests) would
        # otherwise start with the first one's tables and keys. moto's own reset API empties them.
        assert self._server is not None
        host, port = self._server.get_host_and_port()
        connection = http.client.HTTPConnection(host, port, timeout=10)
        try:
            connection.request("POST", "/moto-api/reset")
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise MotoServerError(f"moto reset failed with HTTP {response.status}")

    def stop(self) -> None:
        """Stop the server (idempotent). The environment variables set by ``start()`` are left as they are."""
        server, self._server, self._endpoint_url = self._server, None, None
        if server is not None:
            server.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
