"""Scheduled key maintenance (SPEC §5): retire keys past their grace period, rotate keys that are due.

Runs on a schedule; the trigger's payload is neither trusted nor needed. Every tenant is handled on its own
(``services.key_maintenance``); the run fails (so the Errors metric and its alarm see it) only when a tenant
failed for a reason other than a held lock, after every other tenant has been done. Re-running is harmless.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from wiresocket import wiring

logger = Logger(service="key_maintenance")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: object) -> dict[str, int]:
    """Run one maintenance pass; report counts."""
    report = wiring.key_maintenance().run()
    summary = report.summary()
    logger.info("key maintenance", extra=summary)
    if report.failed:
        raise RuntimeError(f"key maintenance failed for {report.failed} tenant(s)")
    return summary
