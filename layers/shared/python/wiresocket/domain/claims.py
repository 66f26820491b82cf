"""Access-token claims (SPEC §4). Pure: the service supplies the current records and the time."""

from __future__ import annotations

import functools
import json
import secrets
from typing import TYPE_CHECKING, Any

from wiresocket.names import AUDIENCE_API, AUDIENCE_DASHBOARD

if TYPE_CHECKING:
    from wiresocket.domain.apps import App
    from wiresocket.domain.plans import Plan, PlanLimits
    from wiresocket.domain.users import User


def issuer(issuer_base: str, tenant_id: str) -> str:
    """One issuer per tenant: ``{issuer_base}/{tenantId}``."""
    return f"{issuer_base.rstrip('/')}/{tenant_id}"


def new_jti() -> str:
    """A unique token id (128 random bits, hex)."""
    return secrets.token_hex(16)


def _times(now: int, ttl: int) -> dict[str, int]:
    return {"iat": now, "nbf": now, "exp": now + ttl}


def _app_static(
    issuer_base: str,
    tenant_id: str,
    client_id: str,
    app_id: str,
    license_region: str,
    domains: tuple[str, ...],
    limits: PlanLimits,
    scope: str,
) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": issuer(issuer_base, tenant_id),
        "sub": client_id,
        "aud": AUDIENCE_API,
        "scope": scope,
        "tenantid": tenant_id,
        "appId": app_id,
        "licenseRegionCode": license_region,
        "dbCode": license_region,
    }
    if domains:
        claims["allowed_domain_1"] = domains[0]
        if len(domains) > 1:
            claims["allowed_domain_2"] = domains[1]
            if len(domains) > 2:
                claims["allowed_domain_3"] = domains[2]
    claims["limits"] = limits.claim()
    return claims


def app_claims(app: App, plan: Plan, scope: str, *, issuer_base: str, now: int, ttl: int) -> dict[str, Any]:
    """Claims of an app (client_credentials) token: ``aud`` is ``WireSocket.API``, ``sub`` the client id."""
    claims = _app_static(
        issuer_base,
        app.tenant_id,
        app.client_id,
        app.app_id,
        app.license_region,
        app.allowed_domains,
        plan.limits,
        scope,
    )
    claims["iat"] = claims["nbf"] = now
    claims["exp"] = now + ttl
    claims["jti"] = new_jti()
    return claims


@functools.lru_cache(maxsize=1024)
def _app_static_json(
    issuer_base: str,
    tenant_id: str,
    client_id: str,
    app_id: str,
    license_region: str,
    domains: tuple[str, ...],
    limits: PlanLimits,
    scope: str,
) -> bytes:
    """The compact JSON of the per-(app, plan, scope) members, without the closing brace. Memoised by the
    values themselves (immutable), so a changed app or plan can never hit a stale entry."""
    static = _app_static(issuer_base, tenant_id, client_id, app_id, license_region, domains, limits, scope)
    return json.dumps(static, separators=(",", ":")).encode("ascii")[:-1]


def app_claims_payload(app: App, plan: Plan, scope: str, *, issuer_base: str, now: int, ttl: int) -> bytes:
    """``app_claims`` as the compact JSON that is signed (same members, same order, same bytes as
    ``json.dumps(app_claims(...), separators=(",", ":"))``). Only the times and ``jti`` are new per token."""
    head = _app_static_json(
        issuer_base,
        app.tenant_id,
        app.client_id,
        app.app_id,
        app.license_region,
        app.allowed_domains,
        plan.limits,
        scope,
    )
    now = int(now)
    return b'%b,"iat":%d,"nbf":%d,"exp":%d,"jti":"%b"}' % (head, now, now, now + int(ttl), new_jti().encode("ascii"))


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
