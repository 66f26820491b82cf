"""Token revocation (RFC 7009) and introspection (RFC 7662) (SPEC §3).

Revocation kills a refresh token's whole family; it answers success for tokens it does not know (and for
tokens of other clients, so that nobody learns whether a token exists). Access tokens are self-contained
JWTs that cannot be revoked one by one: presenting one is ``unsupported_token_type`` (RFC 7009 §2.2.1).

Introspection authenticates the caller as an app of a tenant and reports ``active: true`` only for a token
of the *same* tenant that the current security state still honours; everything else is ``active: false``
with no further detail (RFC 7662 §2.2).
"""

from __future__ import annotations

from typing import Any

from wiresocket.domain.clients import ClientKind
from wiresocket.domain.oauth import OAuthRequest, UnauthorizedClient, UnsupportedTokenType
from wiresocket.names import AUDIENCE_API, AUDIENCE_DASHBOARD
from wiresocket.ports import IdentityDirectory
from wiresocket.services.clientauth import AuthenticatedClient, ClientAuthenticator
from wiresocket.services.refresh import RefreshTokens
from wiresocket.services.verification import TokenRejected, TokenVerifier

INACTIVE: dict[str, Any] = {"active": False}
HINT_REFRESH = "refresh_token"
HINT_ACCESS = "access_token"


def _looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


class TokenIntrospection:
    """RFC 7009 revocation and RFC 7662 introspection."""

    def __init__(
        self,
        directory: IdentityDirectory,
        clients: ClientAuthenticator,
        refresh: RefreshTokens,
        verifier: TokenVerifier,
    ) -> None:
        self._directory = directory
        self._clients = clients
        self._refresh = refresh
        self._verifier = verifier

    def revoke(self, request: OAuthRequest) -> None:
        """Revoke the refresh token's family if it belongs to the calling client; succeed silently otherwise."""
        client = self._clients.authenticate(request.client, secret_required=False)
        token = request.require("token")
        presented = self._refresh.lookup(token)
        if presented is not None:
            if presented.token.client_id == client.ref.client_id:
                self._refresh.revoke(presented, "revoked_by_client")
            return
        if request.get("token_type_hint") == HINT_ACCESS or _looks_like_jwt(token):
            raise UnsupportedTokenType("access tokens expire on their own and cannot be revoked one by one")

    def introspect(self, request: OAuthRequest) -> dict[str, Any]:
        """The RFC 7662 §2.2 response for ``token``."""
        client = self._clients.authenticate(request.client, secret_required=True)
        if client.ref.kind is not ClientKind.APP:
            raise UnauthorizedClient("only apps may introspect tokens")
        token = request.require("token")
        if request.get("token_type_hint") != HINT_ACCESS or not _looks_like_jwt(token):
            refreshed = self._introspect_refresh(token, client)
            if refreshed is not None or not _looks_like_jwt(token):
                return refreshed or dict(INACTIVE)
        return self._introspect_access(token, client)

    def _introspect_refresh(self, token: str, client: AuthenticatedClient) -> dict[str, Any] | None:
        presented = self._refresh.lookup(token)
        if presented is None:
            return None
        family = presented.family
        if family.tenant_id != client.tenant.tenant_id:
            return dict(INACTIVE)
        generation = None
        if family.client_id == client.ref.client_id:
            generation = client.credential_generation
        else:
            ref = self._directory.client(family.client_id)
            app = self._directory.app(ref.tenant_id, ref.app_id) if ref and ref.app_id else None
            dashboard = self._directory.dashboard_client(family.client_id) if app is None else None
            if app is not None:
                generation = app.credential_generation if app.is_enabled else -1
            elif dashboard is not None:
                generation = dashboard.credential_generation if dashboard.enabled else -1
            else:
                return dict(INACTIVE)
        if not self._refresh.is_live(presented, generation):
            return dict(INACTIVE)
        if family.subject_kind == "user":
            user = self._directory.user(family.tenant_id, family.subject_id)
            if user is None or not user.is_active:
                return dict(INACTIVE)
        return {
            "active": True,
            "token_type": "refresh_token",
            "scope": family.scope,
            "client_id": family.client_id,
            "sub": family.subject_id,
            "iat": presented.token.issued_at,
            "exp": presented.token.expires_at,
            "tenantid": family.tenant_id,
        }

    def _introspect_access(self, token: str, client: AuthenticatedClient) -> dict[str, Any]:
        try:
            verified = self._verifier.verify(token, (AUDIENCE_API, AUDIENCE_DASHBOARD))
        except TokenRejected:
            return dict(INACTIVE)
        if verified.tenant.tenant_id != client.tenant.tenant_id:
            return dict(INACTIVE)
        claims = verified.claims
        body: dict[str, Any] = {"active": True, "token_type": "Bearer"}
        for name in ("scope", "sub", "aud", "iss", "exp", "iat", "nbf", "jti", "tenantid", "appId"):
            if name in claims:
                body[name] = claims[name]
        if verified.app is not None:
            body["client_id"] = verified.app.client_id
        return body
