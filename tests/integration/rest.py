"""Build API Gateway REST API proxy events (payload format 1.0) for handler tests, and invoke handlers."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from wiresocket.local.handlers import LocalFunctions

_FUNCTIONS = LocalFunctions()


def rest_event(
    method: str,
    path: str,
    *,
    resource: str = "/{proxy+}",
    path_params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: str | bytes | None = None,
    source_ip: str = "198.51.100.7",
) -> dict[str, Any]:
    """A REST proxy event as API Gateway sends it."""
    headers = headers or {}
    is_b64 = isinstance(body, bytes)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers or None,
        "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
        "pathParameters": path_params,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/prod{path}",
            "stage": "prod",
            "requestId": str(uuid.uuid4()),
            "accountId": "000000000000",
            "apiId": "local",
            "identity": {"sourceIp": source_ip, "userAgent": "pytest"},
            "protocol": "HTTP/1.1",
        },
        "body": base64.b64encode(body).decode() if isinstance(body, bytes) else body,
        "isBase64Encoded": is_b64,
    }


def invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
    """Invoke ``functions/<function>/handler.py`` like Lambda would; returns the proxy result."""
    result: dict[str, Any] = _FUNCTIONS.invoke(function, event)
    return result


def body_json(result: dict[str, Any]) -> Any:
    """The JSON body of a proxy result."""
    return json.loads(result["body"])
