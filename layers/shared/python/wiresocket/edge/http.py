"""API Gateway REST API (proxy integration, payload format 1.0) requests and responses.

Problem responses follow RFC 9457 (``application/problem+json``). Every domain error maps to a response
here and nowhere else; anything unexpected becomes a 500 problem with no internal detail.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wiresocket.domain import errors

MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class HttpRequest:
    """The parts of a REST proxy event a handler may use; header names lower-cased."""

    method: str
    path: str
    resource: str
    path_params: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, list[str]] = field(default_factory=dict)
    body: bytes = b""
    source_ip: str = ""
    request_id: str = ""

    def header(self, name: str) -> str | None:
        """The single value of header ``name``; ``InvalidInput`` if it was sent more than once."""
        values = self.headers.get(name.lower(), [])
        if len(values) > 1:
            raise errors.InvalidInput(f"header {name} must be sent once")
        return values[0] if values else None


def parse_rest_event(event: Mapping[str, Any]) -> HttpRequest:
    """Build an ``HttpRequest`` from a REST API proxy event; ``InvalidInput`` on a malformed event."""
    headers: dict[str, list[str]] = {}
    multi = event.get("multiValueHeaders") or {}
    single = event.get("headers") or {}
    for name, values in multi.items() if multi else ((k, [v]) for k, v in single.items()):
        headers.setdefault(str(name).lower(), []).extend(str(v) for v in (values or []))
    query: dict[str, list[str]] = {}
    multi_query = event.get("multiValueQueryStringParameters") or {}
    single_query = event.get("queryStringParameters") or {}
    for name, values in multi_query.items() if multi_query else ((k, [v]) for k, v in single_query.items()):
        query.setdefault(str(name), []).extend(str(v) for v in (values or []))
    raw_body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw_body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise errors.InvalidInput("body is not valid base64") from exc
    else:
        body = str(raw_body).encode()
    if len(body) > MAX_BODY_BYTES:
        raise errors.InvalidInput("request body too large")
    context = event.get("requestContext") or {}
    return HttpRequest(
        method=str(event.get("httpMethod", "")).upper(),
        path=str(event.get("path", "")),
        resource=str(event.get("resource", "")),
        path_params={str(k): str(v) for k, v in (event.get("pathParameters") or {}).items()},
        query=query,
        headers=headers,
        body=body,
        source_ip=str((context.get("identity") or {}).get("sourceIp", "")),
        request_id=str(context.get("requestId", "")),
    )


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A proxy result with a JSON body."""
    return {
        "statusCode": status,
        "headers": {
            "Content-Type": "application/json",
            "X-Content-Type-Options": "nosniff",
            **(headers or {}),
        },
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    type_: str = "about:blank",
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An RFC 9457 problem response."""
    result = json_response(
        status,
        {"type": type_, "title": title, "status": status, "detail": detail},
        {"Cache-Control": "no-store", **(headers or {})},
    )
    result["headers"]["Content-Type"] = "application/problem+json"
    return result


_STATUS: tuple[tuple[type[errors.WireSocketError], int, str], ...] = (
    (errors.InvalidInput, 400, "Bad Request"),
    (errors.NotFound, 404, "Not Found"),
    (errors.LockBusy, 409, "Conflict"),
    (errors.Conflict, 409, "Conflict"),
    (errors.DependencyUnavailable, 503, "Service Unavailable"),
    (errors.KeyUnavailable, 503, "Service Unavailable"),
)


def error_response(exc: Exception) -> dict[str, Any]:
    """The problem response for ``exc``. Unknown exceptions give a bare 500 (details stay in the logs)."""
    for kind, status, title in _STATUS:
        if isinstance(exc, kind):
            headers = {"Retry-After": "1"} if status == 503 else None
            return problem(status, title, str(exc), headers=headers)
    return problem(500, "Internal Server Error", "the request could not be completed")


def method_not_allowed(allowed: str) -> dict[str, Any]:
    """405 with ``Allow``."""
    return problem(405, "Method Not Allowed", f"use {allowed}", headers={"Allow": allowed})
