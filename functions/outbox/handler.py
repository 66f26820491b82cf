"""Audit outbox publisher: runs from the directory's stream and on a schedule (SPEC §7).

Whatever triggers it, it publishes every pending event; the trigger's payload is not trusted or needed.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from wiresocket import wiring

logger = Logger(service="outbox")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: object) -> dict[str, int]:
    """Publish pending audit events; report counts."""
    s = wiring.outbox_settings()
    report = wiring.outbox_publisher(s.directory_table, s.region, s.audit_bus).publish_pending()
    logger.info("outbox run", extra={"published": report.published, "failed": report.failed})
    if report.failed:
        # Fail the invocation so a stream trigger retries; the schedule sweeps up regardless.
        raise RuntimeError(f"{report.failed} audit events not yet delivered")
    return {"published": report.published, "failed": report.failed}
