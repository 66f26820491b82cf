"""Seed the local stack through the real services (SPEC §10, issue 3).

- the reserved platform tenant (approved: its own signing keys) with a platform operator;
- the trusted dashboard client;
- the demo tenant (approved) with its owner user, a plan, and an enabled demo app on that plan whose
  allowed domains are the local dev server's (``localhost:5173``, ``127.0.0.1:5173``);
- the client-secret pepper and the rate-limit counters table, if missing.

Returns what ``local.json`` publishes: ``operator``, ``dashboard_client`` and ``demo``.
"""

from __future__ import annotations

import secrets
from typing import Any

from wiresocket import names, wiring
from wiresocket.domain.audit import SYSTEM_ACTOR
from wiresocket.domain.plans import PlanLimits
from wiresocket.domain.users import UserRole

DEMO_TENANT_NAME = "Demo Tenant"
PLATFORM_TENANT_NAME = "WireSocket Platform"
DEMO_ALLOWED_DOMAINS = ("localhost:5173", "127.0.0.1:5173")
DEMO_PLAN_ID = "developer"
DEMO_PLAN_LIMITS = PlanLimits(max_connections=100, max_documents=50, max_users_per_doc=20, ops_per_minute=6000)
OPERATOR_USERNAME = "operator@wiresocket.local"
OWNER_USERNAME = "owner@demo.local"


def seed(endpoint_url: str, settings: dict[str, str]) -> dict[str, Any]:
    """Create the local demo data; returns the ``local.json`` sections it owns."""
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
    wiring.secret_pepper(s.directory_table, s.region, s.master_key_id).ensure()
    entries = wiring.directory_entries()

    tenants.create(PLATFORM_TENANT_NAME, SYSTEM_ACTOR, tenant_id=names.PLATFORM_TENANT_ID)
    tenants.approve(names.PLATFORM_TENANT_ID, SYSTEM_ACTOR)
    operator_password = secrets.token_urlsafe(18)
    entries.create_user(names.PLATFORM_TENANT_ID, OPERATOR_USERNAME, operator_password, UserRole.OPERATOR, SYSTEM_ACTOR)
    dashboard, dashboard_secret = entries.create_dashboard_client("WireSocket Dashboard")

    tenant = tenants.create(DEMO_TENANT_NAME, SYSTEM_ACTOR)
    tenants.approve(tenant.tenant_id, SYSTEM_ACTOR)
    owner_password = secrets.token_urlsafe(18)
    entries.create_user(tenant.tenant_id, OWNER_USERNAME, owner_password, UserRole.OWNER, SYSTEM_ACTOR)
    plan = entries.create_plan(DEMO_PLAN_ID, "Developer", DEMO_PLAN_LIMITS)
    app, app_secret = entries.create_app(
        tenant.tenant_id,
        "Demo App",
        "aws-eu-west-1",
        list(DEMO_ALLOWED_DOMAINS),
        plan_id=plan.plan_id,
        actor=SYSTEM_ACTOR,
    )
    wiring.outbox_publisher(s.directory_table, s.region, s.audit_bus).publish_pending()
    return {
        "operator": {"username": OPERATOR_USERNAME, "password": operator_password},
        "dashboard_client": {"client_id": dashboard.client_id, "client_secret": dashboard_secret},
        "demo": {
            "tenant_id": tenant.tenant_id,
            "tenant_name": tenant.name,
            "app_id": app.app_id,
            "client_id": app.client_id,
            "client_secret": app_secret,
            "allowed_domains": list(app.allowed_domains),
            "owner": {"username": OWNER_USERNAME, "password": owner_password},
        },
    }
