"""The local REST API gateway and handler loader behave like API Gateway and Lambda, without moto.

The gateway gets an injected route table and an injected ``invoke`` (a fake function), so these tests pin
the routing, the proxy event and the error mapping alone.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from wiresocket.local.gateway import (
    MAX_BODY_BYTES,
    MAX_TARGET_BYTES,
    BadRequestError,
    LocalHttpGateway,
    RouteTable,
)
from wiresocket.local.handlers import HandlerLoadError, LocalFunctions, LocalLambdaContext
from wiresocket.names import CONTROL_PLANE_ROUTES, Route

ROUTES = (
    Route("GET", "/{tenantId}/.well-known/jwks", "jwks"),
    Route("POST", "/connect/token", "token"),
    Route("GET", "/tenants/me", "me"),
    Route("GET", "/tenants/{tenantId}", "tenant"),
    Route("ANY", "/files/{path+}", "files"),
)

# The documented shape of a REST API Lambda proxy event (payload format 1.0), as AWS sends it without an
# authorizer or client certificate: docs.aws.amazon.com/apigateway/latest/developerguide/
# set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format
AWS_EVENT_KEYS = {
    "resource",
    "path",
    "httpMethod",
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "stageVariables",
    "requestContext",
    "body",
    "isBase64Encoded",
}
AWS_REQUEST_CONTEXT_KEYS = {
    "accountId",
    "apiId",
    "domainName",
    "domainPrefix",
    "extendedRequestId",
    "httpMethod",
    "identity",
    "path",
    "protocol",
    "requestId",
    "requestTime",
    "requestTimeEpoch",
    "resourceId",
    "resourcePath",
    "stage",
}
AWS_IDENTITY_KEYS = {
    "accessKey",
    "accountId",
    "caller",
    "cognitoAuthenticationProvider",
    "cognitoAuthenticationType",
    "cognitoIdentityId",
    "cognitoIdentityPoolId",
    "principalOrgId",
    "sourceIp",
    "user",
    "userAgent",
    "userArn",
}

OK_RESULT: dict[str, Any] = {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}


@dataclass
class FakeFunctions:
    """Records every invocation and answers with ``result`` (or raises ``error``)."""

    result: object = field(default_factory=lambda: dict(OK_RESULT))
    error: Exception | None = None
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def invoke(self, function: str, event: dict[str, Any]) -> object:
        self.calls.append((function, event))
        if self.error is not None:
            raise self.error
        return self.result

    @property
    def last_event(self) -> dict[str, Any]:
        return self.calls[-1][1]


@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)


GatewayFactory = Callable[..., tuple[str, FakeFunctions]]


@pytest.fixture
def start_gateway() -> Iterator[GatewayFactory]:
    gateways: list[LocalHttpGateway] = []

    def start(fake: FakeFunctions | None = None, **options: Any) -> tuple[str, FakeFunctions]:
        fake = fake or FakeFunctions()
        gateway = LocalHttpGateway(fake.invoke, routes=ROUTES, port=0, **options)
        gateways.append(gateway)
        return gateway.start(), fake

    yield start
    for gateway in gateways:
        gateway.stop()


def send(
    base_url: str,
    method: str,
    target: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One raw request (http.client does not re-quote the target, unlike requests)."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


# --- Route matching --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/t1/x/.well-known/jwks",  # a parameter never spans two segments
        "//.well-known/jwks",  # ... nor matches an empty one
        "/t1/.well-known/jwks/",  # a trailing slash is another resource
        "/t1/.well-known",
        "/",
        "/files",  # a greedy parameter needs at least one segment
        "/files/a//b",
    ],
)
def test_paths_that_match_no_resource(path: str) -> None:
    # Given the route table
    table = RouteTable(ROUTES)
    # When a path that fits no template is resolved
    match = table.match("GET", path)
    # Then no resource matches
    assert match is None


def test_a_known_resource_without_the_method_matches_no_function() -> None:
    # Given a resource defined for GET only
    table = RouteTable(ROUTES)
    # When it is requested with POST and HEAD
    post, head = table.match("POST", "/t1/.well-known/jwks"), table.match("HEAD", "/t1/.well-known/jwks")
    # Then the resource is found but there is no function behind the method
    assert post is not None
    assert post.function is None
    assert head is not None
    assert head.function is None


def test_a_literal_segment_wins_over_a_parameter() -> None:
    # Given /tenants/me and /tenants/{tenantId}
    table = RouteTable(ROUTES)
    # When both kinds of path are resolved
    me, other = table.match("GET", "/tenants/me"), table.match("GET", "/tenants/t1")
    # Then the literal resource takes its own path and the parameter takes the rest
    assert me is not None
    assert me.function == "me"
    assert me.path_parameters == {}
    assert other is not None
    assert other.function == "tenant"
    assert other.path_parameters == {"tenantId": "t1"}


def test_path_parameters_are_decoded_after_splitting() -> None:
    # Given the JWKS route
    table = RouteTable(ROUTES)
    # When a tenant id with an encoded slash and space is requested
    match = table.match("GET", "/a%2Fb%20c/.well-known/jwks")
    # Then the encoded slash stays inside the one parameter, decoded
    assert match is not None
    assert match.path_parameters == {"tenantId": "a/b c"}
    assert match.resource.template == "/{tenantId}/.well-known/jwks"


def test_a_greedy_parameter_takes_the_remaining_segments_and_any_method() -> None:
    # Given an ANY /files/{path+} route
    table = RouteTable(ROUTES)
    # When a deep path is requested with DELETE
    match = table.match("DELETE", "/files/a/b/c")
    # Then the parameter holds every remaining segment and ANY serves the method
    assert match is not None
    assert match.function == "files"
    assert match.path_parameters == {"path": "a/b/c"}


@pytest.mark.parametrize("path", ["/%zz/.well-known/jwks", "/%/.well-known/jwks", "/%ff%fe/.well-known/jwks"])
def test_malformed_percent_encoding_is_a_bad_request(path: str) -> None:
    # Given the route table
    table = RouteTable(ROUTES)
    # When / Then a path that is not valid percent-encoded UTF-8 is refused as a bad request
    with pytest.raises(BadRequestError):
        table.match("GET", path)


@pytest.mark.parametrize(
    "routes",
    [
        (Route("GET", "/a", "x"), Route("GET", "/a", "y")),
        (Route("GET", "a", "x"),),
        (Route("GET", "/{p+}/b", "x"),),
        (Route("GET", "/a//b", "x"),),
    ],
)
def test_an_invalid_route_table_is_refused(routes: tuple[Route, ...]) -> None:
    # Given a duplicate, relative, non-final greedy or empty-segment route
    # When / Then the table cannot be built
    with pytest.raises(ValueError, match=r"."):
        RouteTable(routes)


def test_the_real_control_plane_routes_compile() -> None:
    # Given the routes the CDK app deploys
    # When the gateway's table is built from them
    table = RouteTable(CONTROL_PLANE_ROUTES)
    # Then the JWKS route resolves to the jwks function
    match = table.match("GET", "/tenant-1/.well-known/jwks")
    assert match is not None
    assert match.function == "jwks"


# --- Gateway errors, in API Gateway's shape ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "target"),
    [("GET", "/unknown"), ("GET", "/t1/.well-known/jwks/"), ("POST", "/t1/.well-known/jwks"), ("GET", "/")],
)
def test_unknown_resource_or_method_is_missing_authentication_token(
    start_gateway: GatewayFactory, method: str, target: str
) -> None:
    # Given a running gateway
    url, fake = start_gateway()
    # When an undefined resource or method is requested
    reply = send(url, method, target, body=b"{}" if method == "POST" else None)
    # Then it answers like a REST API: 403 Missing Authentication Token, and no function runs
    assert reply.status == 403
    assert reply.json() == {"message": "Missing Authentication Token"}
    assert reply.header("x-amzn-ErrorType") == "MissingAuthenticationTokenException"
    assert reply.header("x-amzn-RequestId")
    assert fake.calls == []


def test_head_on_a_get_only_resource_is_403_without_a_body(start_gateway: GatewayFactory) -> None:
    # Given a running gateway with a GET-only resource
    url, fake = start_gateway()
    # When it is requested with HEAD
    reply = send(url, "HEAD", "/t1/.well-known/jwks")
    # Then API Gateway's 403 comes back, without a body
    assert reply.status == 403
    assert reply.body == b""
    assert fake.calls == []


def test_a_body_over_the_limit_is_413(start_gateway: GatewayFactory) -> None:
    # Given a gateway with a 1 KiB payload limit
    url, fake = start_gateway(max_body_bytes=1024)
    # When a larger body is posted
    reply = send(url, "POST", "/connect/token", body=b"x" * 1025)
    # Then it is refused with 413 before any function runs
    assert reply.status == 413
    assert reply.json() == {"message": "Request Too Long"}
    assert fake.calls == []


def test_a_chunked_body_over_the_limit_is_413(start_gateway: GatewayFactory) -> None:
    # Given a gateway with a 1 KiB payload limit
    url, fake = start_gateway(max_body_bytes=1024)
    # When a larger body is streamed in chunks
    chunks = (b"x" * 600 for _ in range(2))
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("POST", "/connect/token", body=chunks, encode_chunked=True)
    response = connection.getresponse()
    # Then it is refused with 413
    assert response.status == 413
    connection.close()
    assert fake.calls == []


def test_the_default_payload_limit_is_api_gateways_10_mb() -> None:
    # Given / When / Then the default limit is API Gateway's REST API payload quota
    assert MAX_BODY_BYTES == 10 * 1024 * 1024


def test_a_request_target_over_8_kb_is_414(start_gateway: GatewayFactory) -> None:
    # Given a running gateway
    url, fake = start_gateway()
    # When the request target is longer than 8 KB
    reply = send(url, "GET", "/" + "a" * MAX_TARGET_BYTES + "/.well-known/jwks")
    # Then it is refused with 414
    assert reply.status == 414
    assert fake.calls == []


@pytest.mark.parametrize(
    "target",
    [
        "/%zz/.well-known/jwks",
        "/%ff/.well-known/jwks",
        "/t1/.well-known/jwks?q=%",
        "/t1/.well-known/jwks?q=%e9",
        "/unknown/%zz",
    ],
)
def test_malformed_percent_encoding_is_400_not_5xx(start_gateway: GatewayFactory, target: str) -> None:
    # Given a running gateway
    url, fake = start_gateway()
    # When the path or query is not valid percent-encoded UTF-8
    reply = send(url, "GET", target)
    # Then the answer is 400, and no function runs
    assert reply.status == 400
    assert reply.json() == {"message": "Bad Request"}
    assert fake.calls == []


def test_a_handler_exception_is_502_and_logs_no_secrets(
    start_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a function that raises
    url, _ = start_gateway(FakeFunctions(error=RuntimeError("boom")))
    caplog.set_level(logging.ERROR, logger="wiresocket.local.gateway")
    # When it is called with credentials in a header and the body
    reply = send(
        url,
        "POST",
        "/connect/token",
        body=b"client_secret=body-secret-1",
        headers={"Authorization": "Basic header-secret-2"},
    )
    # Then the client gets API Gateway's 502, and the log has the traceback but neither credential
    assert reply.status == 502
    assert reply.json() == {"message": "Internal server error"}
    assert "boom" in caplog.text
    assert "Traceback" in caplog.text
    assert "body-secret-1" not in caplog.text
    assert "header-secret-2" not in caplog.text


@pytest.mark.parametrize(
    "result",
    [
        None,
        "not an object",
        {"body": "{}"},  # no statusCode
        {"statusCode": "200", "body": "{}"},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "body": "{}", "cookies": ["a=b"]},  # a field REST APIs do not know
        {"statusCode": 200, "headers": {"X-Injected": "a\r\nSet-Cookie: evil=1"}},
        {"statusCode": 200, "headers": {"Bad Name": "x"}},
        {"statusCode": 200, "multiValueHeaders": {"X-A": "not-a-list"}},
        {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
    ],
)
def test_a_malformed_proxy_result_is_502(start_gateway: GatewayFactory, result: object) -> None:
    # Given a function returning something that is not a valid proxy response
    url, _ = start_gateway(FakeFunctions(result=result))
    # When it is called
    reply = send(url, "GET", "/tenants/me")
    # Then API Gateway's 502 comes back, with nothing of the result (no header injection)
    assert reply.status == 502
    assert reply.json() == {"message": "Internal server error"}
    assert reply.header("Set-Cookie") is None


# --- The proxy event ---------------------------------------------------------------------------------------


def test_the_event_has_the_rest_api_proxy_shape(start_gateway: GatewayFactory) -> None:
    # Given a running gateway and an echoing function
    url, fake = start_gateway()
    # When the JWKS route is requested with repeated headers and query parameters
    reply = send(
        url,
        "GET",
        "/tenant%201/.well-known/jwks?a=1&a=2&b=x+y&flag",
        headers={"User-Agent": "tests/1.0", "X-Forwarded-For": "203.0.113.9"},
    )
    # Then the function got exactly the documented REST API event
    assert reply.status == 200
    function, event = fake.calls[-1]
    assert function == "jwks"
    assert set(event) == AWS_EVENT_KEYS
    assert set(event["requestContext"]) == AWS_REQUEST_CONTEXT_KEYS
    assert set(event["requestContext"]["identity"]) == AWS_IDENTITY_KEYS
    assert event["resource"] == "/{tenantId}/.well-known/jwks"
    assert event["path"] == "/tenant 1/.well-known/jwks"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"tenantId": "tenant 1"}
    assert event["stageVariables"] is None
    assert event["queryStringParameters"] == {"a": "2", "b": "x y", "flag": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x y"], "flag": [""]}
    assert event["headers"]["User-Agent"] == "tests/1.0"
    assert event["headers"]["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"
    assert event["multiValueHeaders"]["User-Agent"] == ["tests/1.0"]
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["resourcePath"] == "/{tenantId}/.well-known/jwks"
    assert context["httpMethod"] == "GET"
    assert context["path"] == "/local/tenant 1/.well-known/jwks"
    assert context["stage"] == "local"
    assert context["accountId"] == "000000000000"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "tests/1.0"
    assert context["protocol"] == "HTTP/1.1"
    assert isinstance(context["requestTimeEpoch"], int)
    assert context["requestId"] == reply.header("x-amzn-RequestId")
    assert context["extendedRequestId"] == reply.header("x-amz-apigw-id")


def test_empty_query_and_path_parameters_are_null_like_aws(start_gateway: GatewayFactory) -> None:
    # Given a running gateway
    url, fake = start_gateway()
    # When a parameterless resource is requested without a query string
    send(url, "GET", "/tenants/me")
    # Then the empty collections are null, not {}
    event = fake.last_event
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None


def test_the_last_repeated_header_wins_in_headers_and_all_are_in_multi_value(
    start_gateway: GatewayFactory,
) -> None:
    # Given a running gateway
    url, fake = start_gateway()
    host, port = url.removeprefix("http://").split(":")
    # When a header is sent twice
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("GET", "/tenants/me")
    connection.putheader("X-Repeated", "first")
    connection.putheader("X-Repeated", "second")
    connection.endheaders()
    connection.getresponse().read()
    connection.close()
    # Then headers has the last value and multiValueHeaders both, in order
    event = fake.last_event
    assert event["headers"]["X-Repeated"] == "second"
    assert event["multiValueHeaders"]["X-Repeated"] == ["first", "second"]


def test_a_text_body_is_passed_as_text_and_a_binary_body_as_base64(start_gateway: GatewayFactory) -> None:
    # Given a running gateway
    url, fake = start_gateway()
    # When a UTF-8 form and then non-UTF-8 bytes are posted
    send(url, "POST", "/connect/token", body="grant_type=client_credentials&x=é".encode())
    text_event = fake.last_event
    send(url, "POST", "/connect/token", body=b"\xff\x00\xfe")
    binary_event = fake.last_event
    # Then the text arrives as text, and the bytes as base64 flagged isBase64Encoded
    assert text_event["body"] == "grant_type=client_credentials&x=é"
    assert text_event["isBase64Encoded"] is False
    assert binary_event["isBase64Encoded"] is True
    assert base64.b64decode(binary_event["body"]) == b"\xff\x00\xfe"


def test_the_event_parses_as_a_powertools_rest_event(start_gateway: GatewayFactory) -> None:
    # Given a running gateway
    url, fake = start_gateway()
    # When the JWKS route is requested
    send(url, "GET", "/t1/.well-known/jwks?x=1", headers={"User-Agent": "ua"})
    # Then powertools' REST event data class reads every field the handlers use
    event = APIGatewayProxyEvent(fake.last_event)
    assert event.path_parameters == {"tenantId": "t1"}
    assert event.resolved_query_string_parameters == {"x": ["1"]}
    assert event.request_context.identity.source_ip == "127.0.0.1"
    assert event.request_context.identity.user_agent == "ua"
    assert event.request_context.stage == "local"
    assert event.http_method == "GET"


# --- The proxy result --------------------------------------------------------------------------------------


def test_the_proxy_result_is_mapped_to_http(start_gateway: GatewayFactory) -> None:
    # Given a function returning a status, single and multi-value headers and a body
    result = {
        "statusCode": 201,
        "headers": {"Cache-Control": "no-store", "Set-Cookie": "a=1"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": '{"ok": true}',
        "isBase64Encoded": False,
    }
    url, _ = start_gateway(FakeFunctions(result=result))
    # When it is called
    reply = send(url, "GET", "/tenants/me")
    # Then status, merged headers (a pair in both is sent once), default content type and body arrive
    assert reply.status == 201
    assert [v for n, v in reply.headers if n == "Set-Cookie"] == ["a=1", "b=2"]
    assert reply.header("Cache-Control") == "no-store"
    assert reply.header("Content-Type") == "application/json"
    assert reply.json() == {"ok": True}


def test_a_base64_result_is_sent_as_bytes(start_gateway: GatewayFactory) -> None:
    # Given a function returning a base64-encoded binary body
    result = {
        "statusCode": 200,
        "headers": {"Content-Type": "application/octet-stream"},
        "body": base64.b64encode(b"\x00\x01\xff").decode(),
        "isBase64Encoded": True,
    }
    url, _ = start_gateway(FakeFunctions(result=result))
    # When it is called
    reply = send(url, "GET", "/tenants/me")
    # Then the decoded bytes are the response body
    assert reply.body == b"\x00\x01\xff"
    assert reply.header("Content-Type") == "application/octet-stream"


def test_a_powertools_rest_resolver_works_behind_the_gateway(start_gateway: GatewayFactory) -> None:
    # Given a handler written with powertools' REST resolver
    app = APIGatewayRestResolver()

    @app.get("/<tenantId>/.well-known/jwks")
    def jwks(tenantId: str) -> dict[str, str]:  # noqa: N803 - the API's path parameter name
        return {"tenant": tenantId, "agent": app.current_event.request_context.identity.user_agent or ""}

    def invoke(function: str, event: dict[str, Any]) -> object:
        # powertools types the context as its own class; the local one has the same attributes.
        return app.resolve(event, cast(LambdaContext, LocalLambdaContext(function_name=function)))

    gateway = LocalHttpGateway(invoke, routes=ROUTES, port=0)
    url = gateway.start()
    try:
        # When it is called through the gateway
        reply = send(url, "GET", "/t-9/.well-known/jwks", headers={"User-Agent": "ua"})
    finally:
        gateway.stop()
    # Then the resolver routed the event and its response came back intact
    assert reply.status == 200
    assert reply.json() == {"tenant": "t-9", "agent": "ua"}


# --- Loading handlers ----------------------------------------------------------------------------------


def write_handler(functions_dir: Path, name: str, source: str) -> None:
    (functions_dir / name).mkdir(parents=True, exist_ok=True)
    (functions_dir / name / "handler.py").write_text(source)


ECHO_HANDLER = """
import token as _stdlib_token

LOADS = [1]

def handler(event, context):
    return {
        "statusCode": 200,
        "body": "",
        "headers": {
            "x-token-module": getattr(_stdlib_token, "__file__", ""),
            "x-function": context.function_name,
            "x-remaining": str(context.get_remaining_time_in_millis()),
            "x-loads": str(len(LOADS)),
        },
    }
"""


def test_a_handler_named_token_does_not_shadow_the_stdlib_token_module(tmp_path: Path) -> None:
    # Given a functions/ folder with a `token` function whose handler imports the stdlib `token`
    write_handler(tmp_path, "token", ECHO_HANDLER)
    functions = LocalFunctions(tmp_path)
    # When it is invoked
    result = functions.invoke("token", {})
    # Then it loaded under its own module name, functions/ is not on sys.path, and `token` is the stdlib's
    assert "wiresocket_fn_token" in sys.modules
    assert str(tmp_path) not in sys.path
    assert not result["headers"]["x-token-module"].startswith(str(tmp_path))
    assert sys.modules["token"].__file__ is not None
    assert not sys.modules["token"].__file__.startswith(str(tmp_path))


def test_a_handler_is_loaded_once_and_gets_a_lambda_context(tmp_path: Path) -> None:
    # Given an echoing function
    write_handler(tmp_path, "echo_ctx", ECHO_HANDLER.replace("LOADS = [1]", "LOADS = []\nLOADS.append(1)"))
    functions = LocalFunctions(tmp_path)
    # When it is invoked twice
    functions.invoke("echo_ctx", {})
    result = functions.invoke("echo_ctx", {})
    # Then the module ran once (a warm container) and each call got a context with time left
    assert functions.load("echo_ctx") is functions.load("echo_ctx")
    assert result["headers"]["x-loads"] == "1"
    assert result["headers"]["x-function"] == "echo_ctx"
    assert int(result["headers"]["x-remaining"]) > 0


@pytest.mark.parametrize("name", ["missing", "../escape", "Upper", ""])
def test_an_unknown_or_invalid_function_cannot_be_loaded(tmp_path: Path, name: str) -> None:
    # Given an empty functions/ folder
    functions = LocalFunctions(tmp_path)
    # When / Then a missing or path-like function name is refused
    with pytest.raises(HandlerLoadError):
        functions.load(name)


def test_a_handler_file_without_an_entry_point_is_refused(tmp_path: Path) -> None:
    # Given a handler file that defines no `handler`
    write_handler(tmp_path, "no_entry", "VALUE = 1\n")
    functions = LocalFunctions(tmp_path)
    # When / Then loading it fails, and the half-loaded module is not left behind
    with pytest.raises(HandlerLoadError):
        functions.load("no_entry")
    assert "wiresocket_fn_no_entry" not in sys.modules


def test_a_result_that_is_not_json_fails_like_lambda_marshalling(tmp_path: Path) -> None:
    # Given a handler that returns a set
    write_handler(tmp_path, "not_json", "def handler(event, context):\n    return {'statusCode': {1}}\n")
    functions = LocalFunctions(tmp_path)
    # When / Then the invocation fails (the gateway maps this to 502)
    with pytest.raises(TypeError):
        functions.invoke("not_json", {})


def test_the_context_satisfies_powertools() -> None:
    # Given a local Lambda context
    context = LocalLambdaContext(function_name="jwks")
    # When powertools reads it for structured logging
    model = build_lambda_context_model(context)
    # Then it finds every field it needs
    assert model.function_name == "jwks"
    assert model.function_arn == "arn:aws:lambda:eu-west-1:000000000000:function:jwks"
    assert model.function_memory_size == 128
    assert model.function_request_id == context.aws_request_id
