"""GET /{tenantId}/.well-known/jwks — a tenant's public signing keys — and
GET /{tenantId}/.well-known/openid-configuration — its issuer metadata (SPEC §5)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from wiresocket import wiring
from wiresocket.edge.http import error_response, json_response, method_not_allowed, parse_rest_event

logger = Logger(service="jwks")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Parse, build the JWKS, map the result or error."""
    try:
        request = parse_rest_event(event)
        if request.method != "GET":
            return method_not_allowed("GET")
        tenant_id = request.path_params.get("tenantId", "")
        if request.resource.endswith("/openid-configuration"):
            document = wiring.discovery_service().document(tenant_id)
        else:
            document = wiring.jwks_service().jwks(tenant_id)
        max_age = wiring.jwks_settings().jwks_max_age_seconds
        return json_response(200, document, {"Cache-Control": f"public, max-age={max_age}"})
    except Exception as exc:
        logger.info("jwks request refused", extra={"error": type(exc).__name__})
        return error_response(exc)
