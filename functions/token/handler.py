"""POST /connect/token, /connect/revocation, /connect/introspect — the OAuth 2.0 endpoints (SPEC §3)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from wiresocket import wiring
from wiresocket.edge.metrics import count_http_result, metrics
from wiresocket.edge.oauth import handle_oauth_event

logger = Logger(service="token")
emf = metrics("token")


@emf.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Admit, parse, one service call, map the result or error (all in ``edge.oauth``)."""
    result = handle_oauth_event(event, wiring.token_service, wiring.token_introspection)
    count_http_result(emf, result, issued_on_200=str(event.get("path", "")).endswith("/connect/token"))
    return result
