"""Access-token verification for every verifier (introspection now; the admin API and data plane later).

SPEC §4: accept only RS256 (never ``none``, HS*, or anything else); refuse key-carrying or critical headers
(``jku``, ``x5u``, ``jwk``, ``x5c``, ``crit``, ...: only ``alg``, ``typ`` and ``kid`` may appear); select
the key only from the tenant named by ``tenantid`` and only by ``kid``; pin ``iss`` to that tenant; enforce
``exp``/``nbf``/``iat`` with at most 60 s leeway and ``aud``; then check the current security state (§7):
tenant active, key still published (not revoked or retired), app enabled with an active plan, user active.

Why not ``jwt.decode``: this runs on the ``$connect`` authorizer's hot path, which must be no slower than a
bare PyJWT decode (the ``authorize`` benchmark), and PyJWT parses a token three times and validates base64 in
pure Python. The JOSE surface we accept is tiny — one algorithm, three header names, compact serialisation —
so it is spelled out here: strict canonical base64url, UTF-8 JSON objects only, and the RS256 check is
``cryptography``'s RSASSA-PKCS1-v1_5/SHA-256 (the primitive PyJWT itself calls) over exactly the bytes the
claims were parsed from; nothing is trusted before it passes. Tokens are *issued* with PyJWT, and every test
table (tests/unit/test_token_verification.py, tests/unit/test_authorize.py) runs against this verifier.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers
from cryptography.hazmat.primitives.hashes import SHA256

from wiresocket.domain.apps import App
from wiresocket.domain.claims import issuer
from wiresocket.domain.errors import WireSocketError
from wiresocket.domain.ids import is_kid, is_tenant_id
from wiresocket.domain.keys import SigningKey, honoured_key
from wiresocket.domain.tenants import Tenant
from wiresocket.domain.users import User
from wiresocket.names import AUDIENCE_API, AUDIENCE_DASHBOARD

if TYPE_CHECKING:  # annotations only: ports' dataclasses stay off the authorizer's cold start
    from wiresocket.ports import Clock, IdentityDirectory

MAX_TOKEN_LENGTH = 8192
MAX_LEEWAY_SECONDS = 60
ALLOWED_HEADERS = frozenset({"alg", "typ", "kid"})
ALLOWED_TYPES = frozenset({"JWT", "at+jwt", "application/at+jwt"})
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "tenantid")
MAX_HEADER_MEMO = 256
MAX_MEMO_SEGMENT = 512
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
"""One base64url segment of a compact JWS: the URL-safe alphabet only, no padding, not empty."""
_PKCS1V15 = PKCS1v15()
_SHA256 = SHA256()
_CANONICAL_LAST = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}
"""The last character of a canonical segment of length 2 or 3 mod 4: its unused low bits (4 or 2) are zero."""


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
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def _segment(raw: str) -> bytes:
    """Strictly decode one base64url segment: alphabet only, no padding, canonical (no stray trailing bits)."""
    remainder = len(raw) % 4
    if remainder == 1 or _SEGMENT.fullmatch(raw) is None:
        raise TokenRejected("malformed")
    if remainder and raw[-1] not in _CANONICAL_LAST[remainder]:
        raise TokenRejected("malformed")  # stray bits: two encodings of one value, only the canonical one counts
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-remainder % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenRejected("malformed") from exc


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"))  # RFC 7515: UTF-8 only (json.loads(bytes) would guess UTF-16/32)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise TokenRejected("malformed") from exc
    if not isinstance(value, dict):
        raise TokenRejected("malformed")
    return value


def _checked_header(segment: str) -> str:
    """The ``kid`` of a header segment that passes the header rules (SPEC §4), else ``TokenRejected``.

    Only ``alg``/``typ``/``kid`` may appear (no ``jku``, ``jwk``, ``x5u``, ``x5c``, ``crit``, ...), ``alg`` must
    be ``RS256``, ``typ`` (if present) a JWT type, ``kid`` one of ours in shape.
    """
    header = _json_object(_segment(segment))
    if set(header) - ALLOWED_HEADERS:
        raise TokenRejected("forbidden header")
    if header.get("alg") != "RS256":
        raise TokenRejected("algorithm")
    if "typ" in header and (not isinstance(header["typ"], str) or header["typ"] not in ALLOWED_TYPES):
        raise TokenRejected("type")
    kid = header.get("kid")
    if not is_kid(kid):
        raise TokenRejected("kid or tenantid")
    assert isinstance(kid, str)
    return kid


class _HeaderMemo:
    """``_checked_header`` memoized by the exact segment string (a pure function of it).

    Every token signed with one key carries the same header segment, so nearly every lookup hits. Bounded:
    at most ``MAX_HEADER_MEMO`` entries of at most ``MAX_MEMO_SEGMENT`` characters; rejections are memoized too
    (as their reason), so hostile headers cost one parse each until the memo is flushed.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[bool, str]] = {}
        self._lock = threading.Lock()

    def kid(self, segment: str) -> str:
        found = self._entries.get(segment)
        if found is None:
            try:
                found = (True, _checked_header(segment))
            except TokenRejected as rejected:
                found = (False, rejected.reason)
            if len(segment) <= MAX_MEMO_SEGMENT:
                with self._lock:
                    if len(self._entries) >= MAX_HEADER_MEMO:
                        self._entries.clear()
                    self._entries[segment] = found
        ok, value = found
        if not ok:
            raise TokenRejected(value)
        return value


_HEADERS = _HeaderMemo()


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
        # Each segment is decoded and its JSON read once; the claims are not trusted until the signature below
        # has been checked over exactly these bytes with the tenant's key.
        head, body, signature_segment = token.split(".")
        kid = _HEADERS.kid(head)
        unverified = _json_object(_segment(body))
        signature = _segment(signature_segment)
        tenant_id = unverified.get("tenantid")
        if not is_tenant_id(tenant_id):
            raise TokenRejected("kid or tenantid")
        assert isinstance(tenant_id, str)
        # The claims' own rules first, on the still unverified claims: a token that could never pass (expired,
        # another issuer or audience, a missing claim) costs no directory read. Passing them proves nothing yet;
        # acceptance still needs the signature over exactly these bytes, below.
        now = self._clock.now()
        self._check_claims(unverified, audiences, issuer(self._issuer_base, tenant_id))
        self._check_times(unverified, now)
        tenant, keys = self._directory.tenant_with_keys(tenant_id)
        if tenant is None or not tenant.is_active:
            raise TokenRejected("tenant not active")
        key = honoured_key(keys, kid, now)
        if key is None:
            raise TokenRejected("key not valid")
        # RS256 (RFC 7518 §3.3): RSASSA-PKCS1-v1_5 with SHA-256 over "header.payload", nothing else.
        try:
            self._public_key(key).verify(signature, f"{head}.{body}".encode("ascii"), _PKCS1V15, _SHA256)
        except InvalidSignature as exc:
            raise TokenRejected("signature") from exc
        claims = unverified  # verified now: the signature covers exactly the bytes they were parsed from
        if required_scope is not None and required_scope not in str(claims.get("scope", "")).split():
            raise TokenRejected("scope")
        app, user = self._current_principal(claims, tenant_id)
        return VerifiedToken(claims, tenant, kid, app, user)

    @staticmethod
    def _check_claims(claims: dict[str, Any], audiences: Collection[str], expected_issuer: str) -> None:
        """Required claims present (not null), ``iss`` pinned, exactly one ``aud`` among ``audiences``, and
        ``sub``/``jti`` strings (what PyJWT's ``decode`` checked, stated here explicitly)."""
        if any(claims.get(name) is None for name in REQUIRED_CLAIMS):
            raise TokenRejected("missing claim")
        if claims["iss"] != expected_issuer:
            raise TokenRejected("issuer")
        audience = claims["aud"]
        if not isinstance(audience, str):
            raise TokenRejected("aud must be a single audience")
        if audience not in audiences:
            raise TokenRejected("audience")
        if not isinstance(claims["sub"], str) or not isinstance(claims["jti"], str):
            raise TokenRejected("sub and jti must be strings")

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
