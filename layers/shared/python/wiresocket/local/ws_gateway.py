"""A local stand-in for the data plane's API Gateway WebSocket API (SPEC §8, §10), built on ``websockets``.

The handlers must not be able to tell this gateway from AWS: it invokes the ``$connect`` Lambda ``REQUEST``
authorizer and the ``$connect``/``$default``/``$disconnect`` integrations with API Gateway's event shapes
(``ws_events``), enforces the authorizer's IAM policy, and serves the ``@connections`` management API
(``connections_api``) that the handlers use to talk back. Where API Gateway's behaviour is surprising, the
surprise is reproduced on purpose:

- The handshake: authorizer first (a deny, a crash or a malformed policy fails it with 403, or 401 when the
  authorizer raised ``Unauthorized``, and nothing else is invoked), then ``$connect`` (a non-2xx status fails
  the handshake with that status; a ``Sec-WebSocket-Protocol`` header in its response is the subprotocol the
  handshake selects, if the client offered it). A connection becomes visible to the management API only when
  the handshake has completed, so posting to it from ``$connect`` is ``410 Gone``, as in AWS.
- Binary frames are refused: the connection is closed with 1003. A frame over 32 KB or a message over 128 KB
  closes it with 1009 (API Gateway's quotas). Text frames go to ``$default`` one at a time, in order.
- A connection is closed with 1001 ("Going away") after ``idle_timeout`` seconds without a data frame in
  either direction (default 10 minutes) and after ``max_lifetime`` seconds in all (default 2 hours).
- ``$disconnect`` is invoked exactly once per connection that ``$connect`` accepted, after the socket is
  closed — whichever side closed it, including a client that vanished before the upgrade finished and a
  gateway that is stopping. It is best effort: its result and failures change nothing.
- A ``$default`` invocation that fails sends the client
  ``{"message": "Internal server error", "connectionId", "requestId"}`` and keeps the connection open.
- A handshake URL over 4096 characters is ``414``.

Decisions where AWS's behaviour is not pinned down by its documentation:

- The local URL has no stage segment: ``ws://host:port/?doc=...`` or ``ws://host:port/{documentName}``; the
  path's document name is handed to the functions as ``?doc=`` (see ``ws_events.handshake_query``); any other
  path is 403.
- An authorizer that raises anything but ``Unauthorized`` is 403 here (AWS answers 500): SPEC §8 fixes a deny
  as 401/403, and a failure must never look like a transient error worth retrying.
- A function that does not exist (``HandlerLoadError``) fails the handshake with 500 and is logged; a
  ``$connect`` that raises or returns something that is no proxy response fails it with 502.
- ``DeleteConnection`` closes with 1000 and an empty reason, and ``$disconnect`` reports that code.
  ``$disconnect`` reports a client's own close code and reason, 1005 "Client-side close frame status not set"
  for a close frame without a code, and 1006 when the TCP connection was lost without one.
- Only data frames count as activity; pings do not (the gateway never pings, API Gateway does not either).
- No permessage-deflate (API Gateway does not negotiate it), and no ``Server`` header.
- The 29 s integration timeout is not enforced; a slow function only delays its own connection.

Everything runs on one event loop in one background thread; functions run in worker threads
(``asyncio.to_thread``), so a slow handler never blocks other connections, and a handler may call the
management API (from its worker thread) while the loop keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final, Self, TypeVar, cast

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.frames import CloseCode
from websockets.http11 import SERVER, Request, Response
from websockets.protocol import OPEN
from websockets.typing import Subprotocol

from wiresocket.local.connections_api import (
    MAX_DATA_BYTES,
    ConnectionGoneError,
    ConnectionInfo,
    ManagementApiServer,
    PayloadTooLargeError,
)
from wiresocket.local.gateway import (
    LOCAL_STAGE,
    BadRequestError,
    CompiledResource,
    IncomingRequest,
    Invoke,
    MalformedProxyResponseError,
    RouteMatch,
    build_proxy_event,
    proxy_result_to_response,
)
from wiresocket.local.handlers import LOCAL_ACCOUNT_ID, HandlerLoadError
from wiresocket.local.ws_events import (
    CONNECT_ROUTE,
    ConnectionIdentity,
    HandshakePathError,
    HandshakeRequest,
    MalformedIntegrationResponseError,
    WebSocketStage,
    build_authorizer_event,
    build_connect_event,
    build_disconnect_event,
    build_message_event,
    disconnect_reason,
    epoch_millis,
    evaluate_authorizer_response,
    handshake_query,
    interpret_connect_result,
    new_connection_id,
    new_request_id,
)
from wiresocket.names import DATA_PLANE_HTTP_PATHS

logger = logging.getLogger(__name__)

LOCAL_WS_API_ID: Final = "wiresockws"  # ten lowercase characters, like a real API id
DEFAULT_IDLE_TIMEOUT_SECONDS: Final = 10 * 60.0
DEFAULT_MAX_LIFETIME_SECONDS: Final = 2 * 60 * 60.0
MAX_FRAME_BYTES: Final = 32 * 1024
"""API Gateway's WebSocket frame quota (32 KB); a larger frame closes the connection with 1009."""
MAX_MESSAGE_BYTES: Final = MAX_DATA_BYTES
"""API Gateway's message payload quota (128 KB, in frames of at most 32 KB); a larger message is 1009."""
MAX_URL_CHARS: Final = 4096
"""API Gateway's limit on the length of a WebSocket API URL."""
OPEN_TIMEOUT_SECONDS: Final = 70.0  # authorizer + $connect, each up to API Gateway's 29 s integration timeout
CLOSE_TIMEOUT_SECONDS: Final = 2.0  # how long a closing handshake may take before the socket is dropped
CALL_TIMEOUT_SECONDS: Final = 30.0  # how long a management call from another thread waits for the loop
START_TIMEOUT_SECONDS: Final = 10.0
STOP_TIMEOUT_SECONDS: Final = 6.0  # closing handshakes and $disconnects; the stack must stop within 10 s
LOOP_JOIN_TIMEOUT_SECONDS: Final = 2.0
INVOKE_WORKERS: Final = 64

UNSUPPORTED_DATA_REASON: Final = "Binary frames are not supported"
GOING_AWAY_REASON: Final = "Going away"

_T = TypeVar("_T")


@dataclass(eq=False)
class _Session:
    """One connection that ``$connect`` accepted: what its events need and where its lifecycle stands."""

    stage: WebSocketStage
    identity: ConnectionIdentity
    connection: ServerConnection
    authorizer: dict[str, object]
    subprotocol: str | None
    opened_at: float  # loop time
    last_active: float  # loop time of the last data frame, either direction
    last_active_epoch: float
    live: bool = False  # in the registry: the handshake completed and nobody started closing it
    close_code: int | None = None  # set when the gateway closes the connection
    close_reason: str = ""
    disconnected: bool = False  # $disconnect was invoked

    def touch(self, loop_time: float) -> None:
        self.last_active = loop_time
        self.last_active_epoch = time.time()


class _GatewayConnection(ServerConnection):
    """A server connection that knows its session, and reports a handshake that failed after ``$connect``."""

    session: _Session | None = None
    on_abandoned: Callable[[_Session], None] | None = None

    async def handshake(
        self,
        process_request: Callable[[ServerConnection, Request], Awaitable[Response | None] | Response | None]
        | None = None,
        process_response: Callable[[ServerConnection, Request, Response], Awaitable[Response | None] | Response | None]
        | None = None,
        server_header: str | None = SERVER,
    ) -> None:
        try:
            await super().handshake(process_request, process_response, server_header)
        finally:
            # $connect accepted the connection, but the upgrade did not complete (the client left, the
            # server is stopping, the open timeout expired): it still gets its $disconnect.
            if self.session is not None and self.protocol.state is not OPEN and self.on_abandoned is not None:
                self.on_abandoned(self.session)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a $connect may answer any status code
        return "Unknown"


def _json_response(status: int, payload: dict[str, str]) -> Response:
    body = json.dumps(payload).encode()
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
        ]
    )
    return Response(status, _phrase(status), headers, body)


def _error_response(status: int, message: str, connection_id: str, request_id: str) -> Response:
    return _json_response(status, {"message": message, "connectionId": connection_id, "requestId": request_id})


class LocalWebSocketGateway:
    """The local WebSocket API on ``ws://host:port`` and its ``@connections`` API; a context manager.

    ``invoke(function_name, event) -> result`` runs a function (``LocalFunctions.invoke``). ``bind()`` learns
    both ports before anything is served (so the stack can hand ``management_url`` to the functions' settings
    first); ``serve()`` starts accepting; ``start()`` does both. Port 0 means any free port, for either.
    """

    def __init__(
        self,
        invoke: Invoke,
        *,
        host: str = "127.0.0.1",
        port: int = 8081,
        management_port: int = 0,
        region: str = "eu-west-1",
        account_id: str = LOCAL_ACCOUNT_ID,
        api_id: str = LOCAL_WS_API_ID,
        stage: str = LOCAL_STAGE,
        authorizer_function: str = "ws_connect",
        connect_function: str = "ws_connect",
        disconnect_function: str = "ws_connect",
        default_function: str = "ws_message",
        http_function: str | None = "ws_http",
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT_SECONDS,
        max_lifetime: float = DEFAULT_MAX_LIFETIME_SECONDS,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        if idle_timeout <= 0 or max_lifetime <= 0:
            raise ValueError("idle_timeout and max_lifetime must be positive")
        self._invoke = invoke
        self._host = host
        self._port = port
        self._region = region
        self._account_id = account_id
        self._api_id = api_id
        self._stage_name = stage
        self._authorizer_function = authorizer_function
        self._connect_function = connect_function
        self._disconnect_function = disconnect_function
        self._default_function = default_function
        self._http_function = http_function
        self._idle_timeout = idle_timeout
        self._max_lifetime = max_lifetime
        self._max_frame_bytes = max_frame_bytes
        self._max_message_bytes = max_message_bytes
        self._management = ManagementApiServer(self, host=host, port=management_port, stage=stage)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._server: Server | None = None
        self._stage: WebSocketStage | None = None
        self._serving = False
        # Touched on the loop thread only.
        self._sessions: dict[str, _Session] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # --- Lifecycle (any thread) ------------------------------------------------------------------------------

    def bind(self) -> str:
        """Listen on both ports (connections queue until ``serve()``) and return the WebSocket URL."""
        if self._server is not None:
            return self.url
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        thread = threading.Thread(target=self._run_loop, args=(loop, ready), name="wiresocket-ws-gateway", daemon=True)
        thread.start()
        ready.wait()
        self._loop, self._loop_thread = loop, thread
        try:
            self._server = asyncio.run_coroutine_threadsafe(self._create_server(), loop).result(START_TIMEOUT_SECONDS)
            self._management.bind()
        except BaseException:
            self.stop()
            raise
        host, port = self._server.sockets[0].getsockname()[:2]
        self._stage = WebSocketStage(
            api_id=self._api_id,
            stage=self._stage_name,
            region=self._region,
            account_id=self._account_id,
            domain_name=f"{host}:{port}",
            port=int(port),
        )
        return self.url

    def serve(self) -> None:
        """Start accepting connections and management calls (binds first if needed)."""
        self.bind()
        if self._serving:
            return
        assert self._server is not None and self._loop is not None
        asyncio.run_coroutine_threadsafe(self._server.start_serving(), self._loop).result(START_TIMEOUT_SECONDS)
        self._management.serve()
        self._serving = True

    def start(self) -> str:
        """Bind and serve; returns the WebSocket URL."""
        self.serve()
        return self.url

    @property
    def url(self) -> str:
        """``ws://host:port`` of the bound gateway."""
        if self._stage is None:
            raise RuntimeError("the gateway is not bound")
        return f"ws://{self._stage.domain_name}"

    @property
    def management_url(self) -> str:
        """``http://host:port/{stage}``: the ``endpoint_url`` for ``boto3.client("apigatewaymanagementapi")``."""
        return self._management.url

    def stop(self) -> None:
        """Close every connection (each gets its ``$disconnect``), then the servers (idempotent)."""
        loop, thread, server = self._loop, self._loop_thread, self._server
        self._loop = self._loop_thread = self._server = None  # management calls are 410 from here on
        try:
            if loop is not None and server is not None:
                try:
                    asyncio.run_coroutine_threadsafe(self._shutdown(server), loop).result(STOP_TIMEOUT_SECONDS)
                except Exception:
                    logger.exception("the WebSocket gateway did not shut down cleanly")
        finally:
            if loop is not None and thread is not None:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(LOOP_JOIN_TIMEOUT_SECONDS)
            self._management.stop()
            self._stage, self._serving = None, False

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

    # --- The management API (ConnectionManager; any thread but the loop's) ----------------------------------

    def post_to_connection(self, connection_id: str, data: bytes) -> None:
        """Send ``data`` as one text frame (binary if it is not UTF-8); ``ConnectionGoneError`` if not live."""
        if len(data) > self._max_message_bytes:
            raise PayloadTooLargeError(f"{len(data)} bytes")
        self._call_on_loop(self._post(connection_id, data))

    def get_connection(self, connection_id: str) -> ConnectionInfo:
        """When the connection was opened and last active, and who opened it; ``ConnectionGoneError`` if not live."""
        return self._call_on_loop(self._get(connection_id))

    def delete_connection(self, connection_id: str) -> None:
        """Start closing the connection with 1000; ``ConnectionGoneError`` if not live.

        When this returns, the connection is out of the registry: nothing more is delivered to or from it.
        """
        self._call_on_loop(self._delete(connection_id))

    def connection_ids(self) -> set[str]:
        """The ids of the live connections (for tests and diagnostics)."""
        if self._loop is None:
            return set()
        return self._call_on_loop(self._live_ids())

    def _call_on_loop(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        loop, thread = self._loop, self._loop_thread
        if loop is None or thread is None:
            coroutine.close()
            raise ConnectionGoneError("the gateway is not running")  # no gateway, no connections
        if threading.current_thread() is thread:
            coroutine.close()
            raise RuntimeError("a blocking management call from the gateway's own event loop would deadlock")
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(CALL_TIMEOUT_SECONDS)

    # --- The event loop (its own thread) ---------------------------------------------------------------------

    def _run_loop(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        # Functions run here; named, and sized so a burst of handshakes does not queue behind slow handlers.
        executor = ThreadPoolExecutor(max_workers=INVOKE_WORKERS, thread_name_prefix="wiresocket-ws-invoke")
        loop.set_default_executor(executor)
        ready.set()
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                executor.shutdown(wait=False, cancel_futures=True)
            finally:
                loop.close()

    async def _create_server(self) -> Server:
        return await serve(
            self._handle_connection,
            self._host,
            self._port,
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol,
            create_connection=_GatewayConnection,
            compression=None,
            server_header=None,
            open_timeout=OPEN_TIMEOUT_SECONDS,
            ping_interval=None,
            ping_timeout=None,
            close_timeout=CLOSE_TIMEOUT_SECONDS,
            max_size=(self._max_message_bytes, self._max_frame_bytes),
            start_serving=False,
        )

    async def _shutdown(self, server: Server) -> None:
        for session in list(self._sessions.values()):
            self._begin_close(session, CloseCode.GOING_AWAY, GOING_AWAY_REASON)
        server.close()
        await server.wait_closed()  # every handler has returned, so every $disconnect has been started
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _call(self, function: str, event: dict[str, Any]) -> object:
        return await asyncio.to_thread(self._invoke, function, event)

    @property
    def _stage_info(self) -> WebSocketStage:
        if self._stage is None:
            raise RuntimeError("the gateway is not bound")
        return self._stage

    # --- Handshake -------------------------------------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Authorize and ``$connect`` a handshake; a response rejects it, None lets ``websockets`` accept it."""
        gateway_connection = cast(_GatewayConnection, connection)  # create_connection makes every one of these
        connection_id, request_id = new_connection_id(), new_request_id()
        if len(request.path) > MAX_URL_CHARS:
            return _error_response(HTTPStatus.REQUEST_URI_TOO_LONG, "Request-URI Too Long", connection_id, request_id)
        try:
            # A dry run of websockets' own checks: a request that is no valid upgrade invokes nothing, and
            # websockets answers it itself (400, 426, ...) when it repeats them.
            connection.protocol.process_request(request)
        except InvalidHandshake:
            # Not an upgrade: the data-plane HTTP paths go to ws_http (this gateway's region and URL as stage
            # variables); anything else is left to websockets (426 for a plain GET).
            return await self._serve_http(connection, request)
        raw_path, _, raw_query = request.path.partition("?")
        handshake = HandshakeRequest(
            raw_path=raw_path,
            raw_query=raw_query,
            headers=list(request.headers.raw_items()),
            source_ip=str(connection.remote_address[0]),
        )
        try:
            handshake_query(raw_path, raw_query)
        except HandshakePathError:
            return _error_response(HTTPStatus.FORBIDDEN, "Forbidden", connection_id, request_id)
        except BadRequestError:
            return _error_response(HTTPStatus.BAD_REQUEST, "Bad Request", connection_id, request_id)
        now = time.time()
        identity = ConnectionIdentity(connection_id, epoch_millis(now), handshake.source_ip, handshake.user_agent())
        stage = self._stage_info
        loop = asyncio.get_running_loop()

        started = loop.time()
        event = build_authorizer_event(handshake, stage, identity, request_id=request_id, now=now)
        try:
            result = await self._call(self._authorizer_function, event)
        except HandlerLoadError as exc:
            logger.error("$connect authorizer %s cannot be loaded: %s", self._authorizer_function, exc)
            return _error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error", connection_id, request_id)
        except Exception as exc:
            # Lambda's contract, not ours: an authorizer error whose message is exactly "Unauthorized" is 401.
            unauthorized = str(exc) == "Unauthorized"
            if not unauthorized:
                logger.exception("$connect authorizer %s failed (request %s)", self._authorizer_function, request_id)
            status = HTTPStatus.UNAUTHORIZED if unauthorized else HTTPStatus.FORBIDDEN
            logger.info("handshake %s refused: %d (authorizer raised)", request_id, status)
            return _error_response(status, status.phrase, connection_id, request_id)
        decision = evaluate_authorizer_response(result, stage.route_arn(CONNECT_ROUTE))
        if not decision.allowed:
            logger.info("handshake %s refused: 403 (%s)", request_id, decision.reason)
            return _error_response(HTTPStatus.FORBIDDEN, "Forbidden", connection_id, request_id)
        authorizer = decision.integration_authorizer(int((loop.time() - started) * 1000))

        event = build_connect_event(handshake, stage, identity, authorizer, request_id=request_id, now=now)
        try:
            outcome = interpret_connect_result(await self._call(self._connect_function, event))
        except HandlerLoadError as exc:
            logger.error("$connect function %s cannot be loaded: %s", self._connect_function, exc)
            return _error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error", connection_id, request_id)
        except MalformedIntegrationResponseError as exc:
            logger.error("$connect function %s returned no proxy response: %s", self._connect_function, exc)
            return _error_response(HTTPStatus.BAD_GATEWAY, "Internal server error", connection_id, request_id)
        except Exception:
            logger.exception("$connect function %s failed (request %s)", self._connect_function, request_id)
            return _error_response(HTTPStatus.BAD_GATEWAY, "Internal server error", connection_id, request_id)
        if not outcome.accepted:
            logger.info("handshake %s refused: %d by $connect", request_id, outcome.status)
            return _error_response(outcome.status, _phrase(outcome.status), connection_id, request_id)

        gateway_connection.on_abandoned = self._abandon
        gateway_connection.session = _Session(
            stage=stage,
            identity=identity,
            connection=connection,
            authorizer=authorizer,
            subprotocol=outcome.subprotocol,
            opened_at=loop.time(),
            last_active=loop.time(),
            last_active_epoch=now,
        )
        return None

    async def _serve_http(self, connection: ServerConnection, request: Request) -> Response | None:
        """``GET /discovery``, ``/usage``, ``/health``, ``/`` (issue 6): a REST proxy v1 event to ``ws_http``."""
        raw_path, _, raw_query = request.path.partition("?")
        function = self._http_function
        if function is None or raw_path not in DATA_PLANE_HTTP_PATHS:
            return None
        stage = self._stage_info
        incoming = IncomingRequest(
            method=request.method,
            raw_path=raw_path,
            raw_query=raw_query,
            headers=list(request.headers.raw_items()),
            body=b"",  # websockets refuses requests with a body
            source_ip=str(connection.remote_address[0]),
        )
        match = RouteMatch(CompiledResource(raw_path, (), {"ANY": function}), {}, function)
        try:
            event = build_proxy_event(incoming, match, domain_name=stage.domain_name, port=stage.port)
        except BadRequestError:
            return _json_response(HTTPStatus.BAD_REQUEST, {"message": "Bad Request"})
        event["stageVariables"] = {"wsRegion": self._region, "wsUrl": self.url}
        try:
            result = proxy_result_to_response(await self._call(function, event))
        except (HandlerLoadError, MalformedProxyResponseError) as exc:
            logger.error("data-plane http function %s failed: %s", function, exc)
            return _json_response(HTTPStatus.BAD_GATEWAY, {"message": "Internal server error"})
        except Exception:
            logger.exception("data-plane http function %s failed", function)
            return _json_response(HTTPStatus.BAD_GATEWAY, {"message": "Internal server error"})
        headers = Headers([("Date", email.utils.formatdate(usegmt=True)), *result.headers])
        headers["Content-Length"] = str(len(result.body))
        return Response(result.status, _phrase(result.status), headers, result.body)

    def _select_subprotocol(self, connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        # API Gateway echoes what $connect put in its Sec-WebSocket-Protocol response header.
        session = cast(_GatewayConnection, connection).session
        if session is None or session.subprotocol is None:
            return None
        if session.subprotocol in offered:
            return Subprotocol(session.subprotocol)
        logger.warning("$connect selected a subprotocol the client did not offer; the handshake selects none")
        return None

    def _abandon(self, session: _Session) -> None:
        self._spawn(self._disconnect(session))

    # --- An open connection ----------------------------------------------------------------------------------

    async def _handle_connection(self, connection: ServerConnection) -> None:
        session = cast(_GatewayConnection, connection).session
        if session is None:  # _process_request accepts nothing without a session
            await connection.close(CloseCode.INTERNAL_ERROR)
            return
        session.live = True
        self._sessions[session.identity.connection_id] = session
        logger.info("connection %s open", session.identity.connection_id)
        try:
            await self._receive(session)
        finally:
            self._unregister(session)
            # Shielded: a cancelled handler (the server stopping) must not cancel the $disconnect with it.
            await asyncio.shield(self._spawn(self._disconnect(session)))

    async def _receive(self, session: _Session) -> None:
        connection = session.connection
        loop = asyncio.get_running_loop()
        while True:
            timeout: float | None = None
            if session.live:
                deadline = min(session.last_active + self._idle_timeout, session.opened_at + self._max_lifetime)
                timeout = deadline - loop.time()
                if timeout <= 0:
                    self._begin_close(session, CloseCode.GOING_AWAY, GOING_AWAY_REASON)
                    continue
            try:
                async with asyncio.timeout(timeout):
                    message = await connection.recv()
            except TimeoutError:
                continue  # the deadline may have moved (a frame was posted to the client meanwhile)
            except ConnectionClosed:
                return
            if not session.live:
                continue  # the connection is closing: frames still in flight are dropped
            if isinstance(message, bytes):
                self._begin_close(session, CloseCode.UNSUPPORTED_DATA, UNSUPPORTED_DATA_REASON)
                continue
            session.touch(loop.time())
            await self._on_message(session, message)

    async def _on_message(self, session: _Session, body: str) -> None:
        request_id = new_request_id()
        event = build_message_event(
            session.stage,
            session.identity,
            session.authorizer,
            body,
            message_id=new_request_id(),
            request_id=request_id,
            now=session.last_active_epoch,
        )
        try:
            await self._call(self._default_function, event)
            return
        except HandlerLoadError as exc:
            logger.error("$default function %s cannot be loaded: %s", self._default_function, exc)
        except Exception:
            logger.exception("$default function %s failed (request %s)", self._default_function, request_id)
        if session.live:
            error = {"message": "Internal server error", "connectionId": session.identity.connection_id}
            with contextlib.suppress(ConnectionClosed):
                await session.connection.send(json.dumps({**error, "requestId": request_id}))

    def _begin_close(self, session: _Session, code: int, reason: str) -> None:
        """Take the connection out of the registry and start its closing handshake (first call wins)."""
        if session.close_code is not None:
            return
        session.close_code, session.close_reason = code, reason
        self._unregister(session)
        self._spawn(session.connection.close(code, reason))

    def _unregister(self, session: _Session) -> None:
        session.live = False
        if self._sessions.get(session.identity.connection_id) is session:
            del self._sessions[session.identity.connection_id]

    def _close_status(self, session: _Session) -> tuple[int, str]:
        """The close code and reason of whichever side closed first (API Gateway's ``$disconnect`` fields)."""
        if session.close_code is not None:
            return session.close_code, disconnect_reason(session.close_code, session.close_reason)
        protocol = session.connection.protocol
        received, sent = protocol.close_rcvd, protocol.close_sent
        if received is not None and (sent is None or protocol.close_rcvd_then_sent):
            code, reason = int(received.code), received.reason
        elif sent is not None:  # websockets itself failed the connection (1009, 1002, ...)
            code, reason = int(sent.code), sent.reason
        else:
            code, reason = CloseCode.ABNORMAL_CLOSURE, ""
        return code, disconnect_reason(code, reason)

    async def _disconnect(self, session: _Session) -> None:
        """Invoke ``$disconnect`` for the session, exactly once, after its socket is closed."""
        if session.disconnected:
            return
        session.disconnected = True
        await session.connection.wait_closed()
        code, reason = self._close_status(session)
        logger.info("connection %s closed: %d", session.identity.connection_id, code)
        event = build_disconnect_event(
            session.stage,
            session.identity,
            session.authorizer,
            status_code=code,
            reason=reason,
            request_id=new_request_id(),
            now=time.time(),
        )
        try:
            await self._call(self._disconnect_function, event)
        except HandlerLoadError as exc:
            logger.error("$disconnect function %s cannot be loaded: %s", self._disconnect_function, exc)
        except Exception:
            logger.exception("$disconnect function %s failed", self._disconnect_function)

    # --- Management operations (on the loop) -----------------------------------------------------------------

    def _live(self, connection_id: str) -> _Session:
        session = self._sessions.get(connection_id)
        if session is None or not session.live:
            raise ConnectionGoneError(connection_id)
        return session

    async def _post(self, connection_id: str, data: bytes) -> None:
        session = self._live(connection_id)
        message: str | bytes
        try:
            message = data.decode("utf-8")
        except UnicodeDecodeError:
            message = data
        try:
            await session.connection.send(message)
        except ConnectionClosed as exc:
            raise ConnectionGoneError(connection_id) from exc
        session.touch(asyncio.get_running_loop().time())

    async def _get(self, connection_id: str) -> ConnectionInfo:
        session = self._live(connection_id)
        return ConnectionInfo(
            connected_at=session.identity.connected_at / 1000,
            source_ip=session.identity.source_ip,
            user_agent=session.identity.user_agent or "",
            last_active_at=session.last_active_epoch,
        )

    async def _delete(self, connection_id: str) -> None:
        self._begin_close(self._live(connection_id), CloseCode.NORMAL_CLOSURE, "")

    async def _live_ids(self) -> set[str]:
        return set(self._sessions)
