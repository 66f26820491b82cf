"""The OAuth 2.0 token endpoint (RFC 6749 §4.3, §4.4, §6; SPEC §2, §3, §4).

One method per grant, selected by ``grant_type`` (as authlib's grant classes are). Every request reads the
current state fresh: the client and its tenant (tenant record and keys in one Query), the app and its plan,
or the user. Nothing is written before the access token is signed, so a KMS or DynamoDB failure leaves no
state behind; the only writes are refresh-token families and rotations, each one transaction.

The password and refresh grants import what only they use (users, refresh families, audit actors) when they
run, and refresh tokens come from a factory: the token function's cold start, a client_credentials grant,
builds none of it (docs/websocket.md "Cold start").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from wiresocket.domain.claims import app_claims_payload, user_claims
from wiresocket.domain.credentials import MAX_PASSWORD_LENGTH, verify_password_or_dummy
from wiresocket.domain.errors import Conflict, InvalidInput
from wiresocket.domain.oauth import (
    InvalidGrant,
    InvalidScope,
    OAuthRequest,
    RateLimited,
    TokenResponse,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from wiresocket.domain.ratelimit import TOKEN_IP
from wiresocket.domain.scopes import APP_DEFAULT, APP_SCOPES, format_scope, grant_scopes, parse_scope, user_scopes
from wiresocket.names import SCOPE_OFFLINE

if TYPE_CHECKING:
    from wiresocket.domain.apps import App
    from wiresocket.domain.keys import SigningKey
    from wiresocket.domain.plans import Plan
    from wiresocket.domain.refresh import RefreshFamily
    from wiresocket.domain.users import User
    from wiresocket.ports import Clock, IdentityDirectory
    from wiresocket.services.clientauth import AuthenticatedClient, ClientAuthenticator
    from wiresocket.services.ratelimit import RateLimiter
    from wiresocket.services.refresh import RefreshTokens
    from wiresocket.services.signing import TokenSigner

GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_PASSWORD = "password"  # noqa: S105 - a grant type name
GRANT_REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant type name
GRANT_TYPES = (GRANT_CLIENT_CREDENTIALS, GRANT_PASSWORD, GRANT_REFRESH_TOKEN)


class TokenPolicy(NamedTuple):
    """Issuer and lifetimes (settings: ``TokenSettings``)."""

    issuer_base: str
    access_token_ttl_seconds: int = 900


def user_subject(username: str) -> str:
    """The lock-out subject of a username."""
    return f"user:{username}"


class TokenService:
    """Issues access tokens (and refresh tokens) for the three grants."""

    def __init__(
        self,
        directory: IdentityDirectory,
        clients: ClientAuthenticator,
        signer: TokenSigner,
        refresh: Callable[[], RefreshTokens],
        *,
        limiter: RateLimiter,
        clock: Clock,
        policy: TokenPolicy,
    ) -> None:
        self._directory = directory
        self._clients = clients
        self._signer = signer
        self._refresh_tokens = refresh
        self._limiter = limiter
        self._clock = clock
        self._policy = policy
        self._grants: dict[str, Callable[[OAuthRequest], TokenResponse]] = {
            GRANT_CLIENT_CREDENTIALS: self._client_credentials,
            GRANT_PASSWORD: self._password,
            GRANT_REFRESH_TOKEN: self._refresh_token,
        }

    def admit(self, source_ip: str) -> None:
        """Count one token request of ``source_ip`` (SPEC §7, per-IP policy); ``RateLimited`` beyond it."""
        decision = self._limiter.hit(TOKEN_IP, f"ip:{source_ip}")
        if not decision.allowed:
            raise RateLimited("too many token requests from this address", decision.retry_after)

    def token(self, request: OAuthRequest) -> TokenResponse:
        """RFC 6749 §5.1 response for ``request``, or an ``OAuthError``."""
        grant_type = request.require("grant_type")
        grant = self._grants.get(grant_type)
        if grant is None:
            raise UnsupportedGrantType("grant_type must be client_credentials, password or refresh_token")
        return grant(request)

    # --- helpers -------------------------------------------------------------------------------------------

    @property
    def _refresh(self) -> RefreshTokens:
        # A factory (cached by the caller): only grants that touch refresh tokens build the service.
        return self._refresh_tokens()

    def _now(self) -> int:
        return int(self._clock.now())

    def _active_plan(self, app: App) -> Plan:
        plan = self._directory.plan(app.plan_id) if app.plan_id else None
        if plan is None or not plan.is_active:
            raise UnauthorizedClient("the app has no active plan")
        return plan

    def _app_token(self, app: App, plan: Plan, keys: list[SigningKey], scope: str) -> str:
        payload = app_claims_payload(
            app,
            plan,
            scope,
            issuer_base=self._policy.issuer_base,
            now=self._now(),
            ttl=self._policy.access_token_ttl_seconds,
        )
        return self._signer.sign_payload(payload, keys)

    def _user_token(self, user: User, keys: list[SigningKey], scope: str) -> str:
        claims = user_claims(
            user,
            scope,
            issuer_base=self._policy.issuer_base,
            now=self._now(),
            ttl=self._policy.access_token_ttl_seconds,
        )
        return self._signer.sign(claims, keys)

    def _respond(self, access_token: str, scope: str, refresh_token: str | None) -> TokenResponse:
        return TokenResponse(
            access_token=access_token,
            expires_in=self._policy.access_token_ttl_seconds,
            scope=scope,
            refresh_token=refresh_token,
        )

    # --- client_credentials (RFC 6749 §4.4) ----------------------------------------------------------------

    def _client_credentials(self, request: OAuthRequest) -> TokenResponse:
        client = self._clients.authenticate(request.client, secret_required=True)
        if client.app is None:
            raise UnauthorizedClient("the dashboard client may not use client_credentials")
        app = client.app
        scopes = grant_scopes(parse_scope(request.get("scope")), APP_SCOPES, APP_DEFAULT)
        self._signer.prefetch(client.keys)  # a cold key's KMS unwrap overlaps the plan read
        plan = self._active_plan(app)
        scope = format_scope(scopes)
        access = self._app_token(app, plan, client.keys, scope)
        refresh = None
        if SCOPE_OFFLINE in scopes:
            from wiresocket.domain.refresh import SubjectKind

            refresh, writes = self._refresh.start_writes(
                tenant_id=app.tenant_id,
                subject_kind=SubjectKind.APP,
                subject_id=app.app_id,
                client_id=app.client_id,
                scope=scope,
                credential_generation=app.credential_generation,
            )
            self._directory.commit(writes)
        return self._respond(access, scope, refresh)

    # --- password (RFC 6749 §4.3), trusted dashboard client only ------------------------------------------

    def _password(self, request: OAuthRequest) -> TokenResponse:
        from wiresocket.domain.audit import Actor, ActorType
        from wiresocket.domain.refresh import SubjectKind
        from wiresocket.domain.users import normalize_username

        client = self._clients.authenticate(request.client, secret_required=True)
        if client.dashboard is None:
            raise UnauthorizedClient("only the trusted dashboard client may use the password grant")
        raw_username, password = request.require("username"), request.require("password")
        requested = parse_scope(request.get("scope"))
        try:
            username = normalize_username(raw_username)
        except InvalidInput:
            verify_password_or_dummy(password[:MAX_PASSWORD_LENGTH], None)
            raise InvalidGrant("invalid username or password") from None
        subject = user_subject(username)
        self._clients.check_lockout(subject)
        self._clients.count_password_attempt(subject)  # atomic, before Argon2: the lock-out read can be raced
        user = self._directory.user_by_username(username)
        stored = user.password_hash if user is not None else None
        if len(password) > MAX_PASSWORD_LENGTH:
            stored = None  # never run Argon2 over an oversized input; still spend the same time
        if not verify_password_or_dummy(password[:MAX_PASSWORD_LENGTH], stored) or user is None:
            actor = Actor(ActorType.USER, user.user_id if user is not None else "unknown")
            self._clients.record_failure(subject, user.tenant_id if user is not None else None, actor)
            raise InvalidGrant("invalid username or password")
        if not user.is_active:
            raise InvalidGrant("the user is disabled")
        tenant, keys = self._directory.tenant_with_keys(user.tenant_id)
        if tenant is None or not tenant.is_active:
            raise InvalidGrant("the user's tenant is not active")
        allowed, default = user_scopes(user.role)
        scopes = grant_scopes(requested, allowed, default)
        scope = format_scope(scopes)
        access = self._user_token(user, keys, scope)
        refresh = None
        if SCOPE_OFFLINE in scopes:
            assert client.dashboard is not None
            refresh, writes = self._refresh.start_writes(
                tenant_id=user.tenant_id,
                subject_kind=SubjectKind.USER,
                subject_id=user.user_id,
                client_id=client.dashboard.client_id,
                scope=scope,
                credential_generation=client.dashboard.credential_generation,
            )
            self._directory.commit(writes)
        return self._respond(access, scope, refresh)

    # --- refresh_token (RFC 6749 §6), rotating, with reuse detection ----------------------------------------

    def _refresh_token(self, request: OAuthRequest) -> TokenResponse:
        from wiresocket.domain.refresh import RefreshStatus

        raw = request.require("refresh_token")
        requested = parse_scope(request.get("scope"))
        client = self._clients.authenticate(request.client, secret_required=False)
        presented = self._refresh.lookup(raw)
        if presented is None or presented.token.client_id != client.ref.client_id:
            raise InvalidGrant("invalid refresh token")
        token, family = presented.token, presented.family
        if token.status is RefreshStatus.USED and family.is_active:
            self._refresh.revoke_for_reuse(presented)
            raise InvalidGrant("refresh token already used; its family is revoked")
        if not self._refresh.is_live(presented, client.credential_generation):
            raise InvalidGrant("refresh token expired or revoked")
        granted_family = frozenset(family.scope.split())
        scopes = granted_family if requested is None else requested
        if not scopes <= granted_family:
            raise InvalidScope("scope exceeds the original grant")
        if not scopes - {SCOPE_OFFLINE}:
            raise InvalidScope("offline_access alone grants nothing")
        scope = format_scope(scopes)
        access = self._refreshed_access_token(client, family, scopes, scope)
        new_raw, writes = self._refresh.rotation_writes(presented)
        try:
            self._directory.commit(writes)
        except Conflict:
            # Another request consumed this token first (or the family was just revoked): a replay.
            self._refresh.revoke_for_reuse(presented)
            raise InvalidGrant("refresh token already used; its family is revoked") from None
        return self._respond(access, scope, new_raw)

    def _refreshed_access_token(
        self, client: AuthenticatedClient, family: RefreshFamily, scopes: frozenset[str], scope: str
    ) -> str:
        """A new access token for the family's principal, from its current state."""
        from wiresocket.domain.refresh import SubjectKind

        if family.subject_kind is SubjectKind.APP:
            app = client.app
            if app is None or app.app_id != family.subject_id or app.tenant_id != family.tenant_id:
                raise InvalidGrant("invalid refresh token")
            if not scopes <= APP_SCOPES:
                raise InvalidGrant("the grant is no longer allowed")
            return self._app_token(app, self._active_plan(app), client.keys, scope)
        if client.dashboard is None:
            raise InvalidGrant("invalid refresh token")
        user = self._directory.user(family.tenant_id, family.subject_id)
        if user is None or not user.is_active:
            raise InvalidGrant("the user is disabled")
        tenant, keys = self._directory.tenant_with_keys(user.tenant_id)
        if tenant is None or not tenant.is_active:
            raise InvalidGrant("the user's tenant is not active")
        allowed, _ = user_scopes(user.role)
        if not scopes <= allowed:
            raise InvalidGrant("the user's role no longer allows this scope; sign in again")
        return self._user_token(user, keys, scope)
