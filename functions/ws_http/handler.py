"""GET /discovery, /usage, /health and / on the data-plane host (public docs "API reference"; issue 6).

A REST/HTTP API proxy event (payload format 1.0) in, a proxy result out; ``services/dataplane_http.py`` does
everything. Logs the route and a short outcome code, never a token or a query string.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from wiresocket import wiring
from wiresocket.services.dataplane_http import handle_dataplane_event

logger = Logger(service="ws_http")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """One service call; the outcome code goes to the log."""
    outcome = handle_dataplane_event(event, wiring.dataplane_http)
    status = outcome.response["statusCode"]
    logger.info("data-plane http", extra={"status": status, "outcome": outcome.outcome})
    return outcome.response
