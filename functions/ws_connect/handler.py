"""The WebSocket API's ``$connect`` REQUEST authorizer and its ``$connect``/``$disconnect`` integrations (SPEC §8).

One function, three entry shapes: an authorizer event (``type: REQUEST``) gets an IAM policy (or 401), a
``CONNECT`` event registers the connection in its app's license-region registry, a ``DISCONNECT`` event
removes it.

The garbage collector pauses through the cold start (``edge.coldstart``). Logs and metrics go through
``edge.telemetry`` (powertools' JSON and EMF shapes without importing powertools:
its package import alone is about a quarter of the cold-start budget of this function; see that module).
"""

from __future__ import annotations

from wiresocket.edge import coldstart

coldstart.pause()  # before the heavy imports: see edge/coldstart.py

from typing import Any  # noqa: E402

from wiresocket import wiring  # noqa: E402
from wiresocket.edge.metrics import CONNECTIONS_AUTHORIZED, CONNECTIONS_DENIED, count, metrics  # noqa: E402
from wiresocket.edge.telemetry import JsonLogger  # noqa: E402
from wiresocket.services.authorize import authorize_event  # noqa: E402

logger = JsonLogger(service="ws_connect")
emf = metrics("ws_connect")


@coldstart.after_first_invocation
@emf.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Dispatch on the event's shape; one service call each; never logs a token."""
    if isinstance(event, dict) and event.get("type") == "REQUEST":
        outcome = authorize_event(event, wiring.connection_authorizer)
        logger.info("authorizer decision", extra={"decision": outcome.decision, "reason": outcome.reason})
        if outcome.decision == "allow":
            count(emf, CONNECTIONS_AUTHORIZED)
        else:
            count(emf, CONNECTIONS_DENIED, reason=outcome.reason)
        return outcome.result()
    from wiresocket.services.connections import handle_connection_event  # not needed by the authorizer's path

    response, outcome_reason = handle_connection_event(event, wiring.connection_service)
    logger.info("connection event", extra={"status": response["statusCode"], "outcome": outcome_reason})
    return response
