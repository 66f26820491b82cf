"""Access-token verification for every verifier (introspection now; the admin API and data plane later).

SPEC §4: accept only RS256 (never ``none``, HS*, or anything else); refuse key-carrying or critical headers
(``jku``, ``x5u``, ``jwk``, ``x5c``, ``crit``, ...: only ``alg``, ``typ`` and ``kid`` may appear); select
the key only from the tenant named by ``tenantid`` and only by ``kid``; pin ``iss`` to that tenant; enforce
``exp``/``nbf``/``iat`` with at most 60 s leeway and ``aud``; then check the current security state (§7):
tenant active, key still published (not revoked or retired), app enabled with an active plan, user active.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers

from wiresocket.domain.apps import App
from wiresocket.domain.claims import issuer
from wiresocket.domain.errors import WireSocketError
from wiresocket.domain.ids import is_kid, is_tenant_id
from wiresocket.domain.keys import KeyState, SigningKey
from wiresocket.domain.tenants import Tenant
from wiresocket.domain.users import User
from wiresocket.names import AUDIENCE_API, AUDIENCE_DASHBOARD
from wiresocket.ports import Clock, IdentityDirectory

MAX_TOKEN_LENGTH = 8192
MAX_LEEWAY_SECONDS = 60
ALLOWED_HEADERS = frozenset({"alg", "typ", "kid"})
ALLOWED_TYPES = frozenset({"JWT", "at+jwt", "application/at+jwt"})
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "tenantid")


class TokenRejected(WireSocketError):
    """The token is not (or no longer) valid. ``reason`` is a short code for logs, never shown to callers."""

    code = "invalid_token"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedToken:
    """A token that verified, with the current records it was checked against."""

    claims: dict[str, Any]
    tenant: Tenant
    kid: str
    app: App | None
    user: User | None

    @property
    def scopes(self) -> frozenset[str]:
        """The granted scopes (``scope``, space-separated)."""
        return frozenset(str(self.claims.get("scope", "")).split())


def _b64url_int(value: str) -> int:
    import base64

    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


class TokenVerifier:
    """Verifies access tokens against a tenant's published keys and current state."""

    def __init__(
        self,
        directory: IdentityDirectory,
        clock: Clock,
        *,
        issuer_base: str,
        leeway_seconds: int = 30,
    ) -> None:
        if not 0 <= leeway_seconds <= MAX_LEEWAY_SECONDS:
            raise ValueError(f"leeway must be 0-{MAX_LEEWAY_SECONDS} s")
        self._directory = directory
        self._clock = clock
        self._issuer_base = issuer_base
        self._leeway = leeway_seconds
        self._public: dict[tuple[str, str, str], RSAPublicKey] = {}
        self._lock = threading.Lock()

    def _public_key(self, key: SigningKey) -> RSAPublicKey:
        cache_key = (key.kid, key.public_n, key.public_e)
        with self._lock:
            found = self._public.get(cache_key)
        if found is None:
            found = RSAPublicNumbers(_b64url_int(key.public_e), _b64url_int(key.public_n)).public_key()
            with self._lock:
                if len(self._public) > 1024:
                    self._public.clear()
                self._public[cache_key] = found
        return found

    def verify(self, token: object, audiences: Collection[str], *, required_scope: str | None = None) -> VerifiedToken:
        """The verified token, or ``TokenRejected``. ``DependencyUnavailable`` propagates (callers fail
        closed)."""
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise TokenRejected("malformed")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise TokenRejected("malformed") from exc
        if set(header) - ALLOWED_HEADERS:
            raise TokenRejected("forbidden header")
        if header.get("alg") != "RS256":
            raise TokenRejected("algorithm")
        if "typ" in header and header["typ"] not in ALLOWED_TYPES:
            raise TokenRejected("type")
        kid, tenant_id = header.get("kid"), unverified.get("tenantid")
        if not is_kid(kid) or not is_tenant_id(tenant_id):
            raise TokenRejected("kid or tenantid")
        assert isinstance(kid, str) and isinstance(tenant_id, str)
        tenant, keys = self._directory.tenant_with_keys(tenant_id)
        if tenant is None or not tenant.is_active:
            raise TokenRejected("tenant not active")
        now = self._clock.now()
        key = next((k for k in keys if k.kid == kid), None)
        if key is None or key.state is KeyState.NEXT or not key.is_published(now):
            raise TokenRejected("key not valid")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public_key(key),
                algorithms=["RS256"],
                audience=list(audiences),
                issuer=issuer(self._issuer_base, tenant_id),
                leeway=self._leeway,
                # Times are checked below against the injected clock (PyJWT would use its own).
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise TokenRejected(type(exc).__name__) from exc
        self._check_times(claims, now)
        if not isinstance(claims.get("aud"), str):
            raise TokenRejected("aud must be a single audience")
        if required_scope is not None and required_scope not in str(claims.get("scope", "")).split():
            raise TokenRejected("scope")
        app, user = self._current_principal(claims, tenant_id)
        return VerifiedToken(claims, tenant, kid, app, user)

    def _check_times(self, claims: dict[str, Any], now: float) -> None:
        times: list[int] = []
        for name in ("exp", "nbf", "iat"):
            value = claims.get(name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TokenRejected("time claims must be integers")
            times.append(value)
        exp, nbf, iat = times
        if now >= exp + self._leeway:
            raise TokenRejected("expired")
        if nbf > now + self._leeway or iat > now + self._leeway:
            raise TokenRejected("not yet valid")

    def _current_principal(self, claims: dict[str, Any], tenant_id: str) -> tuple[App | None, User | None]:
        audience = claims["aud"]
        if audience == AUDIENCE_API:
            app_id = claims.get("appId")
            app = self._directory.app(tenant_id, app_id) if isinstance(app_id, str) else None
            if app is None or not app.is_enabled or app.client_id != claims["sub"]:
                raise TokenRejected("app not enabled")
            plan = self._directory.plan(app.plan_id) if app.plan_id else None
            if plan is None or not plan.is_active:
                raise TokenRejected("no active plan")
            return app, None
        if audience == AUDIENCE_DASHBOARD:
            sub = claims["sub"]
            user = self._directory.user(tenant_id, sub) if isinstance(sub, str) else None
            if user is None or not user.is_active:
                raise TokenRejected("user not active")
            return None, user
        raise TokenRejected("audience")
