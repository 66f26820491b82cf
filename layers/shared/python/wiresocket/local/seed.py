"""Seed the local stack: a demo tenant, approved (so it has signing keys)."""

from __future__ import annotations

from typing import Any

from wiresocket import wiring
from wiresocket.domain.audit import SYSTEM_ACTOR

DEMO_TENANT_NAME = "Demo Tenant"


def seed(endpoint_url: str, settings: dict[str, str]) -> dict[str, Any]:
    """Create the demo data through the real services; returns what ``local.json`` publishes."""
    from wiresocket.services.locks import LockManager
    from wiresocket.services.tenants import TenantService

    s = wiring.key_vault_settings()
    directory = wiring.directory(s.directory_table, s.region)
    tenants = TenantService(
        directory,
        wiring.key_vault(),
        LockManager(wiring.lock_store(s.directory_table, s.region), wiring.clock()),
        wiring.clock(),
        region=s.region,
    )
    tenant = tenants.create(DEMO_TENANT_NAME, SYSTEM_ACTOR)
    tenants.approve(tenant.tenant_id, SYSTEM_ACTOR)
    wiring.outbox_publisher(s.directory_table, s.region, s.audit_bus).publish_pending()
    return {"demo": {"tenant_id": tenant.tenant_id, "tenant_name": tenant.name}}
