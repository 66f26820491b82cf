"""Access-token claims (SPEC §4). Pure: the service supplies the current records and the time."""

from __future__ import annotations

import secrets
from typing import Any

from wiresocket.domain.apps import App
from wiresocket.domain.plans import Plan
from wiresocket.domain.users import User
from wiresocket.names import AUDIENCE_API, AUDIENCE_DASHBOARD


def issuer(issuer_base: str, tenant_id: str) -> str:
    """One issuer per tenant: ``{issuer_base}/{tenantId}``."""
    return f"{issuer_base.rstrip('/')}/{tenant_id}"


def new_jti() -> str:
    """A unique token id (128 random bits, hex)."""
    return secrets.token_hex(16)


def _times(now: int, ttl: int) -> dict[str, int]:
    return {"iat": now, "nbf": now, "exp": now + ttl}


def app_claims(app: App, plan: Plan, scope: str, *, issuer_base: str, now: int, ttl: int) -> dict[str, Any]:
    """Claims of an app (client_credentials) token: ``aud`` is ``WireSocket.API``, ``sub`` the client id."""
    claims: dict[str, Any] = {
        "iss": issuer(issuer_base, app.tenant_id),
        "sub": app.client_id,
        "aud": AUDIENCE_API,
        "scope": scope,
        "tenantid": app.tenant_id,
        "appId": app.app_id,
        "licenseRegionCode": app.license_region,
        "dbCode": app.license_region,
    }
    domains = app.allowed_domains
    if domains:
        claims["allowed_domain_1"] = domains[0]
        if len(domains) > 1:
            claims["allowed_domain_2"] = domains[1]
            if len(domains) > 2:
                claims["allowed_domain_3"] = domains[2]
    claims["limits"] = plan.limits.claim()
    claims["iat"] = claims["nbf"] = now
    claims["exp"] = now + ttl
    claims["jti"] = new_jti()
    return claims


def user_claims(user: User, scope: str, *, issuer_base: str, now: int, ttl: int) -> dict[str, Any]:
    """Claims of a human (password grant) token: ``aud`` is ``WireSocket.Dashboard``, ``sub`` the user id."""
    claims: dict[str, Any] = {
        "iss": issuer(issuer_base, user.tenant_id),
        "sub": user.user_id,
        "aud": AUDIENCE_DASHBOARD,
        "scope": scope,
        "tenantid": user.tenant_id,
    }
    claims.update(_times(now, ttl))
    claims["jti"] = new_jti()
    return claims
