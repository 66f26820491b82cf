"""Signing access tokens (SPEC §4): RS256 with the tenant's one ``active`` key, ``kid`` in the header.

The private key comes from the warm ``UnsealedKeyCache``: a warm container signs with zero KMS calls.

Every token goes through ``sign_payload`` (``sign`` serialises a claims dict first, exactly as
``jwt.encode`` does), which assembles the compact JWS itself around cryptography's RSASSA-PKCS1-v1_5 with
SHA-256 — the very call PyJWT's ``RSAAlgorithm.sign`` makes: the protected header is the same for every token
of a key, so its base64url segment is built once per ``kid`` (exactly as ``PyJWS.encode`` builds it: sorted
keys, compact separators) instead of per token (≈ 5 µs a token), and the token function's cold start does not
import PyJWT at all (≈ 55 ms with the X.509 modules it pulls in). The RSA math, padding and hash stay in
cryptography; what is ours is joining three base64url segments with dots (RFC 7515 §7.1), and
tests/unit/test_signing.py proves the result byte-identical to ``PyJWS.encode`` (RS256 signatures are
deterministic) and verifiable by ``jwt.decode``.
"""

from __future__ import annotations

import base64
import json
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from wiresocket.domain.errors import KeyUnavailable
from wiresocket.domain.keys import SigningKey, select_active

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.hashes import SHA256

    from wiresocket.services.sealing import UnsealedKeyCache

ALGORITHM = "RS256"
TOKEN_TYPE = "JWT"  # noqa: S105 - the JOSE "typ" header value


class TokenSigner:
    """Signs claims with a tenant's active key."""

    def __init__(self, keys: UnsealedKeyCache) -> None:
        self._keys = keys

    def sign(self, claims: dict[str, Any], tenant_keys: list[SigningKey]) -> str:
        """A compact JWS of ``claims`` under the tenant's active key (from ``tenant_keys``, just read): the claims
        serialised as ``jwt.encode`` serialises them (compact JSON), then ``sign_payload``.

        ``KeyUnavailable`` when the tenant has no single active key; ``DependencyUnavailable`` when KMS is
        needed (cold cache) and down.
        """
        return self.sign_payload(json.dumps(claims, separators=(",", ":")).encode(), tenant_keys)

    def prefetch(self, tenant_keys: list[SigningKey]) -> None:
        """Start loading the tenant's active private key in the background (see ``UnsealedKeyCache.prefetch``),
        so that a cold cache's KMS unwrap overlaps the caller's next read."""
        key = select_active(tenant_keys)
        if key is not None:
            self._keys.prefetch(key)

    def sign_payload(self, payload: bytes, tenant_keys: list[SigningKey]) -> str:
        """``sign`` for claims already serialised as compact JSON (``wiresocket.domain.claims``), signed as they
        are, without re-copying and re-serialising a claims dict per token."""
        key = select_active(tenant_keys)
        if key is None or key.sealed is None:
            raise KeyUnavailable("the tenant has no active signing key")
        private = self._keys.private_key(key)
        return compact_rs256(payload, private, key.kid)


@cache
def _rs256() -> tuple[PKCS1v15, SHA256]:
    """RS256's padding and hash (built once; cryptography is imported on first use: see services/sealing.py)."""
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from cryptography.hazmat.primitives.hashes import SHA256

    return PKCS1v15(), SHA256()


def base64url_encode(data: bytes) -> bytes:
    """Base64url without padding (RFC 7515 §2), as ``jwt.utils.base64url_encode``."""
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@lru_cache(maxsize=1024)
def header_segment(kid: str) -> bytes:
    """The base64url protected header of a token signed by ``kid``, as ``PyJWS.encode`` serialises it."""
    header = {"alg": ALGORITHM, "kid": kid, "typ": TOKEN_TYPE}
    return base64url_encode(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())


def compact_rs256(payload: bytes, private: RSAPrivateKey, kid: str) -> str:
    """The compact JWS (RFC 7515 §7.1) of ``payload`` signed RS256 by ``private`` under ``kid``."""
    signing_input = header_segment(kid) + b"." + base64url_encode(payload)
    signature = private.sign(signing_input, *_rs256())
    return (signing_input + b"." + base64url_encode(signature)).decode("ascii")
