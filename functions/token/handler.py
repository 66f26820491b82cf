"""POST /connect/token, /connect/revocation, /connect/introspect — the OAuth 2.0 endpoints (SPEC §3).

The garbage collector pauses through the cold start (``edge.coldstart``). Logs and metrics go through
``edge.telemetry`` (powertools' JSON and EMF shapes without importing powertools:
its package import alone is a large share of this hot function's cold start; see that module).
"""

from __future__ import annotations

from wiresocket.edge import coldstart

coldstart.pause()  # before the heavy imports: see edge/coldstart.py

from typing import Any  # noqa: E402

from wiresocket import wiring  # noqa: E402
from wiresocket.edge.metrics import count_http_result, metrics  # noqa: E402
from wiresocket.edge.oauth import handle_oauth_event  # noqa: E402
from wiresocket.edge.telemetry import JsonLogger  # noqa: E402

logger = JsonLogger(service="token")
emf = metrics("token")


@coldstart.after_first_invocation
@emf.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Admit, parse, one service call, map the result or error (all in ``edge.oauth``)."""
    result = handle_oauth_event(event, wiring.token_service, wiring.token_introspection)
    count_http_result(emf, result, issued_on_200=str(event.get("path", "")).endswith("/connect/token"))
    return result
