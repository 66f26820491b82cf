"""Signing access tokens (SPEC §4): RS256 with the tenant's one ``active`` key, ``kid`` in the header.

The private key comes from the warm ``UnsealedKeyCache``: a warm container signs with zero KMS calls.
"""

from __future__ import annotations

from typing import Any

import jwt

from wiresocket.domain.errors import KeyUnavailable
from wiresocket.domain.keys import SigningKey, select_active
from wiresocket.services.sealing import UnsealedKeyCache

ALGORITHM = "RS256"
TOKEN_TYPE = "JWT"  # noqa: S105 - the JOSE "typ" header value


class TokenSigner:
    """Signs claims with a tenant's active key."""

    def __init__(self, keys: UnsealedKeyCache) -> None:
        self._keys = keys

    def sign(self, claims: dict[str, Any], tenant_keys: list[SigningKey]) -> str:
        """A compact JWS of ``claims`` under the tenant's active key (from ``tenant_keys``, just read).

        ``KeyUnavailable`` when the tenant has no single active key; ``DependencyUnavailable`` when KMS is
        needed (cold cache) and down.
        """
        key = select_active(tenant_keys)
        if key is None or key.sealed is None:
            raise KeyUnavailable("the tenant has no active signing key")
        private = self._keys.private_key(key)
        return jwt.encode(claims, private, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": TOKEN_TYPE})

    def sign_payload(self, payload: bytes, tenant_keys: list[SigningKey]) -> str:
        """``sign`` for claims already serialised as compact JSON (``wiresocket.domain.claims``): PyJWT's JWS
        layer signs them as they are, without re-copying and re-serialising a claims dict per token."""
        key = select_active(tenant_keys)
        if key is None or key.sealed is None:
            raise KeyUnavailable("the tenant has no active signing key")
        private = self._keys.private_key(key)
        return _JWS.encode(payload, private, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": TOKEN_TYPE})


_JWS = jwt.PyJWS()
