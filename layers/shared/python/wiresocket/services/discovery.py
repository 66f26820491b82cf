"""``GET /{tenantId}/.well-known/openid-configuration`` (SPEC §5; RFC 8414 fields, OIDC Discovery path).

One issuer per tenant, so one metadata document per tenant; every endpoint but ``jwks_uri`` is shared.
There is no authorization endpoint (no browser-redirect flows), hence ``response_types_supported`` is empty.
"""

from __future__ import annotations

from typing import Any

from wiresocket.domain.claims import issuer
from wiresocket.domain.errors import NotFound
from wiresocket.domain.ids import validate_tenant_id
from wiresocket.names import SCOPE_ADMIN, SCOPE_API, SCOPE_OFFLINE, SCOPE_PLATFORM, SCOPE_READ
from wiresocket.ports import Directory

AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def discovery_document(issuer_base: str, tenant_id: str) -> dict[str, Any]:
    """The metadata of ``tenant_id``'s issuer (pure)."""
    base = issuer_base.rstrip("/")
    iss = issuer(base, tenant_id)
    return {
        "issuer": iss,
        "token_endpoint": f"{base}/connect/token",
        "jwks_uri": f"{iss}/.well-known/jwks",
        "revocation_endpoint": f"{base}/connect/revocation",
        "introspection_endpoint": f"{base}/connect/introspect",
        "grant_types_supported": ["client_credentials", "password", "refresh_token"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": [*AUTH_METHODS, "none"],
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "scopes_supported": [SCOPE_API, SCOPE_ADMIN, SCOPE_READ, SCOPE_PLATFORM, SCOPE_OFFLINE],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "nbf",
            "jti",
            "scope",
            "tenantid",
            "appId",
            "licenseRegionCode",
            "dbCode",
            "allowed_domain_1",
            "allowed_domain_2",
            "allowed_domain_3",
            "limits",
        ],
    }


class DiscoveryService:
    """Serves the metadata of active tenants only (others are 404, like their JWKS)."""

    def __init__(self, directory: Directory, *, issuer_base: str) -> None:
        self._directory = directory
        self._issuer_base = issuer_base

    def document(self, tenant_id: str) -> dict[str, Any]:
        """The document; ``InvalidInput`` for a malformed id, ``NotFound`` for an unknown/non-active tenant."""
        validate_tenant_id(tenant_id)
        tenant = self._directory.get_tenant(tenant_id)
        if tenant is None or not tenant.is_active:
            raise NotFound("no such tenant")
        return discovery_document(self._issuer_base, tenant_id)
