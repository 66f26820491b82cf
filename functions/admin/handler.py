"""``/signup``, ``/admin/...``, ``/platform/...`` and ``/openapi.json`` — the admin and platform API (SPEC §6,
``docs/admin-api.md``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from wiresocket.edge.admin import AdminApi, AdminDependencies
from wiresocket.edge.metrics import count_http_result, metrics

logger = Logger(service="admin")
emf = metrics("admin")
api = AdminApi(AdminDependencies.from_wiring())


@emf.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Gate (route, size, token, role, rate limit), then validation, idempotency and one service call."""
    result: dict[str, Any] = api.handle(event, context)
    count_http_result(emf, result)
    return result
