"""The local WebSocket gateway behaves like API Gateway's WebSocket API, with fake functions and real clients.

The gateway gets an injected ``invoke`` (fake authorizer, ``$connect``, ``$default`` and ``$disconnect``), is
driven with the ``websockets`` client, and its ``@connections`` API with a real boto3
``apigatewaymanagementapi`` client — the same calls the handlers make in AWS.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from wiresocket.local.handlers import HandlerLoadError
from wiresocket.local.ws_gateway import LocalWebSocketGateway

AUTHORIZER, CONNECT, DISCONNECT, DEFAULT = "auth", "connect", "disconnect", "message"
WAIT_SECONDS = 5.0

Handler = Callable[[dict[str, Any]], object]


def allow(event: dict[str, Any]) -> object:
    return {
        "principalId": "user-1",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}],
        },
        "context": {"tenantId": "t-1", "maxConnections": 5, "trial": False},
    }


def deny(event: dict[str, Any]) -> object:
    response = allow(event)
    assert isinstance(response, dict)
    response["policyDocument"]["Statement"][0]["Effect"] = "Deny"
    return response


def ok(event: dict[str, Any]) -> object:
    return {"statusCode": 200}


@dataclass
class FakeFunctions:
    """The four route functions, recording every invocation; a missing one raises ``HandlerLoadError``."""

    handlers: dict[str, Handler] = field(
        default_factory=lambda: {AUTHORIZER: allow, CONNECT: ok, DISCONNECT: ok, DEFAULT: ok}
    )
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def invoke(self, function: str, event: dict[str, Any]) -> object:
        with self.lock:
            self.calls.append((function, json.loads(json.dumps(event))))
        handler = self.handlers.get(function)
        if handler is None:
            raise HandlerLoadError(f"no handler file for {function}")
        return handler(event)

    def events(self, function: str) -> list[dict[str, Any]]:
        with self.lock:
            return [event for name, event in self.calls if name == function]


def wait_for(condition: Callable[[], bool], timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(0.01)


def disconnects(fake: FakeFunctions, settle: float = 0.2) -> list[dict[str, Any]]:
    """The $disconnect events, once at least one arrived and no second one followed within ``settle``."""
    wait_for(lambda: bool(fake.events(DISCONNECT)))
    time.sleep(settle)
    return fake.events(DISCONNECT)


def management_client(gateway: LocalWebSocketGateway) -> ApiGatewayManagementApiClient:
    """A boto3 client as a handler builds it in AWS, pointed at the emulator (no retries: errors surface)."""
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=gateway.management_url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # moto's documented fake credential; never checked here
        config=Config(retries={"max_attempts": 1}),
    )


def error_code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


GatewayFactory = Callable[..., tuple[LocalWebSocketGateway, FakeFunctions]]


@pytest.fixture
def start_gateway() -> Iterator[GatewayFactory]:
    gateways: list[LocalWebSocketGateway] = []

    def start(fake: FakeFunctions | None = None, **options: Any) -> tuple[LocalWebSocketGateway, FakeFunctions]:
        fake = fake or FakeFunctions()
        gateway = LocalWebSocketGateway(
            fake.invoke,
            port=0,
            authorizer_function=AUTHORIZER,
            connect_function=CONNECT,
            disconnect_function=DISCONNECT,
            default_function=DEFAULT,
            **options,
        )
        gateways.append(gateway)
        gateway.start()
        return gateway, fake

    yield start
    for gateway in gateways:
        gateway.stop()


def open_client(gateway: LocalWebSocketGateway, target: str = "/?doc=demo", **options: Any) -> ClientConnection:
    options.setdefault("open_timeout", WAIT_SECONDS)
    client: ClientConnection = connect(f"{gateway.url}{target}", **options)
    return client


def refused_status(gateway: LocalWebSocketGateway, target: str = "/?doc=demo", **options: Any) -> int:
    with pytest.raises(InvalidStatus) as refused:
        open_client(gateway, target, **options)
    return refused.value.response.status_code


def close_code(client: ClientConnection) -> int | None:
    """Wait until the server closes the connection and return the close code it sent."""
    while True:
        try:
            client.recv(timeout=WAIT_SECONDS)
        except ConnectionClosed:
            return client.close_code


# --- The handshake: denials first ------------------------------------------------------------------------


def test_a_deny_fails_the_handshake_with_403_and_invokes_nothing_else(start_gateway: GatewayFactory) -> None:
    # Given an authorizer that denies
    gateway, fake = start_gateway(FakeFunctions({AUTHORIZER: deny, CONNECT: ok, DISCONNECT: ok}))
    # When a client connects
    status = refused_status(gateway)
    # Then the handshake fails with 403, $connect never runs, and nothing is registered
    assert status == 403
    assert [name for name, _ in fake.calls] == [AUTHORIZER]
    assert gateway.connection_ids() == set()


def unauthorized(event: dict[str, Any]) -> object:
    raise Exception("Unauthorized")  # the Lambda authorizer contract for 401


def crashing(event: dict[str, Any]) -> object:
    raise RuntimeError("database unavailable")


@pytest.mark.parametrize(
    ("authorizer", "expected"),
    [
        (unauthorized, 401),
        (crashing, 403),
        (lambda event: None, 403),
        (lambda event: "Allow", 403),
        (lambda event: {"principalId": "user-1"}, 403),
        (lambda event: allow({"methodArn": "arn:aws:execute-api:eu-west-1:0:other/local/$connect"}), 403),
    ],
)
def test_a_failing_or_malformed_authorizer_is_refused_and_registers_nothing(
    start_gateway: GatewayFactory, authorizer: Handler, expected: int
) -> None:
    # Given an authorizer that raises, returns garbage or allows another API
    gateway, fake = start_gateway(FakeFunctions({AUTHORIZER: authorizer, CONNECT: ok, DISCONNECT: ok}))
    # When a client connects
    status = refused_status(gateway)
    # Then it is refused (401 only for Lambda's "Unauthorized"), and nothing else runs or is registered
    assert status == expected
    assert [name for name, _ in fake.calls] == [AUTHORIZER]
    assert gateway.connection_ids() == set()


def test_a_missing_function_fails_the_handshake_with_500(start_gateway: GatewayFactory) -> None:
    # Given no authorizer function at all (the handler file does not exist yet)
    gateway, fake = start_gateway(FakeFunctions({CONNECT: ok}))
    # When a client connects
    status = refused_status(gateway)
    # Then the handshake fails closed with 500 and $connect never runs
    assert status == 500
    assert fake.events(CONNECT) == []


@pytest.mark.parametrize(
    ("connect_handler", "expected"),
    [
        (lambda event: {"statusCode": 403, "body": "limit reached"}, 403),
        (lambda event: {"statusCode": 429}, 429),
        (lambda event: None, 502),
        (crashing, 502),
    ],
)
def test_a_connect_that_does_not_answer_2xx_fails_the_handshake(
    start_gateway: GatewayFactory, connect_handler: Handler, expected: int
) -> None:
    # Given $connect answering an error status, nothing or an exception
    gateway, fake = start_gateway(FakeFunctions({AUTHORIZER: allow, CONNECT: connect_handler, DISCONNECT: ok}))
    # When a client connects
    status = refused_status(gateway)
    # Then the handshake fails with that status (502 for no proxy response), and no $disconnect follows
    assert status == expected
    time.sleep(0.2)
    assert fake.events(DISCONNECT) == []
    assert gateway.connection_ids() == set()


@pytest.mark.parametrize(("target", "expected"), [("/a/b", 403), ("/%zz", 400), ("/?doc=" + "x" * 4100, 414)])
def test_a_bad_handshake_target_is_refused_without_invoking_anything(
    start_gateway: GatewayFactory, target: str, expected: int
) -> None:
    # Given a running gateway
    gateway, fake = start_gateway()
    # When a client connects to a path that is no stage URL, is not decodable or is too long
    status = refused_status(gateway, target)
    # Then it is refused before any function runs
    assert status == expected
    assert fake.calls == []


def test_a_plain_http_request_is_426_and_invokes_nothing(start_gateway: GatewayFactory) -> None:
    # Given a running gateway
    gateway, fake = start_gateway()
    host, port = gateway.url.removeprefix("ws://").split(":")
    # When a plain HTTP GET (no upgrade) arrives at a path that is no data-plane HTTP endpoint
    connection = http.client.HTTPConnection(host, int(port), timeout=WAIT_SECONDS)
    try:
        connection.request("GET", "/demo")
        status = connection.getresponse().status
    finally:
        connection.close()
    # Then websockets answers Upgrade Required, and no function runs
    assert status == 426
    assert fake.calls == []


# --- The handshake: acceptance ---------------------------------------------------------------------------


def test_an_allowed_handshake_selects_the_subprotocol_connect_chose(start_gateway: GatewayFactory) -> None:
    # Given $connect selecting access_token, like the token-in-subprotocol convention of SPEC §8
    def select(event: dict[str, Any]) -> object:
        return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "access_token"}}

    gateway, fake = start_gateway(FakeFunctions({AUTHORIZER: allow, CONNECT: select, DISCONNECT: ok}))
    # When a client offers the subprotocol with its token
    with open_client(gateway, "/demo", subprotocols=["access_token", "eyJ.x.y"]) as client:
        # Then it is connected with access_token selected and registered under the $connect connection id
        assert client.subprotocol == "access_token"
        connect_event = fake.events(CONNECT)[0]
        connection_id = connect_event["requestContext"]["connectionId"]
        assert gateway.connection_ids() == {connection_id}
    # And the authorizer saw the offered subprotocols, and the path's document as ?doc=
    authorizer_event = fake.events(AUTHORIZER)[0]
    assert authorizer_event["headers"]["Sec-WebSocket-Protocol"] == "access_token, eyJ.x.y"
    assert authorizer_event["queryStringParameters"] == {"doc": "demo"}
    assert authorizer_event["requestContext"]["connectionId"] == connection_id


def test_no_subprotocol_is_selected_unless_connect_chooses_one(start_gateway: GatewayFactory) -> None:
    # Given a $connect that answers 200 without a Sec-WebSocket-Protocol header
    gateway, _ = start_gateway()
    # When a client offers one
    with open_client(gateway, subprotocols=["Bearer", "eyJ.x.y"]) as client:
        # Then none is selected, as API Gateway would do
        assert client.subprotocol is None


def test_connect_sees_the_authorizer_context_as_strings(start_gateway: GatewayFactory) -> None:
    # Given an authorizer whose context holds a string, a number and a boolean
    gateway, fake = start_gateway()
    # When a client connects
    with open_client(gateway):
        pass
    # Then $connect gets them as strings, with the principal, like API Gateway hands them on
    authorizer = fake.events(CONNECT)[0]["requestContext"]["authorizer"]
    assert authorizer["tenantId"] == "t-1"
    assert authorizer["maxConnections"] == "5"
    assert authorizer["trial"] == "false"
    assert authorizer["principalId"] == "user-1"
    assert isinstance(authorizer["integrationLatency"], int)


def test_posting_to_a_connection_during_connect_is_gone(start_gateway: GatewayFactory) -> None:
    # Given a $connect that tries to post to its own connection before the handshake completed
    outcome: list[str] = []
    holder: list[LocalWebSocketGateway] = []

    def post_to_self(event: dict[str, Any]) -> object:
        client = management_client(holder[0])
        try:
            client.post_to_connection(ConnectionId=event["requestContext"]["connectionId"], Data=b"early")
            outcome.append("delivered")
        except ClientError as exc:
            outcome.append(str(exc.response["Error"]["Code"]))
        return {"statusCode": 200}

    gateway, _ = start_gateway(FakeFunctions({AUTHORIZER: allow, CONNECT: post_to_self, DISCONNECT: ok}))
    holder.append(gateway)
    # When a client connects
    with open_client(gateway):
        pass
    # Then the post was refused as in AWS
    assert outcome == ["GoneException"]


# --- Frames ----------------------------------------------------------------------------------------------


def test_a_text_frame_reaches_default_and_an_echo_comes_back_through_the_management_api(
    start_gateway: GatewayFactory,
) -> None:
    # Given a $default function that echoes through a real boto3 management client
    holder: list[ApiGatewayManagementApiClient] = []

    def echo(event: dict[str, Any]) -> object:
        connection_id = event["requestContext"]["connectionId"]
        holder[0].post_to_connection(ConnectionId=connection_id, Data=f"echo:{event['body']}".encode())
        return {"statusCode": 200}

    gateway, fake = start_gateway(FakeFunctions({AUTHORIZER: allow, CONNECT: ok, DISCONNECT: ok, DEFAULT: echo}))
    holder.append(management_client(gateway))
    with open_client(gateway) as client:
        # When the client sends two text frames
        client.send("hello")
        client.send("world")
        # Then each comes back as a text frame, in order
        assert client.recv(timeout=WAIT_SECONDS) == "echo:hello"
        assert client.recv(timeout=WAIT_SECONDS) == "echo:world"
    # And $default got MESSAGE events with exactly API Gateway's keys and the authorizer context
    event = fake.events(DEFAULT)[0]
    assert set(event) == {"requestContext", "body", "isBase64Encoded"}
    assert event["body"] == "hello"
    assert event["requestContext"]["eventType"] == "MESSAGE"
    assert event["requestContext"]["authorizer"]["tenantId"] == "t-1"


def test_a_binary_frame_closes_the_connection_with_1003(start_gateway: GatewayFactory) -> None:
    # Given a connected client
    gateway, fake = start_gateway()
    with open_client(gateway) as client:
        # When it sends a binary frame
        client.send(b"\x00\x01yjs")
        # Then the gateway closes with 1003, $default never sees it, and $disconnect runs once with 1003
        assert close_code(client) == 1003
    assert fake.events(DEFAULT) == []
    events = disconnects(fake)
    assert len(events) == 1
    assert events[0]["requestContext"]["disconnectStatusCode"] == 1003


@pytest.mark.parametrize("size", [32 * 1024 + 1, 128 * 1024 + 1])
def test_a_frame_over_api_gateways_quota_closes_with_1009(start_gateway: GatewayFactory, size: int) -> None:
    # Given a connected client
    gateway, fake = start_gateway()
    with open_client(gateway) as client:
        # When it sends one text frame over 32 KB (or a message over 128 KB)
        client.send("x" * size)
        # Then the gateway closes with 1009 and the message never reaches $default
        assert close_code(client) == 1009
    assert fake.events(DEFAULT) == []
    assert len(disconnects(fake)) == 1


def test_a_failing_default_sends_internal_server_error_and_keeps_the_connection(
    start_gateway: GatewayFactory,
) -> None:
    # Given a $default function that raises
    gateway, _ = start_gateway(FakeFunctions({AUTHORIZER: allow, CONNECT: ok, DISCONNECT: ok, DEFAULT: crashing}))
    with open_client(gateway) as client:
        # When the client sends a frame, twice
        client.send("one")
        first = json.loads(client.recv(timeout=WAIT_SECONDS))
        client.send("two")
        second = json.loads(client.recv(timeout=WAIT_SECONDS))
    # Then each time it gets API Gateway's error frame, and the connection stayed open in between
    assert first["message"] == second["message"] == "Internal server error"
    assert set(first) == {"message", "connectionId", "requestId"}


# --- $disconnect, exactly once -------------------------------------------------------------------------------


def test_a_client_that_leaves_during_connect_still_gets_its_disconnect(start_gateway: GatewayFactory) -> None:
    # Given a slow $connect that accepts
    def slow(event: dict[str, Any]) -> object:
        time.sleep(0.5)
        return {"statusCode": 200}

    gateway, fake = start_gateway(FakeFunctions({AUTHORIZER: allow, CONNECT: slow, DISCONNECT: ok}))
    # When the client gives up before the handshake completes
    with pytest.raises(TimeoutError):
        open_client(gateway, open_timeout=0.2)
    # Then the connection $connect accepted gets its one $disconnect (1006: no close frame), and is not live
    events = disconnects(fake, settle=0.5)
    assert len(events) == 1
    assert events[0]["requestContext"]["disconnectStatusCode"] == 1006
    assert events[0]["requestContext"]["connectionId"] == fake.events(CONNECT)[0]["requestContext"]["connectionId"]
    assert gateway.connection_ids() == set()


def test_a_client_close_invokes_disconnect_once_with_its_code(start_gateway: GatewayFactory) -> None:
    # Given a connected client
    gateway, fake = start_gateway()
    with open_client(gateway) as client:
        connection_id = fake.events(CONNECT)[0]["requestContext"]["connectionId"]
        # When it closes with 4000 "bye"
        client.close(4000, "bye")
    # Then $disconnect runs once with that code and reason, and the id is gone from the registry
    events = disconnects(fake)
    assert len(events) == 1
    context = events[0]["requestContext"]
    assert (context["disconnectStatusCode"], context["disconnectReason"]) == (4000, "bye")
    assert context["connectionId"] == connection_id
    assert context["authorizer"]["tenantId"] == "t-1"
    assert gateway.connection_ids() == set()


def test_delete_connection_closes_the_socket_and_the_id_is_gone(start_gateway: GatewayFactory) -> None:
    # Given a connected client and a management client
    gateway, fake = start_gateway()
    management = management_client(gateway)
    with open_client(gateway) as client:
        connection_id = fake.events(CONNECT)[0]["requestContext"]["connectionId"]
        # When the backend deletes the connection
        management.delete_connection(ConnectionId=connection_id)
        # Then the id is gone at once, the client is closed with 1000, and $disconnect runs once
        with pytest.raises(ClientError) as gone:
            management.post_to_connection(ConnectionId=connection_id, Data=b"late")
        assert error_code(gone) == "GoneException"
        assert close_code(client) == 1000
    events = disconnects(fake)
    assert len(events) == 1
    assert events[0]["requestContext"]["disconnectStatusCode"] == 1000


def test_an_idle_connection_is_closed_with_1001(start_gateway: GatewayFactory) -> None:
    # Given a gateway with a half-second idle timeout
    gateway, fake = start_gateway(idle_timeout=0.5)
    started = time.monotonic()
    with open_client(gateway) as client:
        # When the client sends nothing
        code = close_code(client)
    # Then the gateway closes it with 1001 after about the timeout, and $disconnect runs once
    assert code == 1001
    assert 0.4 < time.monotonic() - started < 3
    events = disconnects(fake)
    assert len(events) == 1
    assert events[0]["requestContext"]["disconnectStatusCode"] == 1001


def test_an_active_connection_is_closed_after_its_maximum_lifetime(start_gateway: GatewayFactory) -> None:
    # Given a half-second idle timeout and a one-second maximum lifetime
    gateway, fake = start_gateway(idle_timeout=0.5, max_lifetime=1.0)
    started = time.monotonic()
    with open_client(gateway) as client:
        # When the client keeps sending every 0.2 s
        code = None
        while code is None and time.monotonic() - started < WAIT_SECONDS:
            try:
                client.send("keepalive")
                time.sleep(0.2)
            except ConnectionClosed:
                code = client.close_code
    # Then activity kept it past the idle timeout, but not past its lifetime
    assert code == 1001
    assert 0.9 < time.monotonic() - started < 3
    assert len(fake.events(DEFAULT)) >= 4
    assert len(disconnects(fake)) == 1


def test_stop_disconnects_every_connection_and_is_idempotent(start_gateway: GatewayFactory) -> None:
    # Given three connected clients
    gateway, fake = start_gateway()
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(open_client(gateway)) for _ in range(3)]
        connection_ids = {event["requestContext"]["connectionId"] for event in fake.events(CONNECT)}
        # When the gateway stops, twice
        gateway.stop()
        gateway.stop()
        # Then every client was closed with 1001 and each connection got exactly one $disconnect
        assert [close_code(client) for client in clients] == [1001, 1001, 1001]
    disconnected = [event["requestContext"]["connectionId"] for event in fake.events(DISCONNECT)]
    assert sorted(disconnected) == sorted(connection_ids)
    assert gateway.connection_ids() == set()


# --- The @connections API --------------------------------------------------------------------------------


@pytest.mark.parametrize("connection_id", ["L0SM9cOFvHcCIhw=", "a/b+c=", "unknown"])
def test_unknown_ids_are_gone_for_every_operation(start_gateway: GatewayFactory, connection_id: str) -> None:
    # Given a running gateway without that connection
    gateway, _ = start_gateway()
    management = management_client(gateway)
    # When each management operation is called for it
    # Then each raises GoneException
    with pytest.raises(ClientError) as post:
        management.post_to_connection(ConnectionId=connection_id, Data=b"x")
    with pytest.raises(ClientError) as get:
        management.get_connection(ConnectionId=connection_id)
    with pytest.raises(ClientError) as delete:
        management.delete_connection(ConnectionId=connection_id)
    assert [error_code(e) for e in (post, get, delete)] == ["GoneException"] * 3
    assert post.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_get_connection_describes_a_live_connection(start_gateway: GatewayFactory) -> None:
    # Given a connected client with a user agent
    gateway, fake = start_gateway()
    management = management_client(gateway)
    with open_client(gateway, user_agent_header="wiresocket-test/1"):
        connection_id = fake.events(CONNECT)[0]["requestContext"]["connectionId"]
        # When the backend describes it
        info = management.get_connection(ConnectionId=connection_id)
    # Then it reports when it connected, from where and with what
    assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "wiresocket-test/1"}
    assert abs(info["ConnectedAt"].timestamp() - time.time()) < 10
    assert info["LastActiveAt"] >= info["ConnectedAt"]


def test_post_delivers_text_and_refuses_more_than_128_kb(start_gateway: GatewayFactory) -> None:
    # Given a connected client
    gateway, fake = start_gateway()
    management = management_client(gateway)
    with open_client(gateway) as client:
        connection_id = fake.events(CONNECT)[0]["requestContext"]["connectionId"]
        # When the backend posts a text and an oversized payload
        management.post_to_connection(ConnectionId=connection_id, Data="grüße".encode())
        with pytest.raises(ClientError) as too_large:
            management.post_to_connection(ConnectionId=connection_id, Data=b"x" * (128 * 1024 + 1))
        # Then the text arrives as a text frame, and the oversized one is refused
        assert client.recv(timeout=WAIT_SECONDS) == "grüße"
    assert error_code(too_large) == "PayloadTooLargeException"


def test_an_unsigned_management_request_is_forbidden(start_gateway: GatewayFactory) -> None:
    # Given a connected client
    gateway, fake = start_gateway()
    with open_client(gateway):
        connection_id = fake.events(CONNECT)[0]["requestContext"]["connectionId"]
        host_port, _, stage = gateway.management_url.removeprefix("http://").partition("/")
        host, port = host_port.split(":")
        # When a hand-made request without a SigV4 signature deletes it
        connection = http.client.HTTPConnection(host, int(port), timeout=WAIT_SECONDS)
        try:
            connection.request("DELETE", f"/{stage}/@connections/{connection_id}")
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        # Then it is refused as AWS refuses unsigned requests, and the connection lives on
        assert response.status == 403
        assert response.getheader("x-amzn-ErrorType") == "ForbiddenException"
        assert gateway.connection_ids() == {connection_id}
