"""API Gateway WebSocket API event shapes and decisions, as pure functions (no sockets, no threads, no clock).

The local WebSocket emulator (``ws_gateway``) builds every Lambda event with these functions and takes every
authorization decision through them, so both can be pinned by unit tests against AWS's documented shapes:

- the Lambda ``REQUEST`` authorizer event of the ``$connect`` route (``build_authorizer_event``);
- the Lambda proxy integration events of ``$connect``, ``$default`` and ``$disconnect``
  (``build_connect_event``, ``build_message_event``, ``build_disconnect_event``);
- API Gateway's evaluation of the authorizer's IAM policy (``evaluate_authorizer_response``) and its reading
  of the ``$connect`` integration's result (``interpret_connect_result``).

API Gateway has no per-path routing for WebSocket APIs: a client connects to the stage URL and everything
else travels in the query string and headers. The local emulator also accepts ``/{documentName}`` (SPEC §8);
so the handlers never see a request shape AWS cannot produce, that path segment is handed on as the ``doc``
query parameter (unless the query already has one, which then wins) — see ``handshake_query``.

Decisions where AWS is stricter or its behaviour is not pinned down by its documentation (kept strict, so code
that works here does not rely on leniency):

- An authorizer response that is not a well-formed policy (no ``principalId``, no statements, a context value
  that is an object, an array or null, more than 8 KB in all) is a deny. AWS answers such a response with 500;
  the emulator never lets it through.
- IAM wildcards ``*`` and ``?`` are honoured in ``Action`` and ``Resource``; actions compare case-insensitively,
  resources case-sensitively, as in IAM. A statement with ``Condition``, ``NotAction`` or ``NotResource`` cannot
  be evaluated here: as an ``Allow`` it grants nothing, as a ``Deny`` it denies (fail closed).
- A ``$connect`` result that is not a Lambda proxy response with an integer ``statusCode`` fails the handshake
  (``MalformedIntegrationResponseError``; the gateway answers 502).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote

from wiresocket.local.gateway import BadRequestError, parse_query

CONNECT_ROUTE: Final = "$connect"
DISCONNECT_ROUTE: Final = "$disconnect"
DEFAULT_ROUTE: Final = "$default"
DOCUMENT_QUERY_PARAMETER: Final = "doc"
"""The query parameter that names the document (SPEC §8); a ``/{documentName}`` path is mapped onto it."""

MAX_AUTHORIZER_RESULT_BYTES: Final = 8 * 1024
"""API Gateway's quota on a Lambda authorizer's result (8 KB); a larger result is a deny here."""
INVOKE_ACTION: Final = "execute-api:Invoke"
SUBPROTOCOL_HEADER: Final = "Sec-WebSocket-Protocol"

_POLICY_VERSIONS: Final = frozenset({"2012-10-17", "2008-10-17"})
_UNEVALUABLE_KEYS: Final = frozenset({"Condition", "NotAction", "NotResource", "NotPrincipal", "Principal"})
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")  # a '%' not followed by two hex digits
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token: what a subprotocol name may be
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_FORWARDED: Final = frozenset({"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto"})
_CLOSED_WITHOUT_STATUS: Final = 1005
_CLOSED_ABNORMALLY: Final = 1006


class HandshakePathError(ValueError):
    """The handshake's path is neither ``/`` nor ``/{documentName}`` (the gateway answers 403)."""


class MalformedIntegrationResponseError(ValueError):
    """The ``$connect`` function's result is not a Lambda proxy response (the gateway answers 502)."""


# --- Ids and time --------------------------------------------------------------------------------------------


def new_connection_id() -> str:
    """A connection id shaped like API Gateway's: 11 random bytes in base64, e.g. ``L0SM9cOFvHcCIhw=``.

    Standard base64 may contain ``+`` and ``/``, so clients of the management API must percent-encode the id
    in URLs, as boto3 does.
    """
    return base64.b64encode(secrets.token_bytes(11)).decode("ascii")


def new_request_id() -> str:
    """A request or message id; a WebSocket API uses the same 16-character shape as connection ids."""
    return new_connection_id()


def request_time(epoch: float) -> str:
    """``requestTime`` in API Gateway's CLF format, ``09/Apr/2015:12:34:56 +0000`` (locale-independent)."""
    t = time.gmtime(epoch)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def epoch_millis(epoch: float) -> int:
    """An epoch in seconds as API Gateway's millisecond timestamps (``connectedAt``, ``requestTimeEpoch``)."""
    return int(epoch * 1000)


# --- The stage, the connection and the handshake request -----------------------------------------------------


@dataclass(frozen=True)
class WebSocketStage:
    """Where the API runs: what ``methodArn`` and ``requestContext`` say about the API itself."""

    api_id: str
    stage: str
    region: str
    account_id: str
    domain_name: str
    port: int

    def route_arn(self, route_key: str) -> str:
        """``arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{routeKey}`` (the authorizer's ``methodArn``)."""
        return f"arn:aws:execute-api:{self.region}:{self.account_id}:{self.api_id}/{self.stage}/{route_key}"


@dataclass(frozen=True)
class ConnectionIdentity:
    """One connection as its events describe it; fixed for the connection's life."""

    connection_id: str
    connected_at: int  # epoch milliseconds
    source_ip: str
    user_agent: str | None


@dataclass(frozen=True)
class HandshakeRequest:
    """The HTTP upgrade request as read off the wire: raw path and query, header lines in order, peer address."""

    raw_path: str
    raw_query: str
    headers: Sequence[tuple[str, str]]
    source_ip: str

    def user_agent(self) -> str | None:
        """The last ``User-Agent`` header, or None."""
        return next((value for name, value in reversed(self.headers) if name.lower() == "user-agent"), None)


def handshake_query(raw_path: str, raw_query: str) -> list[tuple[str, str]]:
    """The decoded query of a handshake, with a ``/{documentName}`` path folded in as ``doc``.

    ``/`` and ``/{documentName}`` are the only paths; anything else raises ``HandshakePathError``. The document
    name is only percent-decoded here: whether it is a valid name is the ``$connect`` handlers' decision, as in
    AWS, where it can only arrive in the query. Malformed percent-encoding raises ``BadRequestError``.
    """
    pairs = parse_query(raw_query)
    if raw_path == "/":
        return pairs
    segments = raw_path[1:].split("/") if raw_path.startswith("/") else []
    if len(segments) != 1 or not segments[0]:
        raise HandshakePathError("the path must be / or /{documentName}")
    if _BAD_PERCENT.search(segments[0]):
        raise BadRequestError("malformed percent-encoding")
    try:
        document = unquote(segments[0], errors="strict")
    except UnicodeDecodeError as exc:
        raise BadRequestError("percent-encoded bytes are not UTF-8") from exc
    if any(name == DOCUMENT_QUERY_PARAMETER for name, _ in pairs):
        return pairs  # an explicit ?doc= wins over the path
    return [*pairs, (DOCUMENT_QUERY_PARAMETER, document)]


def _multi(pairs: Iterable[tuple[str, str]], *, case_insensitive: bool) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower() if case_insensitive else name
        grouped.setdefault(spelling.setdefault(key, name), []).append(value)
    return grouped


def _forwarded_headers(request: HandshakeRequest, stage: WebSocketStage) -> list[tuple[str, str]]:
    # API Gateway appends the caller's address to X-Forwarded-For and sets the port and protocol itself.
    forwarded = [value for name, value in request.headers if name.lower() == "x-forwarded-for"]
    kept = [(name, value) for name, value in request.headers if name.lower() not in _FORWARDED]
    return [
        *kept,
        ("X-Forwarded-For", ", ".join([*forwarded, request.source_ip])),
        ("X-Forwarded-Port", str(stage.port)),
        ("X-Forwarded-Proto", "http"),
    ]


def _request_context(
    stage: WebSocketStage,
    connection: ConnectionIdentity,
    *,
    route_key: str,
    event_type: str,
    request_id: str,
    now: float,
) -> dict[str, Any]:
    # The keys every WebSocket event's requestContext has, in AWS's order.
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(now),
        "messageDirection": "IN",
        "stage": stage.stage,
        "connectedAt": connection.connected_at,
        "requestTimeEpoch": epoch_millis(now),
        "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
        "requestId": request_id,
        "domainName": stage.domain_name,
        "connectionId": connection.connection_id,
        "apiId": stage.api_id,
    }


# --- Events --------------------------------------------------------------------------------------------------


def build_authorizer_event(
    request: HandshakeRequest,
    stage: WebSocketStage,
    connection: ConnectionIdentity,
    *,
    request_id: str,
    now: float,
) -> dict[str, Any]:
    """The Lambda ``REQUEST`` authorizer event for ``$connect``.

    ``headers``/``queryStringParameters`` hold the last value of each name and the ``multiValue*`` fields all
    of them (several ``Origin`` headers stay visible to the authorizer); absent ones are ``{}``.
    """
    headers = _multi(_forwarded_headers(request, stage), case_insensitive=True)
    query = _multi(handshake_query(request.raw_path, request.raw_query), case_insensitive=False)
    return {
        "type": "REQUEST",
        "methodArn": stage.route_arn(CONNECT_ROUTE),
        "headers": {name: values[-1] for name, values in headers.items()},
        "multiValueHeaders": headers,
        "queryStringParameters": {name: values[-1] for name, values in query.items()},
        "multiValueQueryStringParameters": query,
        "stageVariables": {},
        "requestContext": _request_context(
            stage, connection, route_key=CONNECT_ROUTE, event_type="CONNECT", request_id=request_id, now=now
        ),
    }


def build_connect_event(
    request: HandshakeRequest,
    stage: WebSocketStage,
    connection: ConnectionIdentity,
    authorizer: Mapping[str, object],
    *,
    request_id: str,
    now: float,
) -> dict[str, Any]:
    """The ``$connect`` integration event: the handshake's headers and query, and the authorizer's context.

    The query keys are present only when the handshake had a query (or a ``/{documentName}`` path), as in AWS.
    """
    headers = _multi(_forwarded_headers(request, stage), case_insensitive=True)
    query = _multi(handshake_query(request.raw_path, request.raw_query), case_insensitive=False)
    context = _request_context(
        stage, connection, route_key=CONNECT_ROUTE, event_type="CONNECT", request_id=request_id, now=now
    )
    context["authorizer"] = dict(authorizer)
    event: dict[str, Any] = {
        "headers": {name: values[-1] for name, values in headers.items()},
        "multiValueHeaders": headers,
    }
    if query:
        event["queryStringParameters"] = {name: values[-1] for name, values in query.items()}
        event["multiValueQueryStringParameters"] = query
    event["requestContext"] = context
    event["isBase64Encoded"] = False
    return event


def build_message_event(
    stage: WebSocketStage,
    connection: ConnectionIdentity,
    authorizer: Mapping[str, object],
    body: str,
    *,
    route_key: str = DEFAULT_ROUTE,
    message_id: str,
    request_id: str,
    now: float,
) -> dict[str, Any]:
    """The integration event of one text message (``eventType: MESSAGE``); ``body`` is the frame's text."""
    context = _request_context(
        stage, connection, route_key=route_key, event_type="MESSAGE", request_id=request_id, now=now
    )
    context = {"routeKey": route_key, "messageId": message_id, **context}  # messageId second, as in AWS
    context["authorizer"] = dict(authorizer)
    return {"requestContext": context, "body": body, "isBase64Encoded": False}


def build_disconnect_event(
    stage: WebSocketStage,
    connection: ConnectionIdentity,
    authorizer: Mapping[str, object],
    *,
    status_code: int,
    reason: str,
    request_id: str,
    now: float,
) -> dict[str, Any]:
    """The ``$disconnect`` integration event, with the close code and reason of whichever side closed first.

    Its headers are the fixed, mostly empty set AWS sends on ``$disconnect`` (there is no HTTP request then).
    """
    headers = {"Host": stage.domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    context = _request_context(
        stage, connection, route_key=DISCONNECT_ROUTE, event_type="DISCONNECT", request_id=request_id, now=now
    )
    context["disconnectStatusCode"] = status_code
    context["disconnectReason"] = reason
    context["authorizer"] = dict(authorizer)
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }


def disconnect_reason(code: int, reason: str) -> str:
    """The ``disconnectReason`` API Gateway reports for a close code and the close frame's reason text."""
    if code == _CLOSED_WITHOUT_STATUS:
        return "Client-side close frame status not set"
    if code == _CLOSED_ABNORMALLY:
        return "Connection was closed abnormally"
    return reason


# --- The authorizer's policy -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizerDecision:
    """API Gateway's reading of an authorizer response: allowed or not, and what the integrations will see."""

    allowed: bool
    reason: str  # for the log only: never a token, never a context value
    principal_id: str | None = None
    context: Mapping[str, str] = field(default_factory=dict)

    def integration_authorizer(self, latency_ms: int) -> dict[str, object]:
        """``requestContext.authorizer`` of every integration event: the context, ``principalId`` and latency."""
        return {**self.context, "principalId": self.principal_id, "integrationLatency": latency_ms}


def _deny(reason: str) -> AuthorizerDecision:
    return AuthorizerDecision(allowed=False, reason=reason)


def iam_pattern_matches(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    """Whether ``value`` matches an IAM ``Action``/``Resource`` pattern (``*`` any run, ``?`` one character)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = re.DOTALL if case_sensitive else re.DOTALL | re.IGNORECASE
    return re.fullmatch(regex, value, flags) is not None


def _string_list(value: object) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return list(value)
    return None


def stringify_context_value(value: str | int | float | bool) -> str:
    """How API Gateway hands an authorizer context value to integrations: as a string (``true``, ``42``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _context(raw: object) -> dict[str, str] | None:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        return None
    context: dict[str, str] = {}
    for key, value in raw.items():
        # Only strings, numbers and booleans (AWS rejects objects and arrays; null is refused here too).
        if not isinstance(key, str) or not isinstance(value, str | int | float | bool):
            return None
        context[key] = stringify_context_value(value)
    return context


def _statement_applies(statement: Mapping[str, object], method_arn: str, *, effect: str) -> bool | None:
    """Whether a statement covers ``execute-api:Invoke`` on ``method_arn``; None if it is malformed."""
    if _UNEVALUABLE_KEYS & statement.keys():
        # Conditions and negations are not evaluated locally: they never grant, and always deny.
        return effect == "Deny"
    actions, resources = _string_list(statement.get("Action")), _string_list(statement.get("Resource"))
    if actions is None or resources is None:
        return None
    return any(iam_pattern_matches(a, INVOKE_ACTION, case_sensitive=False) for a in actions) and any(
        iam_pattern_matches(r, method_arn, case_sensitive=True) for r in resources
    )


def evaluate_authorizer_response(response: object, method_arn: str) -> AuthorizerDecision:
    """API Gateway's decision on a Lambda authorizer's result for ``method_arn``.

    Allowed only if some ``Allow`` statement covers ``execute-api:Invoke`` on ``method_arn`` and no ``Deny``
    does. Anything malformed is a deny (fail closed).
    """
    if not isinstance(response, dict):
        return _deny("the result is not an object")
    try:
        size = len(json.dumps(response).encode("utf-8"))
    except (TypeError, ValueError):
        return _deny("the result is not JSON")
    if size > MAX_AUTHORIZER_RESULT_BYTES:
        return _deny("the result is larger than 8 KB")
    principal_id = response.get("principalId")
    if not isinstance(principal_id, str) or not principal_id:
        return _deny("principalId is missing or not a string")
    policy = response.get("policyDocument")
    if not isinstance(policy, dict):
        return _deny("policyDocument is missing or not an object")
    version = policy.get("Version")
    if version is not None and version not in _POLICY_VERSIONS:
        return _deny("policyDocument.Version is not an IAM policy version")
    raw_statements = policy.get("Statement")
    statements = [raw_statements] if isinstance(raw_statements, dict) else raw_statements
    if not isinstance(statements, list) or not statements:
        return _deny("policyDocument.Statement is missing or empty")
    context = _context(response.get("context"))
    if context is None:
        return _deny("context is not a map of strings, numbers and booleans")
    allowed = denied = False
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            return _deny("a statement has no Effect of Allow or Deny")
        effect = str(statement["Effect"])
        applies = _statement_applies(statement, method_arn, effect=effect)
        if applies is None:
            return _deny("a statement has no valid Action or Resource")
        if applies:
            allowed = allowed or effect == "Allow"
            denied = denied or effect == "Deny"
    if denied:
        return _deny("an explicit Deny covers the route")
    if not allowed:
        return _deny("no Allow statement covers the route")
    return AuthorizerDecision(allowed=True, reason="allowed", principal_id=principal_id, context=context)


# --- The $connect integration's result --------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectResult:
    """What API Gateway takes from the ``$connect`` integration: the status and the subprotocol it selects."""

    status: int
    subprotocol: str | None = None

    @property
    def accepted(self) -> bool:
        """A 2xx status accepts the connection; anything else fails the handshake with that status."""
        return 200 <= self.status < 300


def interpret_connect_result(result: object) -> ConnectResult:
    """Read a ``$connect`` Lambda proxy result; raises ``MalformedIntegrationResponseError`` if it is not one.

    A ``Sec-WebSocket-Protocol`` header in the result (``headers`` or ``multiValueHeaders``, any case) is the
    subprotocol API Gateway puts in the handshake response; it must be one token.
    """
    if not isinstance(result, dict):
        raise MalformedIntegrationResponseError("the result is not an object")
    status = result.get("statusCode")
    # 1xx is no final status: passing 101 on would complete the upgrade without a handshake response.
    if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
        raise MalformedIntegrationResponseError("statusCode is not a final HTTP status")
    single = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise MalformedIntegrationResponseError("headers are not objects")
    wanted = SUBPROTOCOL_HEADER.lower()
    values: list[object] = []
    for name, value in multi.items():
        if isinstance(name, str) and name.lower() == wanted:
            if not isinstance(value, list):
                raise MalformedIntegrationResponseError("multiValueHeaders values are not lists")
            values.extend(value)
    values.extend(value for name, value in single.items() if isinstance(name, str) and name.lower() == wanted)
    if not all(isinstance(value, str) for value in values):
        raise MalformedIntegrationResponseError("Sec-WebSocket-Protocol is not a string")
    distinct = {str(value).strip() for value in values}
    if not distinct:
        return ConnectResult(status)
    chosen = distinct.pop()
    if distinct or not _TOKEN.fullmatch(chosen):
        raise MalformedIntegrationResponseError("Sec-WebSocket-Protocol must name exactly one subprotocol")
    return ConnectResult(status, chosen)
