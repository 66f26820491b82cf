"""The local stack's demo page and demo token broker (issue 6): ``http://localhost:5173/demo``.

The demo app's allowed domains are ``localhost:5173`` and ``127.0.0.1:5173`` and the WebSocket authorizer
checks the browser's ``Origin`` for real, so the page is served from its own listener on that port
(``wiresocket local --demo-port``, 0 disables it). It serves:

- ``GET /demo``: the page (``clients/js/dist/demo.html``), a shared text editor on Yjs with presence, running
  the stock y-websocket provider through the base64 wrapper of ``clients/js``;
- ``GET /demo/demo.js``: its esbuild bundle (``make demo-js``; 503 with a hint while it is not built);
- ``POST /demo/token``: the demo token broker. It performs ``client_credentials`` with the demo app's
  credentials **server-side**, through the real token endpoint over HTTP, and answers only
  ``{access_token, expires_in, websocket_url, document}`` with ``Cache-Control: no-store``. A browser never
  holds a client secret. It answers only requests whose ``Origin`` is this listener's own origin
  (``http://localhost:<port>`` or ``http://127.0.0.1:<port>``): any other site, or a request without
  ``Origin``, gets 403, so other pages cannot mint tokens of the demo app. The secret is never returned or
  logged.

Everything else is 404 (405 for a wrong method on a known path). Request bodies are limited to 1 KB.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from wiresocket import names
from wiresocket.domain.connections import is_document_name

logger = logging.getLogger(__name__)

DEFAULT_DEMO_PORT: Final = 5173
DEFAULT_DOCUMENT: Final = "demo"
MAX_BODY_BYTES: Final = 1024
PAGE_PATH: Final = "/demo"
TOKEN_PATH: Final = "/demo/token"  # noqa: S105 - a route, not a secret
STATIC_FILES: Final = {
    PAGE_PATH: ("demo.html", "text/html; charset=utf-8"),
    "/demo/demo.js": ("demo.js", "text/javascript; charset=utf-8"),
}
BUILD_HINT: Final = "the demo bundle is not built: run `make demo-js` (npm ci && npm run build in clients/js)\n"


def default_dist_dir() -> Path:
    """``clients/js/dist`` of the source tree this module runs from (else of the working directory)."""
    here = Path(__file__).resolve()
    candidates = [parent / "clients" / "js" / "dist" for parent in here.parents]
    for candidate in candidates:
        if candidate.parent.is_dir():
            return candidate
    return Path("clients/js/dist").resolve()


@dataclass(frozen=True)
class DemoCredentials:
    """The demo app's client credentials; never printed by ``repr``."""

    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"DemoCredentials(client_id={self.client_id!r}, client_secret=***)"


@dataclass(frozen=True)
class DemoGrant:
    """What the broker hands to the page."""

    access_token: str
    expires_in: int

    def __repr__(self) -> str:
        return f"DemoGrant(expires_in={self.expires_in})"


class TokenUnavailableError(Exception):
    """The token endpoint did not issue a token."""


def fetch_demo_token(control_plane_url: str, credentials: DemoCredentials) -> DemoGrant:
    """``client_credentials`` of the demo app against the real token endpoint over HTTP."""
    from wiresocket.client.errors import ClientError
    from wiresocket.client.http import Transport
    from wiresocket.client.oauth import TokenClient

    transport = Transport(control_plane_url, timeout=10.0)
    try:
        tokens = TokenClient(transport).client_credentials(
            credentials.client_id, credentials.client_secret, scope=names.SCOPE_API
        )
    except ClientError as exc:
        raise TokenUnavailableError(type(exc).__name__) from None
    finally:
        transport.close()
    return DemoGrant(tokens.access_token, max(0, round(tokens.expires_at - time.time())))


class _DemoHandler(BaseHTTPRequestHandler):
    server: _DemoHttpServer
    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return "wiresocket-demo"

    def log_message(self, format: str, *args: Any) -> None:  # request lines only at debug level
        logger.debug("demo %s", format % args)

    def do_GET(self) -> None:
        self._static(head=False)

    def do_HEAD(self) -> None:
        self._static(head=True)

    def do_POST(self) -> None:
        if self._path() != TOKEN_PATH:
            self._drain()
            self._reply(404 if self._path() not in STATIC_FILES else 405, {"error": "not_found"})
            return
        self._broker()

    def _path(self) -> str:
        return self.path.partition("?")[0]

    def _static(self, *, head: bool) -> None:
        path = self._path()
        if path in ("/", "/demo/"):
            self._send(302, b"", {"Location": PAGE_PATH}, head=head)
            return
        if path == TOKEN_PATH:
            self._reply(405, {"error": "method_not_allowed"}, extra={"Allow": "POST"})
            return
        entry = STATIC_FILES.get(path)
        if entry is None:
            self._reply(404, {"error": "not_found"})
            return
        name, content_type = entry
        try:
            body = (self.server.dist_dir / name).read_bytes()
        except OSError:
            self._send(503, BUILD_HINT.encode(), {"Content-Type": "text/plain; charset=utf-8"}, head=head)
            return
        self._send(200, body, {"Content-Type": content_type, **self.server.page_headers}, head=head)

    def _broker(self) -> None:
        origins = self.headers.get_all("Origin") or []
        if len(origins) != 1 or origins[0] not in self.server.own_origins:
            self._drain()
            self._reply(403, {"error": "forbidden_origin"})
            return
        document = self._requested_document()
        if document is None:
            self._reply(400, {"error": "invalid_request"})
            return
        credentials = self.server.credentials
        if credentials is None:
            self._reply(503, {"error": "demo_app_not_seeded"})
            return
        try:
            grant = fetch_demo_token(self.server.control_plane_url, credentials)
        except TokenUnavailableError as exc:
            logger.warning("demo token broker: the token endpoint issued no token (%s)", exc)
            self._reply(502, {"error": "token_unavailable"})
            return
        self._reply(
            200,
            {
                "access_token": grant.access_token,
                "expires_in": grant.expires_in,
                "websocket_url": self.server.websocket_url,
                "document": document,
            },
        )

    def _requested_document(self) -> str | None:
        """The ``document`` of a small JSON body (default ``demo``), or None for anything malformed."""
        raw_length = self.headers.get("Content-Length", "0")
        if not raw_length.isdigit() or self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True
            return None
        length = int(raw_length)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            return None
        body = self.rfile.read(length)
        if not body:
            return DEFAULT_DOCUMENT
        content_type = (self.headers.get("Content-Type") or "").partition(";")[0].strip().lower()
        if content_type != "application/json":
            return None
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            return None
        if not isinstance(payload, dict) or set(payload) - {"document"}:
            return None
        document = payload.get("document", DEFAULT_DOCUMENT)
        return document if isinstance(document, str) and is_document_name(document) else None

    def _drain(self) -> None:
        raw_length = self.headers.get("Content-Length", "0")
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # a body we do not read must never be taken for the next request
        elif raw_length.isdigit() and int(raw_length) <= MAX_BODY_BYTES:
            self.rfile.read(int(raw_length))
        else:
            self.close_connection = True

    def _reply(self, status: int, payload: dict[str, object], extra: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Pragma": "no-cache", **(extra or {})}
        self._send(status, body, headers, head=False)

    def _send(self, status: int, body: bytes, headers: dict[str, str], *, head: bool) -> None:
        self.send_response(status)
        for name, value in {
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Content-Length": str(len(body)),
            **headers,
        }.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)


class _DemoHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], dist_dir: Path) -> None:
        super().__init__(address, _DemoHandler)
        self.dist_dir = dist_dir
        port = self.server_address[1]
        self.own_origins = frozenset({f"http://localhost:{port}", f"http://127.0.0.1:{port}"})
        self.credentials: DemoCredentials | None = None
        self.control_plane_url = ""
        self.websocket_url = ""
        self.page_headers = {
            "Content-Security-Policy": (
                "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
                "connect-src 'self' ws://127.0.0.1:* ws://localhost:*; base-uri 'none'; form-action 'none'; "
                "frame-ancestors 'none'"
            ),
        }


class DemoServer:
    """The demo listener: ``bind()`` early (a busy port fails the start), ``serve()`` once the demo app is
    seeded and the gateways answer, ``stop()`` at the end."""

    def __init__(self, *, host: str, port: int, dist_dir: Path | None = None) -> None:
        self._host = host
        self._port = port
        self._dist_dir = dist_dir or default_dist_dir()
        self._server: _DemoHttpServer | None = None
        self._thread: threading.Thread | None = None

    def bind(self) -> str:
        """Bind the port; returns the page URL (``http://localhost:<port>/demo``, an allowed origin)."""
        self._server = _DemoHttpServer((self._host, self._port), self._dist_dir)
        if not (self._dist_dir / "demo.js").is_file():
            logger.warning("demo page: %s", BUILD_HINT.strip())
        return self.url

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the demo server is not bound")
        return f"http://localhost:{self._server.server_address[1]}{PAGE_PATH}"

    def serve(self, *, control_plane_url: str, websocket_url: str, credentials: DemoCredentials | None) -> None:
        """Start answering, with the broker's token endpoint, WebSocket URL and demo app credentials."""
        if self._server is None:
            raise RuntimeError("the demo server is not bound")
        self._server.control_plane_url = control_plane_url
        self._server.websocket_url = websocket_url
        self._server.credentials = credentials
        if credentials is None:
            logger.warning("demo page: the demo app is not seeded; the token broker answers 503")
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="wiresocket-demo", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        if self._server is None:
            return
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
        self._server = None


def demo_credentials(seeded_demo: object) -> DemoCredentials | None:
    """The demo app's credentials from the seeder's ``demo`` section, or None when it has none."""
    if not isinstance(seeded_demo, Mapping):
        return None
    client_id, client_secret = seeded_demo.get("client_id"), seeded_demo.get("client_secret")
    if not isinstance(client_id, str) or not isinstance(client_secret, str) or not client_id or not client_secret:
        return None
    return DemoCredentials(client_id, client_secret)
