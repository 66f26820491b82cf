"""The ``@connections`` management API of the local WebSocket emulator, on plain HTTP.

In AWS, a WebSocket API's backend talks to its clients through the management API at the stage URL,
``https://{apiId}.execute-api.{region}.amazonaws.com/{stage}``, which is what boto3's
``apigatewaymanagementapi`` client takes as ``endpoint_url``. Locally that URL is ``http://{host}:{port}/{stage}``
(``ManagementApiServer.url``), so the handlers differ between AWS and the emulator by configuration only:

- ``POST /{stage}/@connections/{connectionId}`` sends the body to the client as one text frame and answers 200.
  A body over 128 KB is ``413 PayloadTooLargeException``.
- ``GET`` answers ``{"connectedAt", "identity": {"sourceIp", "userAgent"}, "lastActiveAt"}`` (the service model's
  wire names; boto3 shows them as ``ConnectedAt`` ...).
- ``DELETE`` closes the connection (close code 1000, see ``ws_gateway``) and answers 204.
- An id that is unknown, closed or being closed is ``410 GoneException`` for all three.

Errors carry ``x-amzn-ErrorType``, which botocore turns into the error code (``GoneException``), and a
``{"message": ...}`` body. Decisions for what AWS does not pin down:

- It runs on its own port, not on the WebSocket port: the ``websockets`` server cannot read a request body,
  and ``PostToConnection`` has one.
- Requests must be SigV4-signed (an ``Authorization: AWS4-HMAC-SHA256 ...`` header, as every AWS SDK sends),
  or they are ``403 ForbiddenException``, so an unsigned hand-made request that would fail in AWS fails here
  too. The signature itself is not verified: the emulator has no credentials to check it against.
- A body that is not UTF-8 is sent as a binary frame (a text frame must be UTF-8).
- Any other path, stage or method is ``403 ForbiddenException``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, Protocol
from urllib.parse import unquote

logger = logging.getLogger(__name__)

MAX_DATA_BYTES: Final = 128 * 1024
"""The largest ``PostToConnection`` payload (API Gateway's 128 KB message quota)."""
MAX_READ_BYTES: Final = 10 * 1024 * 1024
"""Bodies up to this size are read (and refused with 413 if over ``MAX_DATA_BYTES``); larger ones are not read."""
CONNECTIONS_SEGMENT: Final = "@connections"
SIGV4_PREFIX: Final = "AWS4-HMAC-SHA256 "


class ConnectionGoneError(LookupError):
    """No live connection has this id (``410 GoneException``)."""


class PayloadTooLargeError(ValueError):
    """The data is larger than a WebSocket message may be (``413 PayloadTooLargeException``)."""


@dataclass(frozen=True)
class ConnectionInfo:
    """What ``GetConnection`` reports about a live connection (times are epoch seconds)."""

    connected_at: float
    source_ip: str
    user_agent: str
    last_active_at: float


class ConnectionManager(Protocol):
    """The live connections behind the API (``LocalWebSocketGateway``); callable from any thread."""

    def post_to_connection(self, connection_id: str, data: bytes) -> None:
        """Send ``data`` to the client; raises ``ConnectionGoneError`` or ``PayloadTooLargeError``."""
        ...

    def get_connection(self, connection_id: str) -> ConnectionInfo:
        """Describe the connection; raises ``ConnectionGoneError``."""
        ...

    def delete_connection(self, connection_id: str) -> None:
        """Close the connection; raises ``ConnectionGoneError``."""
        ...


def iso8601(epoch: float) -> str:
    """An epoch as the API's timestamps: ``2024-05-01T12:00:00.123Z``."""
    t = time.gmtime(epoch)
    millis = int(epoch * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{millis:03d}Z"


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes = b""
    error_type: str | None = None


def _error(status: HTTPStatus, error_type: str, message: str) -> _Reply:
    return _Reply(int(status), json.dumps({"message": message}).encode(), error_type)


GONE: Final = (HTTPStatus.GONE, "GoneException", "The connection does not exist or is closed")
FORBIDDEN: Final = (HTTPStatus.FORBIDDEN, "ForbiddenException", "Forbidden")
MISSING_SIGNATURE: Final = (HTTPStatus.FORBIDDEN, "ForbiddenException", "Missing Authentication Token")
TOO_LARGE: Final = (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "PayloadTooLargeException", "Payload too large")
BAD_REQUEST: Final = (HTTPStatus.BAD_REQUEST, "BadRequestException", "Bad request")


class _ManagementRequestHandler(BaseHTTPRequestHandler):
    server_version = "wiresocket-local"
    protocol_version = "HTTP/1.1"  # keep-alive: boto3 reuses its connections
    timeout = 30
    server: _ManagementServer

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def version_string(self) -> str:
        return self.server_version

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug('%s "%s %s" %s', self.client_address[0], self.command, self.path.partition("?")[0][:200], code)

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.client_address[0], format % args)

    def _dispatch(self) -> None:
        try:
            reply = self._handle()
        except ConnectionGoneError:
            reply = _error(*GONE)
        except PayloadTooLargeError:
            reply = _error(*TOO_LARGE)
        except Exception:
            logger.exception("@connections %s failed", self.command)
            reply = _error(HTTPStatus.INTERNAL_SERVER_ERROR, "InternalServerErrorException", "Internal server error")
        self._write(reply)

    def _handle(self) -> _Reply:
        body = self._read_body()
        if body is None:
            return _error(*BAD_REQUEST)
        if not (self.headers.get("Authorization") or "").startswith(SIGV4_PREFIX):
            return _error(*MISSING_SIGNATURE)
        connection_id = self._connection_id()
        if connection_id is None:
            return _error(*FORBIDDEN)
        manager = self.server.manager
        if self.command == "POST":
            if len(body) > self.server.max_data_bytes:
                raise PayloadTooLargeError
            manager.post_to_connection(connection_id, body)
            return _Reply(int(HTTPStatus.OK))
        if self.command == "GET":
            info = manager.get_connection(connection_id)
            document = {
                "connectedAt": iso8601(info.connected_at),
                "identity": {"sourceIp": info.source_ip, "userAgent": info.user_agent},
                "lastActiveAt": iso8601(info.last_active_at),
            }
            return _Reply(int(HTTPStatus.OK), json.dumps(document).encode())
        if self.command == "DELETE":
            manager.delete_connection(connection_id)
            return _Reply(int(HTTPStatus.NO_CONTENT))
        return _error(*FORBIDDEN)

    def _connection_id(self) -> str | None:
        # /{stage}/@connections/{id}, split before decoding so an encoded '/' stays inside the id.
        raw_path = self.path.partition("?")[0]
        segments = raw_path.split("/")
        if len(segments) != 4 or segments[0] != "":
            return None
        try:
            stage, resource, connection_id = (unquote(s, errors="strict") for s in segments[1:])
        except UnicodeDecodeError:
            return None
        if stage != self.server.stage or resource != CONNECTIONS_SEGMENT or not connection_id:
            return None
        return connection_id

    def _read_body(self) -> bytes | None:
        """The request body; None (a bad request) for chunked or invalid framing. Oversized bodies are unread."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return None
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        if not length_header.strip().isdigit():
            self.close_connection = True
            return None
        length = int(length_header)
        if length > MAX_READ_BYTES:
            self.close_connection = True  # the unread body is still on the socket
            raise PayloadTooLargeError
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            return None
        return body

    def _write(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        if reply.body:
            self.send_header("Content-Type", "application/json")
        if reply.error_type:
            self.send_header("x-amzn-ErrorType", reply.error_type)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)


class _ManagementServer(ThreadingHTTPServer):
    daemon_threads = True  # an idle keep-alive connection must not block shutdown

    def __init__(self, address: tuple[str, int], *, manager: ConnectionManager, stage: str, max_data_bytes: int):
        self.manager = manager
        self.stage = stage
        self.max_data_bytes = max_data_bytes
        super().__init__(address, _ManagementRequestHandler)


class ManagementApiServer:
    """The ``@connections`` API for ``manager`` on ``host:port`` (port 0 = any free port).

    ``bind()`` learns the port before anything is served (the stack configures the handlers with ``url`` first);
    ``serve()`` starts answering on a background thread; ``stop()`` is idempotent.
    """

    def __init__(
        self,
        manager: ConnectionManager,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        stage: str,
        max_data_bytes: int = MAX_DATA_BYTES,
    ) -> None:
        self._manager = manager
        self._address = (host, port)
        self._stage = stage
        self._max_data_bytes = max_data_bytes
        self._server: _ManagementServer | None = None
        self._thread: threading.Thread | None = None

    def bind(self) -> str:
        """Listen on the socket (requests queue until ``serve()``) and return the API's base URL."""
        if self._server is None:
            self._server = _ManagementServer(
                self._address, manager=self._manager, stage=self._stage, max_data_bytes=self._max_data_bytes
            )
        return self.url

    def serve(self) -> None:
        """Start answering requests on a background thread (binds first if needed)."""
        self.bind()
        if self._thread is None:
            assert self._server is not None
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="wiresocket-ws-management",
                daemon=True,
            )
            self._thread.start()

    @property
    def url(self) -> str:
        """``http://host:port/{stage}``: the ``endpoint_url`` of an ``apigatewaymanagementapi`` client."""
        if self._server is None:
            raise RuntimeError("the management API is not bound")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/{self._stage}"

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        if thread is not None:
            server.shutdown()
            thread.join()
        server.server_close()
