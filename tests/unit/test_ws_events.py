"""The WebSocket emulator's events and decisions match API Gateway's, as pure functions (no sockets).

The key sets are API Gateway's documented WebSocket shapes; powertools' own event models (the ones the
handlers parse events with) are the second referee.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    DENY_ALL_RESPONSE,
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponseWebSocket,
    parse_api_gateway_arn,
)
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)

from wiresocket.local.gateway import BadRequestError
from wiresocket.local.ws_events import (
    MAX_AUTHORIZER_RESULT_BYTES,
    ConnectionIdentity,
    HandshakePathError,
    HandshakeRequest,
    MalformedIntegrationResponseError,
    WebSocketStage,
    build_authorizer_event,
    build_connect_event,
    build_disconnect_event,
    build_message_event,
    evaluate_authorizer_response,
    handshake_query,
    iam_pattern_matches,
    interpret_connect_result,
    new_connection_id,
    request_time,
)

STAGE = WebSocketStage(
    api_id="wiresockws",
    stage="local",
    region="eu-west-1",
    account_id="000000000000",
    domain_name="127.0.0.1:8081",
    port=8081,
)
METHOD_ARN = "arn:aws:execute-api:eu-west-1:000000000000:wiresockws/local/$connect"
CONNECTION = ConnectionIdentity(
    connection_id="L0SM9cOFvHcCIhw=", connected_at=1_700_000_000_000, source_ip="127.0.0.1", user_agent="ua/1"
)
NOW = 1_700_000_000.25
AUTHORIZER: dict[str, object] = {"tenantId": "t-1", "principalId": "user-1", "integrationLatency": 3}

# API Gateway's documented WebSocket shapes (developer guide: "WebSocket API Lambda REQUEST authorizer" input,
# and the $connect / $disconnect / MESSAGE integration requests).
AUTHORIZER_EVENT_KEYS = {
    "type",
    "methodArn",
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "stageVariables",
    "requestContext",
}
REQUEST_CONTEXT_KEYS = {
    "routeKey",
    "eventType",
    "extendedRequestId",
    "requestTime",
    "messageDirection",
    "stage",
    "connectedAt",
    "requestTimeEpoch",
    "identity",
    "requestId",
    "domainName",
    "connectionId",
    "apiId",
}
CONNECT_EVENT_KEYS = {
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "requestContext",
    "isBase64Encoded",
}
MESSAGE_EVENT_KEYS = {"requestContext", "body", "isBase64Encoded"}
DISCONNECT_EVENT_KEYS = {"headers", "multiValueHeaders", "requestContext", "isBase64Encoded"}


def handshake(target: str = "/?doc=demo", headers: list[tuple[str, str]] | None = None) -> HandshakeRequest:
    raw_path, _, raw_query = target.partition("?")
    default_headers = [
        ("Host", "127.0.0.1:8081"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
        ("User-Agent", "ua/1"),
    ]
    return HandshakeRequest(raw_path, raw_query, headers if headers is not None else default_headers, "127.0.0.1")


def policy(
    effect: str = "Allow", resource: object = METHOD_ARN, action: object = "execute-api:Invoke"
) -> dict[str, Any]:
    return {"Action": action, "Effect": effect, "Resource": resource}


def authorizer_response(*statements: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "principalId": "user-1",
        "policyDocument": {"Version": "2012-10-17", "Statement": list(statements) or [policy()]},
        **extra,
    }


# --- Ids --------------------------------------------------------------------------------------------------------


def test_connection_ids_look_like_api_gateways() -> None:
    # Given / When a batch of new connection ids
    ids = {new_connection_id() for _ in range(200)}
    # Then they are distinct 16-character base64 strings, like L0SM9cOFvHcCIhw=
    assert len(ids) == 200
    assert all(len(i) == 16 and i.endswith("=") for i in ids)


def test_request_time_is_clf_in_utc() -> None:
    # Given / When / Then API Gateway's requestTime format, independent of the locale
    assert request_time(0) == "01/Jan/1970:00:00:00 +0000"


# --- The handshake's path and query --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/a/b", "/demo/", "//", "relative"])
def test_paths_other_than_root_or_one_document_are_refused(path: str) -> None:
    # Given / When / Then a path API Gateway could not route to the stage is refused
    with pytest.raises(HandshakePathError):
        handshake_query(path, "")


@pytest.mark.parametrize(("path", "query"), [("/%zz", ""), ("/%ff", ""), ("/", "doc=%zz")])
def test_malformed_percent_encoding_is_a_bad_request(path: str, query: str) -> None:
    # Given / When / Then malformed percent-encoding in the path or query is a bad request
    with pytest.raises(BadRequestError):
        handshake_query(path, query)


def test_a_document_path_becomes_the_doc_parameter_unless_the_query_names_one() -> None:
    # Given a path document and a query with and without its own doc
    # When the query is built
    from_path = handshake_query("/my%20doc", "token=abc")
    explicit = handshake_query("/other", "doc=demo")
    # Then the path's name is added as doc, but an explicit ?doc= wins
    assert from_path == [("token", "abc"), ("doc", "my doc")]
    assert explicit == [("doc", "demo")]


# --- Events ----------------------------------------------------------------------------------------------------


def test_the_authorizer_event_has_exactly_the_documented_keys_and_the_connect_method_arn() -> None:
    # Given a handshake with a document in the query
    # When the authorizer event is built
    event = build_authorizer_event(handshake(), STAGE, CONNECTION, request_id="req-1", now=NOW)
    # Then it has AWS's keys and values
    assert set(event) == AUTHORIZER_EVENT_KEYS
    assert set(event["requestContext"]) == REQUEST_CONTEXT_KEYS
    assert event["type"] == "REQUEST"
    assert event["methodArn"] == METHOD_ARN
    assert event["queryStringParameters"] == {"doc": "demo"}
    assert event["multiValueQueryStringParameters"] == {"doc": ["demo"]}
    assert event["stageVariables"] == {}
    context = event["requestContext"]
    assert context["routeKey"] == "$connect"
    assert context["eventType"] == "CONNECT"
    assert context["messageDirection"] == "IN"
    assert context["connectionId"] == "L0SM9cOFvHcCIhw="
    assert context["connectedAt"] == 1_700_000_000_000
    assert context["requestTimeEpoch"] == 1_700_000_000_250
    assert context["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "ua/1"}
    assert context["apiId"] == "wiresockws"
    assert context["stage"] == "local"
    # And powertools reads it as a REQUEST authorizer event
    parsed = APIGatewayAuthorizerRequestEvent(event)
    assert parse_api_gateway_arn(parsed.method_arn, is_websocket_authorizer=True).resource == "$connect"
    assert parsed.request_context.request_id == "req-1"


def test_repeated_headers_stay_visible_in_the_multi_value_headers() -> None:
    # Given a handshake with two Origin headers and a forwarded address
    headers = [("Origin", "https://app.example.com"), ("origin", "https://evil.com"), ("X-Forwarded-For", "10.0.0.1")]
    # When the authorizer event is built
    event = build_authorizer_event(handshake("/", headers), STAGE, CONNECTION, request_id="r", now=NOW)
    # Then both Origins are kept (under the first spelling), the last one is the single value, and the
    # gateway appends the caller's address, port and protocol like API Gateway
    assert event["multiValueHeaders"]["Origin"] == ["https://app.example.com", "https://evil.com"]
    assert event["headers"]["Origin"] == "https://evil.com"
    assert event["headers"]["X-Forwarded-For"] == "10.0.0.1, 127.0.0.1"
    assert event["headers"]["X-Forwarded-Port"] == "8081"
    assert event["queryStringParameters"] == {}


def test_the_connect_event_has_the_documented_keys_and_the_authorizer_context() -> None:
    # Given an authorized handshake
    # When the $connect event is built
    event = build_connect_event(handshake(), STAGE, CONNECTION, AUTHORIZER, request_id="r", now=NOW)
    # Then it has AWS's keys, the authorizer map, and powertools' model accepts it
    assert set(event) == CONNECT_EVENT_KEYS
    assert set(event["requestContext"]) == REQUEST_CONTEXT_KEYS | {"authorizer"}
    assert event["requestContext"]["authorizer"] == AUTHORIZER
    assert event["isBase64Encoded"] is False
    APIGatewayWebSocketConnectEventModel.model_validate(event)


def test_the_connect_event_has_no_query_keys_without_a_query() -> None:
    # Given a handshake to / without a query
    # When the $connect event is built
    event = build_connect_event(handshake("/"), STAGE, CONNECTION, AUTHORIZER, request_id="r", now=NOW)
    # Then, as in AWS, the query keys are absent
    assert set(event) == CONNECT_EVENT_KEYS - {"queryStringParameters", "multiValueQueryStringParameters"}


def test_the_message_event_has_the_documented_keys() -> None:
    # Given a text frame
    # When the $default event is built
    event = build_message_event(STAGE, CONNECTION, AUTHORIZER, "hello", message_id="m-1", request_id="r", now=NOW)
    # Then it is a MESSAGE event with the frame as its body
    assert set(event) == MESSAGE_EVENT_KEYS
    assert set(event["requestContext"]) == REQUEST_CONTEXT_KEYS | {"messageId", "authorizer"}
    assert event["requestContext"]["routeKey"] == "$default"
    assert event["requestContext"]["eventType"] == "MESSAGE"
    assert event["requestContext"]["messageId"] == "m-1"
    assert event["body"] == "hello"
    assert event["isBase64Encoded"] is False
    APIGatewayWebSocketMessageEventModel.model_validate(event)


def test_the_disconnect_event_has_the_documented_keys_and_the_close_status() -> None:
    # Given a connection closed with 1001
    # When the $disconnect event is built
    event = build_disconnect_event(
        STAGE, CONNECTION, AUTHORIZER, status_code=1001, reason="Going away", request_id="r", now=NOW
    )
    # Then it carries the code and reason, and AWS's fixed disconnect headers
    assert set(event) == DISCONNECT_EVENT_KEYS
    assert set(event["requestContext"]) == REQUEST_CONTEXT_KEYS | {
        "disconnectStatusCode",
        "disconnectReason",
        "authorizer",
    }
    assert event["requestContext"]["eventType"] == "DISCONNECT"
    assert event["requestContext"]["disconnectStatusCode"] == 1001
    assert event["requestContext"]["disconnectReason"] == "Going away"
    assert event["headers"]["Host"] == "127.0.0.1:8081"
    APIGatewayWebSocketDisconnectEventModel.model_validate(event)


# --- The authorizer's policy: denials first ------------------------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        None,
        "Allow",
        [],
        {},
        {"principalId": "user-1"},  # no policy
        authorizer_response(principalId=""),
        authorizer_response(principalId=7),
        {"principalId": "u", "policyDocument": {"Version": "2012-10-17", "Statement": []}},
        {"principalId": "u", "policyDocument": {"Version": "2012-10-17"}},
        {"principalId": "u", "policyDocument": {"Version": "2099-01-01", "Statement": [policy()]}},
        {"principalId": "u", "policyDocument": "allow"},
        authorizer_response(policy(effect="allow")),  # Effect is case-sensitive
        authorizer_response(policy(effect="Permit")),
        authorizer_response({"Effect": "Allow", "Resource": METHOD_ARN}),  # no Action
        authorizer_response({"Effect": "Allow", "Action": "execute-api:Invoke"}),  # no Resource
        authorizer_response(policy(resource=[])),
        authorizer_response(policy(resource=7)),
        authorizer_response("not a statement"),  # type: ignore[arg-type]
        authorizer_response(context={"nested": {"a": 1}}),
        authorizer_response(context={"list": [1]}),
        authorizer_response(context={"null": None}),
        authorizer_response(context="tenant=t-1"),
        authorizer_response(context={"big": "x" * MAX_AUTHORIZER_RESULT_BYTES}),
    ],
)
def test_a_malformed_authorizer_response_is_a_deny(response: object) -> None:
    # Given / When a malformed or incomplete response is evaluated
    decision = evaluate_authorizer_response(response, METHOD_ARN)
    # Then it is a deny (fail closed), with nothing handed on
    assert decision.allowed is False
    assert decision.principal_id is None
    assert decision.context == {}


@pytest.mark.parametrize(
    "statements",
    [
        [policy(effect="Deny")],
        [policy(), policy(effect="Deny", resource="*")],  # an explicit Deny beats any Allow
        [policy(resource=METHOD_ARN.replace("$connect", "$default"))],  # another route
        [policy(resource=METHOD_ARN.replace("/local/", "/prod/"))],  # another stage
        [policy(resource=METHOD_ARN.replace("wiresockws", "otherapi00"))],  # another API
        [policy(resource=METHOD_ARN.upper())],  # resources are case-sensitive
        [policy(action="execute-api:ManageConnections")],
        [policy(action="dynamodb:*")],
        [{**policy(), "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.1/32"}}}],  # not evaluable: no grant
        [{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}],
        [policy(), {"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:s3:::x"}],  # fails closed
    ],
)
def test_a_policy_that_does_not_allow_the_connect_route_is_a_deny(statements: list[dict[str, Any]]) -> None:
    # Given a well-formed policy that does not (only) allow this route
    # When it is evaluated
    decision = evaluate_authorizer_response(authorizer_response(*statements), METHOD_ARN)
    # Then the connection is denied
    assert decision.allowed is False


def test_powertools_deny_all_response_is_a_deny() -> None:
    # Given / When / Then powertools' ready-made deny is a deny
    assert evaluate_authorizer_response(DENY_ALL_RESPONSE, METHOD_ARN).allowed is False


@pytest.mark.parametrize(
    "statement",
    [
        policy(),
        policy(resource=[f"{METHOD_ARN}x", METHOD_ARN]),
        policy(resource="*"),
        policy(resource="arn:aws:execute-api:eu-west-1:000000000000:wiresockws/*"),
        policy(resource="arn:aws:execute-api:*:*:wiresockws/local/$conn?ct"),
        policy(action="execute-api:*"),
        policy(action="*"),
        policy(action=["s3:GetObject", "EXECUTE-API:invoke"]),  # actions are case-insensitive
    ],
)
def test_an_allow_that_covers_the_connect_route_is_allowed(statement: dict[str, Any]) -> None:
    # Given an Allow statement matching execute-api:Invoke on $connect (exactly or by IAM wildcards)
    # When it is evaluated
    decision = evaluate_authorizer_response(authorizer_response(statement), METHOD_ARN)
    # Then the connection is allowed for the principal
    assert decision.allowed is True
    assert decision.principal_id == "user-1"


def test_a_single_statement_object_is_accepted_like_iam() -> None:
    # Given a policy whose Statement is one object rather than a list
    response = {"principalId": "u", "policyDocument": {"Version": "2012-10-17", "Statement": policy()}}
    # When / Then it is evaluated like a one-element list
    assert evaluate_authorizer_response(response, METHOD_ARN).allowed is True


@pytest.mark.parametrize("allow_all", [True, False])
def test_powertools_websocket_authorizer_responses_are_understood(allow_all: bool) -> None:
    # Given the response powertools builds for this methodArn, allowing every route or just $connect
    builder = APIGatewayAuthorizerResponseWebSocket.from_route_arn(METHOD_ARN, principal_id="user-1")
    if allow_all:
        builder.allow_all_routes()
    else:
        builder.allow_route("$connect")
    # When it is evaluated
    decision = evaluate_authorizer_response(builder.asdict(), METHOD_ARN)
    # Then the connection is allowed
    assert decision.allowed is True


def test_context_values_reach_the_integrations_as_strings_with_the_principal() -> None:
    # Given an Allow with a context of strings, numbers and booleans
    context = {"tenantId": "t-1", "maxConnections": 5, "ratio": 0.5, "trial": False, "verified": True}
    decision = evaluate_authorizer_response(authorizer_response(context=context), METHOD_ARN)
    # When the integrations' authorizer map is built
    authorizer = decision.integration_authorizer(latency_ms=12)
    # Then every context value is a string, as API Gateway hands them on, next to principalId and latency
    assert authorizer == {
        "tenantId": "t-1",
        "maxConnections": "5",
        "ratio": "0.5",
        "trial": "false",
        "verified": "true",
        "principalId": "user-1",
        "integrationLatency": 12,
    }


def test_a_context_cannot_impersonate_the_principal() -> None:
    # Given a context that carries its own principalId
    decision = evaluate_authorizer_response(authorizer_response(context={"principalId": "admin"}), METHOD_ARN)
    # When / Then the policy's principalId wins
    assert decision.integration_authorizer(0)["principalId"] == "user-1"


@pytest.mark.parametrize(
    ("pattern", "value", "case_sensitive", "expected"),
    [
        ("a*c", "abbbc", True, True),
        ("a*c", "a/b:c", True, True),  # '*' spans ARN separators, as in IAM
        ("a?c", "abc", True, True),
        ("a?c", "ac", True, False),
        ("a.c", "abc", True, False),  # '.' is literal
        ("$connect", "$connect", True, True),  # '$' is literal
        ("ABC", "abc", True, False),
        ("ABC", "abc", False, True),
    ],
)
def test_iam_wildcards(pattern: str, value: str, case_sensitive: bool, expected: bool) -> None:
    # Given / When / Then IAM's two wildcards, and nothing else, are special
    assert iam_pattern_matches(pattern, value, case_sensitive=case_sensitive) is expected


# --- The $connect integration's result -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "result",
    [
        None,
        "200",
        {},
        {"statusCode": "200"},
        {"statusCode": True},
        {"statusCode": 99},
        {"statusCode": 101},  # would switch protocols without a handshake
        {"statusCode": 200, "headers": "x"},
        {"statusCode": 200, "multiValueHeaders": {"Sec-WebSocket-Protocol": "Bearer"}},
        {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "access_token, Bearer"}},
        {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": 7}},
        {
            "statusCode": 200,
            "headers": {"Sec-WebSocket-Protocol": "a"},
            "multiValueHeaders": {"sec-websocket-protocol": ["b"]},
        },
    ],
)
def test_a_connect_result_that_is_no_proxy_response_is_malformed(result: object) -> None:
    # Given / When / Then a result API Gateway could not read fails the handshake
    with pytest.raises(MalformedIntegrationResponseError):
        interpret_connect_result(result)


@pytest.mark.parametrize(
    ("result", "accepted", "subprotocol"),
    [
        ({"statusCode": 200}, True, None),
        ({"statusCode": 204, "body": "ok"}, True, None),
        ({"statusCode": 200, "headers": {"sec-websocket-protocol": " access_token "}}, True, "access_token"),
        ({"statusCode": 200, "multiValueHeaders": {"Sec-WebSocket-Protocol": ["Bearer"]}}, True, "Bearer"),
        ({"statusCode": 403, "body": "limit"}, False, None),
        ({"statusCode": 429}, False, None),
    ],
)
def test_a_connect_result_gives_the_status_and_subprotocol(
    result: dict[str, Any], accepted: bool, subprotocol: str | None
) -> None:
    # Given / When a $connect proxy result is interpreted
    outcome = interpret_connect_result(result)
    # Then 2xx accepts, and the Sec-WebSocket-Protocol header (any case) selects the subprotocol
    assert outcome.accepted is accepted
    assert outcome.status == result["statusCode"]
    assert outcome.subprotocol == subprotocol
