"""Tenant signing keys and their lifecycle (SPEC §5).

``next`` (published, not signing) → ``active`` (signs) → ``retiring`` (published and verifying until
``retire_after``) → ``retired`` (gone); or → ``revoked`` at any time (gone at once, everywhere).

The functions here only *plan* state changes; services commit them atomically through the directory port.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import StrEnum


class KeyState(StrEnum):
    """Where a signing key is in its lifecycle."""

    NEXT = "next"
    ACTIVE = "active"
    RETIRING = "retiring"
    RETIRED = "retired"
    REVOKED = "revoked"


LIVE_STATES = frozenset({KeyState.NEXT, KeyState.ACTIVE, KeyState.RETIRING})
"""States in which a key still holds (encrypted) private material and may appear in the JWKS."""


@dataclass(frozen=True)
class EncryptedPrivateKey:
    """A private key sealed under envelope encryption (SPEC §5).

    ``wrapped_data_key`` is the KMS-encrypted 256-bit data key; ``ciphertext`` is AES-256-GCM over the DER
    PKCS#8 private key with ``nonce`` and the ``{tenantId, kid}`` AAD; ``master_key_id`` is the version tag:
    the ARN of the KMS key that wrapped the data key.
    """

    wrapped_data_key: bytes
    nonce: bytes
    ciphertext: bytes
    master_key_id: str


@dataclass(frozen=True)
class SigningKey:
    """One RSA-2048 signing key of one tenant. Holds only public material in the clear."""

    tenant_id: str
    kid: str
    state: KeyState
    created_at: int
    public_n: str
    public_e: str
    sealed: EncryptedPrivateKey | None
    activated_at: int | None = None
    retire_after: int | None = None
    ended_at: int | None = None

    def is_published(self, now: float) -> bool:
        """Whether the key belongs in the JWKS (and may verify tokens) at ``now``."""
        if self.state in (KeyState.NEXT, KeyState.ACTIVE):
            return True
        return self.state is KeyState.RETIRING and self.retire_after is not None and now < self.retire_after

    def public_jwk(self) -> dict[str, str]:
        """The key as a public JWK (RFC 7517) for the JWKS."""
        return {
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
            "n": self.public_n,
            "e": self.public_e,
        }

    def activated(self, now: int) -> SigningKey:
        """This ``next`` key, now signing."""
        return replace(self, state=KeyState.ACTIVE, activated_at=now)

    def retiring(self, now: int, grace_seconds: int) -> SigningKey:
        """This ``active`` key, no longer signing but verifying until ``now + grace``."""
        return replace(self, state=KeyState.RETIRING, retire_after=now + grace_seconds)

    def ended(self, state: KeyState, now: int) -> SigningKey:
        """This key retired or revoked: its private material is dropped from storage."""
        if state not in (KeyState.RETIRED, KeyState.REVOKED):
            raise ValueError(f"not an end state: {state}")
        return replace(self, state=state, ended_at=now, sealed=None)


def encryption_context(tenant_id: str, kid: str) -> dict[str, str]:
    """The KMS EncryptionContext that binds a data key to one tenant's one key."""
    return {"tenantId": tenant_id, "kid": kid}


def aad(tenant_id: str, kid: str) -> bytes:
    """The AES-GCM associated data: the same binding as the KMS context, canonically serialised."""
    return json.dumps(encryption_context(tenant_id, kid), sort_keys=True, separators=(",", ":")).encode()


def select_active(keys: list[SigningKey]) -> SigningKey | None:
    """The tenant's one active key, or None."""
    active = [k for k in keys if k.state is KeyState.ACTIVE]
    return active[0] if len(active) == 1 else None


def honoured_key(keys: list[SigningKey], kid: str, now: float) -> SigningKey | None:
    """The key ``kid`` if tokens it signed are still honoured — published, and not the pre-published ``next``
    (which signs nothing yet); else None. The one rule for every verifier and the data plane's re-checks."""
    key = next((k for k in keys if k.kid == kid), None)
    if key is None or key.state is KeyState.NEXT or not key.is_published(now):
        return None
    return key


def minimum_grace_seconds(token_ttl_seconds: int, jwks_max_age_seconds: int) -> int:
    """A retiring key must verify for at least one token lifetime plus one JWKS cache lifetime (SPEC §5)."""
    return token_ttl_seconds + jwks_max_age_seconds
