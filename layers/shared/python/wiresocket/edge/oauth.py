"""The OAuth surface: form requests in (RFC 6749 §3.2, §2.3.1), RFC 6749 §5.2 errors out.

Strict on purpose: exactly one ``Content-Type: application/x-www-form-urlencoded`` body of at most 8 KiB,
valid UTF-8 and percent-encoding, no parameter twice, no control characters, no query string; client
credentials either in the ``Authorization: Basic`` header or in the body, never both. Every domain error
maps to a response here and nowhere else; responses never leave a cache (``Cache-Control: no-store``).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote_plus

from wiresocket.domain import errors
from wiresocket.domain.oauth import (
    AuthMethod,
    ClientCredentials,
    InvalidClient,
    InvalidRequest,
    OAuthError,
    OAuthRequest,
    RateLimited,
)
from wiresocket.edge.http import HttpRequest, parse_rest_event

if TYPE_CHECKING:
    from wiresocket.services.introspection import TokenIntrospection
    from wiresocket.services.token import TokenService

MAX_FORM_BYTES = 8 * 1024
MAX_PARAMETERS = 16
MAX_VALUE_LENGTH = 4096
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
REALM = "wiresocket"

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
logger = logging.getLogger(__name__)


def _is_clean(value: str) -> bool:
    return not any(ord(c) < 32 or ord(c) == 127 for c in value)


def _check_content_type(request: HttpRequest) -> None:
    content_type = request.header("content-type")
    if content_type is None:
        raise InvalidRequest("Content-Type must be application/x-www-form-urlencoded")
    media_type, *params = (part.strip().lower() for part in content_type.split(";"))
    if media_type != FORM_MEDIA_TYPE:
        raise InvalidRequest("Content-Type must be application/x-www-form-urlencoded")
    for param in params:
        if param not in ("charset=utf-8", 'charset="utf-8"'):
            raise InvalidRequest("only charset=utf-8 is accepted")


def parse_form(body: bytes) -> dict[str, str]:
    """Form parameters, each at most once; parameters sent empty are omitted (RFC 6749 §3.1)."""
    if len(body) > MAX_FORM_BYTES:
        raise InvalidRequest("request body too large")
    try:
        text = body.decode("utf-8", errors="strict")
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=bool(text), errors="strict", max_num_fields=MAX_PARAMETERS
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("malformed form body") from exc
    params: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in pairs:
        if name in seen:
            raise InvalidRequest(f"parameter {name} must not be repeated")
        seen.add(name)
        if not name or len(value) > MAX_VALUE_LENGTH or not _is_clean(name) or not _is_clean(value):
            raise InvalidRequest("malformed parameter")
        if value != "":
            params[name] = value
    return params


def _basic_credentials(header: str) -> ClientCredentials:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise InvalidClient("unsupported client authentication scheme")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8", errors="strict")
    except (binascii.Error, ValueError) as exc:
        raise InvalidClient("malformed Basic credentials") from exc
    raw_id, colon, raw_secret = decoded.partition(":")
    if not colon:
        raise InvalidClient("malformed Basic credentials")
    try:  # RFC 6749 §2.3.1: both parts are form-urlencoded before being joined
        client_id = unquote_plus(raw_id, errors="strict")
        secret = unquote_plus(raw_secret, errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidClient("malformed Basic credentials") from exc
    if not client_id or not _is_clean(client_id) or not _is_clean(secret):
        raise InvalidClient("malformed Basic credentials")
    return ClientCredentials(client_id, secret or None, AuthMethod.BASIC)


def authorization_attempted(request: HttpRequest) -> bool:
    """Whether the client tried the ``Authorization`` header (then a 401 carries ``WWW-Authenticate``)."""
    return bool(request.headers.get("authorization"))


def parse_oauth_request(request: HttpRequest) -> OAuthRequest:
    """The ``OAuthRequest`` of a POST to an OAuth endpoint; ``InvalidRequest``/``InvalidClient`` if malformed."""
    basic_attempted = authorization_attempted(request)
    try:
        if request.method != "POST":
            raise InvalidRequest("use POST")
        if request.query:
            raise InvalidRequest("parameters belong in the form body, not the query string")
        _check_content_type(request)
        params = parse_form(request.body)
        body_id, body_secret = params.pop("client_id", None), params.pop("client_secret", None)
        authorization = request.header("authorization")
        client: ClientCredentials | None = None
        if authorization is not None:
            if body_secret is not None:
                raise InvalidRequest("use one client authentication method, not two")
            client = _basic_credentials(authorization)
            if body_id is not None and body_id != client.client_id:
                raise InvalidRequest("client_id in the body differs from the Authorization header")
        elif body_id is not None:
            method = AuthMethod.POST if body_secret is not None else AuthMethod.NONE
            client = ClientCredentials(body_id, body_secret, method)
        elif body_secret is not None:
            raise InvalidRequest("client_secret without client_id")
    except errors.InvalidInput as exc:
        raise InvalidRequest(str(exc)) from exc
    return OAuthRequest(params=params, client=client, source_ip=request.source_ip, basic_attempted=basic_attempted)


def oauth_json(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A proxy result with a JSON body that no cache keeps."""
    return {
        "statusCode": status,
        "headers": {
            "Content-Type": "application/json;charset=UTF-8",
            "X-Content-Type-Options": "nosniff",
            **_NO_STORE,
            **(headers or {}),
        },
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def oauth_empty(status: int = 200) -> dict[str, Any]:
    """An empty success (RFC 7009 §2.2)."""
    return {"statusCode": status, "headers": dict(_NO_STORE), "body": "", "isBase64Encoded": False}


def oauth_error_response(exc: BaseException, *, basic_attempted: bool = False) -> dict[str, Any]:
    """The RFC 6749 §5.2 response for ``exc``; 503 ``temporarily_unavailable`` for a dependency failure;
    a bare 500 ``server_error`` for anything unexpected (details only in the logs)."""
    if isinstance(exc, OAuthError):
        headers: dict[str, str] = {}
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, InvalidClient) and basic_attempted:
            headers["WWW-Authenticate"] = f'Basic realm="{REALM}", error="invalid_client"'
        return oauth_json(exc.status, {"error": exc.error, "error_description": exc.description}, headers)
    if isinstance(exc, errors.InvalidInput):
        return oauth_json(400, {"error": "invalid_request", "error_description": str(exc)})
    if isinstance(exc, errors.DependencyUnavailable | errors.KeyUnavailable | errors.IntegrityError | errors.LockBusy):
        if isinstance(exc, errors.IntegrityError):  # tampering or corruption, not a passing fault: alert on it
            logger.error("stored key material failed its integrity check: %s", exc)
        body = {"error": "temporarily_unavailable", "error_description": "try again shortly"}
        return oauth_json(503, body, {"Retry-After": "1"})
    logger.error("unexpected error on an OAuth endpoint", exc_info=exc)
    return oauth_json(500, {"error": "server_error", "error_description": "the request could not be completed"})


TOKEN_PATH = "/connect/token"  # noqa: S105 - a route
REVOCATION_PATH = "/connect/revocation"
INTROSPECTION_PATH = "/connect/introspect"


def handle_oauth_event(
    event: Mapping[str, Any],
    tokens: Callable[[], TokenService],
    introspection: Callable[[], TokenIntrospection],
) -> dict[str, Any]:
    """The whole OAuth surface for one REST proxy event: admit (per-IP limit, token endpoint), parse, call
    one service, map the result or error. Never raises."""
    basic = False
    try:
        request = parse_rest_event(event)
        basic = authorization_attempted(request)
        if request.resource == TOKEN_PATH:
            service = tokens()
            service.admit(request.source_ip)
            return oauth_json(200, service.token(parse_oauth_request(request)).body())
        if request.resource == REVOCATION_PATH:
            introspection().revoke(parse_oauth_request(request))
            return oauth_empty(200)
        if request.resource == INTROSPECTION_PATH:
            return oauth_json(200, introspection().introspect(parse_oauth_request(request)))
        return oauth_json(404, {"error": "invalid_request", "error_description": "no such endpoint"})
    except Exception as exc:
        logger.info("oauth request refused: %s %s", type(exc).__name__, getattr(exc, "error", ""))
        return oauth_error_response(exc, basic_attempted=basic)
