"""A local stand-in for the control plane's API Gateway REST API (Lambda proxy integration, format 1.0).

The handlers must not be able to tell this gateway from AWS: it routes with the same resource templates as
the CDK REST API (both come from ``names.CONTROL_PLANE_ROUTES``), builds the same proxy event, enforces the
same request limits, and maps the proxy result (or a failure) to HTTP the way API Gateway does. Where
API Gateway's behaviour is surprising, the surprise is reproduced on purpose, so the clients and tests
that pass here pass against AWS:

- An unknown resource, or a known resource without the requested method, is ``403
  {"message":"Missing Authentication Token"}`` (REST APIs do not answer 404 or 405).
- A request body over 10 MB is ``413``; a request target over 8 KB is ``414``.
- A handler exception, an import failure, or a malformed proxy result is ``502 {"message": "Internal
  server error"}``. The traceback is logged, but never the request's headers or body (they carry
  credentials).

Decisions where AWS's behaviour is not pinned down by its documentation (kept strict, so code that works
here does not rely on leniency):

- A path parameter matches exactly one non-empty segment; ``{name+}`` (greedy, last segment only) matches
  one or more. A literal segment wins over a parameter at the same level, like API Gateway's resource tree.
- The path is split on ``/`` before percent-decoding, so ``%2F`` stays inside one path parameter. A
  trailing slash or an empty segment matches nothing.
- Malformed percent-encoding (``%zz``, or bytes that are not UTF-8) is ``400``, never a 5xx.
- Query strings are decoded as HTML forms (``+`` is a space).
- Bodies that are valid UTF-8 are passed as text; anything else is base64 with ``isBase64Encoded``.
- The 29 s integration timeout is not emulated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import unquote, unquote_plus

from wiresocket.local.handlers import LOCAL_ACCOUNT_ID
from wiresocket.names import CONTROL_PLANE_ROUTES, Route

logger = logging.getLogger(__name__)

MAX_BODY_BYTES: Final = 10 * 1024 * 1024
"""API Gateway's payload limit for REST APIs (10 MB)."""
MAX_TARGET_BYTES: Final = 8 * 1024
"""Longest request target (path and query) accepted; API Gateway's URL limit is 8 KB."""
LOCAL_STAGE: Final = "local"
LOCAL_API_ID: Final = "wiresocket"  # ten lowercase characters, like a real API id
HTTP_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")  # a '%' not followed by two hex digits
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token
_HEADER_VALUE_FORBIDDEN = re.compile(r"[\r\n\x00]")
_PROXY_RESULT_KEYS: Final = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})
_HOP_BY_HOP: Final = frozenset({"connection", "content-length", "transfer-encoding", "keep-alive"})
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

Invoke = Callable[[str, dict[str, Any]], object]
"""Invokes a function by name with a proxy event and returns its result (``LocalFunctions.invoke``)."""


class BadRequestError(ValueError):
    """The request target cannot be decoded (malformed percent-encoding or non-UTF-8 bytes)."""


class MalformedProxyResponseError(ValueError):
    """The function's result is not a valid Lambda proxy response (API Gateway answers 502)."""


# --- Routing -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Segment:
    literal: str | None = None  # None for a parameter
    parameter: str | None = None
    greedy: bool = False


@dataclass(frozen=True)
class CompiledResource:
    """One API Gateway resource (path template) and the methods defined on it."""

    template: str
    segments: tuple[_Segment, ...]
    methods: Mapping[str, str]  # HTTP method (or ANY) -> function name

    def function_for(self, method: str) -> str | None:
        """The function behind ``method`` on this resource, or None if the method is not defined."""
        return self.methods.get(method) or self.methods.get("ANY")


@dataclass(frozen=True)
class RouteMatch:
    """The resource a request path resolved to, its decoded path parameters and the function (if any)."""

    resource: CompiledResource
    path_parameters: dict[str, str]
    function: str | None


def _split(path: str) -> list[str]:
    return [] if path == "/" else path[1:].split("/")


def _compile_segment(raw: str, template: str, last: bool) -> _Segment:
    if raw.startswith("{") and raw.endswith("}"):
        name = raw[1:-1]
        greedy = name.endswith("+")
        name = name.removesuffix("+")
        if not name or (greedy and not last):
            raise ValueError(f"invalid path parameter {raw!r} in {template!r}")
        return _Segment(parameter=name, greedy=greedy)
    if not raw or "{" in raw or "}" in raw:
        raise ValueError(f"invalid segment {raw!r} in {template!r}")
    return _Segment(literal=raw)


class RouteTable:
    """API Gateway's resource tree, flattened: resolves a raw request path to a resource and method."""

    def __init__(self, routes: Iterable[Route]) -> None:
        grouped: dict[str, dict[str, str]] = {}
        for route in routes:
            if not route.resource.startswith("/"):
                raise ValueError(f"resource must start with '/': {route.resource!r}")
            methods = grouped.setdefault(route.resource, {})
            method = route.method.upper()
            if method in methods:
                raise ValueError(f"duplicate route {method} {route.resource}")
            methods[method] = route.function
        resources = []
        for template, methods in grouped.items():
            raw_segments = _split(template)
            segments = tuple(
                _compile_segment(raw, template, i == len(raw_segments) - 1) for i, raw in enumerate(raw_segments)
            )
            resources.append(CompiledResource(template, segments, dict(methods)))
        # A literal beats a parameter, and a parameter beats a greedy one, at the first level they differ.
        self._resources = sorted(
            resources,
            key=lambda r: [0 if s.literal is not None else 2 if s.greedy else 1 for s in r.segments],
        )

    def match(self, method: str, raw_path: str) -> RouteMatch | None:
        """The resource for ``raw_path`` (still percent-encoded), or None if no resource matches.

        Raises ``BadRequestError`` if a segment is not valid percent-encoded UTF-8.
        """
        decoded = [_decode(segment) for segment in _split(raw_path)]
        for resource in self._resources:
            parameters = _match_segments(resource.segments, decoded)
            if parameters is not None:
                return RouteMatch(resource, parameters, resource.function_for(method))
        return None


def _match_segments(template: Sequence[_Segment], path: Sequence[str]) -> dict[str, str] | None:
    parameters: dict[str, str] = {}
    for i, segment in enumerate(template):
        if segment.greedy:
            rest = path[i:]
            if not rest or any(part == "" for part in rest):
                return None
            parameters[segment.parameter or ""] = "/".join(rest)
            return parameters
        if i >= len(path) or path[i] == "":
            return None
        if segment.literal is not None:
            if path[i] != segment.literal:
                return None
        else:
            parameters[segment.parameter or ""] = path[i]
    return parameters if len(template) == len(path) else None


def _check_percent_encoding(raw: str) -> None:
    if _BAD_PERCENT.search(raw):
        raise BadRequestError("malformed percent-encoding")


def _decode(raw: str, *, plus_is_space: bool = False) -> str:
    _check_percent_encoding(raw)
    try:
        return (unquote_plus if plus_is_space else unquote)(raw, errors="strict")
    except UnicodeDecodeError as exc:
        raise BadRequestError("percent-encoded bytes are not UTF-8") from exc


def parse_query(raw_query: str) -> list[tuple[str, str]]:
    """The decoded ``(name, value)`` pairs of a query string, in order; a bare ``name`` has value ``""``."""
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        decoded_name = _decode(name, plus_is_space=True)
        if decoded_name:
            pairs.append((decoded_name, _decode(value, plus_is_space=True)))
    return pairs


# --- Proxy event ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncomingRequest:
    """What the gateway read off the wire, before routing."""

    method: str
    raw_path: str
    raw_query: str
    headers: Sequence[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"


@dataclass(frozen=True)
class RequestIds:
    """The ids API Gateway gives every request (also returned as response headers)."""

    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    extended_request_id: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(11)).decode())


def _multi(pairs: Iterable[tuple[str, str]], *, case_insensitive: bool) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower() if case_insensitive else name
        grouped.setdefault(spelling.setdefault(key, name), []).append(value)
    return grouped


def _request_time(epoch: float) -> str:
    t = time.gmtime(epoch)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def _forwarded_headers(headers: Sequence[tuple[str, str]], source_ip: str, port: int) -> list[tuple[str, str]]:
    # API Gateway appends the caller's address to X-Forwarded-For and sets the port and protocol itself.
    forwarded = [value for name, value in headers if name.lower() == "x-forwarded-for"]
    replaced = {"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto"}
    kept = [(name, value) for name, value in headers if name.lower() not in replaced]
    return [
        *kept,
        ("X-Forwarded-For", ", ".join([*forwarded, source_ip])),
        ("X-Forwarded-Port", str(port)),
        ("X-Forwarded-Proto", "http"),
    ]


def build_proxy_event(
    request: IncomingRequest,
    match: RouteMatch,
    *,
    domain_name: str,
    port: int,
    stage: str = LOCAL_STAGE,
    ids: RequestIds | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The REST API Lambda proxy integration event (payload format 1.0) for a routed request.

    ``headers``/``queryStringParameters`` hold the last value of each name, the ``multiValue*`` fields all
    of them, and each is None when empty, as in AWS.
    """
    ids = ids or RequestIds()
    epoch = time.time() if now is None else now
    path = _decode(request.raw_path)
    headers = _forwarded_headers(request.headers, request.source_ip, port)
    multi_headers = _multi(headers, case_insensitive=True)
    query = parse_query(request.raw_query)
    multi_query = _multi(query, case_insensitive=False)
    user_agent = next((v for n, v in reversed(headers) if n.lower() == "user-agent"), None)
    body: str | None = None
    is_base64 = False
    if request.body:
        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            body = base64.b64encode(request.body).decode("ascii")
            is_base64 = True
    resource_id = hashlib.sha256(match.resource.template.encode()).hexdigest()[:6]
    return {
        "resource": match.resource.template,
        "path": path,
        "httpMethod": request.method,
        "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": match.path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": LOCAL_ACCOUNT_ID,
            "apiId": LOCAL_API_ID,
            "domainName": domain_name,
            "domainPrefix": domain_name.split(".", 1)[0],
            "extendedRequestId": ids.extended_request_id,
            "httpMethod": request.method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": request.source_ip,
                "user": None,
                "userAgent": user_agent,
                "userArn": None,
            },
            "path": f"/{stage}{path}",
            "protocol": request.protocol,
            "requestId": ids.request_id,
            "requestTime": _request_time(epoch),
            "requestTimeEpoch": int(epoch * 1000),
            "resourceId": resource_id,
            "resourcePath": match.resource.template,
            "stage": stage,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


# --- Proxy result --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpResponse:
    """An HTTP response ready to write: status, header lines (repeats allowed) and body bytes."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _header_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        text = str(value)
        if _HEADER_VALUE_FORBIDDEN.search(text):
            raise MalformedProxyResponseError("header value contains CR, LF or NUL")
        return text
    raise MalformedProxyResponseError("header value is not a string or number")


def _header_name(name: object) -> str:
    if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
        raise MalformedProxyResponseError("invalid header name")
    return name


def proxy_result_to_response(result: object) -> HttpResponse:
    """Map a Lambda proxy result to HTTP as API Gateway does; raise ``MalformedProxyResponseError`` if invalid.

    ``headers`` and ``multiValueHeaders`` are merged; a name/value pair present in both is sent once. A
    missing ``Content-Type`` becomes ``application/json``, API Gateway's default.
    """
    if not isinstance(result, dict):
        raise MalformedProxyResponseError("result is not an object")
    unknown = set(result) - _PROXY_RESULT_KEYS
    if unknown:
        raise MalformedProxyResponseError(f"unexpected fields {sorted(unknown)}")
    status = result.get("statusCode")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise MalformedProxyResponseError("statusCode is not an HTTP status")
    lines: list[tuple[str, str]] = []
    multi = result.get("multiValueHeaders") or {}
    single = result.get("headers") or {}
    if not isinstance(multi, dict) or not isinstance(single, dict):
        raise MalformedProxyResponseError("headers are not objects")
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedProxyResponseError("multiValueHeaders values are not lists")
        lines.extend((_header_name(name), _header_value(v)) for v in values)
    seen = {(name.lower(), value) for name, value in lines}
    for name, value in single.items():
        line = (_header_name(name), _header_value(value))
        if (line[0].lower(), line[1]) not in seen:
            lines.append(line)
    lines = [(name, value) for name, value in lines if name.lower() not in _HOP_BY_HOP]
    if not any(name.lower() == "content-type" for name, _ in lines):
        lines.append(("Content-Type", "application/json"))
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise MalformedProxyResponseError("body is not a string")
    is_base64 = result.get("isBase64Encoded", False)
    if not isinstance(is_base64, bool):
        raise MalformedProxyResponseError("isBase64Encoded is not a boolean")
    if body is None:
        payload = b""
    elif is_base64:
        try:
            payload = base64.b64decode(body, validate=True)
        except binascii.Error as exc:
            raise MalformedProxyResponseError("body is not valid base64") from exc
    else:
        payload = body.encode("utf-8")
    return HttpResponse(status, lines, payload)


def error_response(status: HTTPStatus, message: str, error_type: str | None = None) -> HttpResponse:
    """A gateway-generated error in API Gateway's shape: ``{"message": ...}`` plus ``x-amzn-ErrorType``."""
    headers = [("Content-Type", "application/json")]
    if error_type:
        headers.append(("x-amzn-ErrorType", error_type))
    return HttpResponse(int(status), headers, json.dumps({"message": message}).encode())


MISSING_AUTHENTICATION_TOKEN: Final = (
    HTTPStatus.FORBIDDEN,
    "Missing Authentication Token",
    "MissingAuthenticationTokenException",
)
INTERNAL_SERVER_ERROR: Final = (
    HTTPStatus.BAD_GATEWAY,
    "Internal server error",
    "InternalServerErrorException",
)


# --- HTTP server ---------------------------------------------------------------------------------------------


class _RequestTooLargeError(Exception):
    pass


class _ProxyRequestHandler(BaseHTTPRequestHandler):
    server_version = "wiresocket-local"
    protocol_version = "HTTP/1.1"  # keep-alive, like API Gateway
    timeout = 30  # idle keep-alive connections are closed, so threads do not pile up
    server: _GatewayServer

    # One entry per method http.server knows; routing (and the 403 for undefined methods) is the table's job.
    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def version_string(self) -> str:
        return self.server_version  # no Python version in the Server header

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The query string can carry credentials, so only the method and path are logged.
        path = self.path.partition("?")[0][:200]
        logger.info('%s "%s %s" %s', self.client_address[0], self.command, path, code)

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.client_address[0], format % args)

    def _dispatch(self) -> None:
        ids = RequestIds()
        try:
            response = self._handle(ids)
        except BadRequestError:
            self.close_connection = True  # the body may be unread, so the connection cannot be reused
            response = error_response(HTTPStatus.BAD_REQUEST, "Bad Request", "BadRequestException")
        except _RequestTooLargeError:
            self.close_connection = True  # the unread body is still on the socket
            response = error_response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request Too Long")
        self._write(response, ids)

    def _handle(self, ids: RequestIds) -> HttpResponse:
        target = self.path
        # http.server decodes the request line as Latin-1, so this counts the bytes that were sent.
        if len(target) > MAX_TARGET_BYTES:
            self.close_connection = True
            return error_response(HTTPStatus.REQUEST_URI_TOO_LONG, "Request-URI Too Long")
        if not target.startswith("/") or not target.isascii():
            raise BadRequestError("request target must be an ASCII origin-form path")
        raw_path, _, raw_query = target.partition("#")[0].partition("?")
        _check_percent_encoding(raw_query)
        match = self.server.routes.match(self.command, raw_path)
        body = self._read_body()
        if match is None or match.function is None:
            return error_response(*MISSING_AUTHENTICATION_TOKEN)
        request = IncomingRequest(
            method=self.command,
            raw_path=raw_path,
            raw_query=raw_query,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )
        server = self.server
        event = build_proxy_event(
            request, match, domain_name=server.domain_name, port=server.port, ids=ids, stage=server.stage
        )
        try:
            result = self.server.invoke(match.function, event)
            return proxy_result_to_response(result)
        except Exception:
            # Like Lambda's log: the traceback, never the event (its headers and body carry credentials).
            logger.exception("function %s failed (request %s)", match.function, ids.request_id)
            return error_response(*INTERNAL_SERVER_ERROR)

    def _read_body(self) -> bytes:
        length_header = self.headers.get("Content-Length")
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        if chunked and length_header is not None:
            raise BadRequestError("both Content-Length and Transfer-Encoding")  # request-smuggling shape
        if chunked:
            return self._read_chunked()
        if length_header is None:
            return b""
        if not length_header.strip().isdigit():
            raise BadRequestError("invalid Content-Length")
        length = int(length_header)
        if length > self.server.max_body_bytes:
            raise _RequestTooLargeError
        body = self.rfile.read(length)
        if len(body) != length:
            raise BadRequestError("body shorter than Content-Length")
        return body

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(1025)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise BadRequestError("invalid chunk size") from exc
            if size == 0:
                while self.rfile.readline(8193).strip():  # trailer fields, ignored
                    pass
                return bytes(body)
            if len(body) + size > self.server.max_body_bytes:
                raise _RequestTooLargeError
            chunk = self.rfile.read(size)
            self.rfile.readline(3)
            if len(chunk) != size:
                raise BadRequestError("truncated chunk")
            body += chunk

    def _write(self, response: HttpResponse, ids: RequestIds) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("x-amzn-RequestId", ids.request_id)
        self.send_header("x-amz-apigw-id", ids.extended_request_id)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


class _GatewayServer(ThreadingHTTPServer):
    daemon_threads = True  # an idle keep-alive connection must not block shutdown

    def __init__(
        self,
        address: tuple[str, int],
        *,
        routes: RouteTable,
        invoke: Invoke,
        stage: str,
        max_body_bytes: int,
    ) -> None:
        self.routes = routes
        self.invoke = invoke
        self.stage = stage
        self.max_body_bytes = max_body_bytes
        super().__init__(address, _ProxyRequestHandler)
        host, port = self.server_address[:2]
        self.port = int(port)
        self.domain_name = f"{host!s}:{self.port}"


class LocalHttpGateway:
    """The local REST API on ``host:port`` (port 0 = any free port); a context manager.

    ``bind()`` and ``serve()`` are separate so the stack can learn the real port (port 0 = any free port)
    before it configures the functions, and only then accept requests. ``start()`` does both.
    """

    def __init__(
        self,
        invoke: Invoke,
        *,
        routes: Iterable[Route] = CONTROL_PLANE_ROUTES,
        host: str = "127.0.0.1",
        port: int = 8080,
        stage: str = LOCAL_STAGE,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self._invoke = invoke
        self._routes = RouteTable(routes)
        self._address = (host, port)
        self._stage = stage
        self._max_body_bytes = max_body_bytes
        self._server: _GatewayServer | None = None
        self._thread: threading.Thread | None = None

    def bind(self) -> str:
        """Listen on the socket (requests queue until ``serve()``) and return the gateway's base URL."""
        if self._server is None:
            self._server = _GatewayServer(
                self._address,
                routes=self._routes,
                invoke=self._invoke,
                stage=self._stage,
                max_body_bytes=self._max_body_bytes,
            )
        return self.url

    def serve(self) -> None:
        """Start answering requests on a background thread (binds first if needed)."""
        self.bind()
        if self._thread is None:
            assert self._server is not None
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # how long stop() waits for the loop to notice
                name="wiresocket-http-gateway",
                daemon=True,
            )
            self._thread.start()

    def start(self) -> str:
        """Bind and serve; returns the base URL."""
        self.serve()
        return self.url

    @property
    def url(self) -> str:
        """``http://host:port`` of the bound gateway."""
        if self._server is None:
            raise RuntimeError("the gateway is not bound")
        return f"http://{self._server.domain_name}"

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
