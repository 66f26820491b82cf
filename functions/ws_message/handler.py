"""The WebSocket API's ``$default`` route: y-websocket sync and awareness over base64 text frames (SPEC §8).

Thin: parse the event (connection, authorizer context, body) → ``RelayService.handle`` → a proxy response.
What the client sees travels through ``@connections`` (error frames, sync answers); the response itself is only
for API Gateway's logs. A connection without a valid authorizer context is closed with 4003.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from wiresocket import wiring
from wiresocket.services.relay import handle_message_event

logger = Logger(service="ws_message")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """One frame; never logs its content."""
    s = wiring.ws_message_settings()
    response, outcome = handle_message_event(
        event, wiring.relay_service, endpoint=s.ws_management_endpoint, ws_region=s.websocket_region
    )
    logger.info("message", extra={"status": response["statusCode"], "outcome": outcome})
    return response
