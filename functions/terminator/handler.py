"""The regional terminator: audit events → close this region's matching WebSocket sessions (SPEC §8).

EventBridge delivers ``SigningKeyRevoked``, ``TenantStatusChanged`` (suspended), ``AppStatusChanged``
(disabled) and ``AppDeleted`` from the audit bus to every regional stack. The admin API already terminated
every region directly before it returned; this is the backstop for a region it could not reach.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from wiresocket import wiring
from wiresocket.domain.audit import Actor, ActorType
from wiresocket.edge.metrics import SESSIONS_TERMINATED, count, metrics
from wiresocket.services.sessions import scope_from_event

logger = Logger(service="terminator")
emf = metrics("terminator")


@emf.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: object) -> dict[str, int]:
    """Parse the event, terminate its scope in this region, report the count."""
    detail = event.get("detail")
    found = scope_from_event(str(event.get("detail-type", "")), detail if isinstance(detail, dict) else {})
    if found is None:
        logger.info("event ends no sessions", extra={"detailType": event.get("detail-type")})
        return {"closed": 0}
    scope, reason = found
    closed = wiring.regional_terminator().terminate(scope, reason, Actor(ActorType.SYSTEM, "terminator"))
    count(emf, SESSIONS_TERMINATED, closed)
    logger.info("sessions terminated", extra={"tenantId": scope.tenant_id, "appId": scope.app_id, "closed": closed})
    return {"closed": closed}
