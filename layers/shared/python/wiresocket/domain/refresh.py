"""Refresh tokens and their families (SPEC §3).

A refresh token is opaque and random; only its SHA-256 hash is stored (a high-entropy value needs no slow
hash). Every use rotates it: the presented token is marked ``used`` and a new one joins the same family. A
used token presented again means it was stolen or replayed: the whole family is revoked. A family records
the credential generation of its app (or dashboard client) and dies when that moves on.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from enum import StrEnum


class RefreshStatus(StrEnum):
    """``active`` (may be used once) → ``used``."""

    ACTIVE = "active"
    USED = "used"


class FamilyStatus(StrEnum):
    """``active`` → ``revoked`` (reuse detected, revoked by the client, or killed)."""

    ACTIVE = "active"
    REVOKED = "revoked"


class SubjectKind(StrEnum):
    """Who a family belongs to."""

    APP = "app"
    USER = "user"


@dataclass(frozen=True)
class RefreshFamily:
    """One chain of rotated refresh tokens, born from one client_credentials or password grant."""

    family_id: str
    tenant_id: str
    subject_kind: SubjectKind
    subject_id: str  # app id or user id
    client_id: str
    scope: str
    credential_generation: int
    status: FamilyStatus
    created_at: int
    expires_at: int  # absolute end of the family, whatever the rotations
    revoked_at: int | None = None
    revoked_reason: str | None = None

    @property
    def is_active(self) -> bool:
        """Not revoked (expiry is checked against a clock by the caller)."""
        return self.status is FamilyStatus.ACTIVE

    def revoked(self, now: int, reason: str) -> RefreshFamily:
        """This family, revoked."""
        return replace(self, status=FamilyStatus.REVOKED, revoked_at=now, revoked_reason=reason)


@dataclass(frozen=True)
class RefreshToken:
    """One refresh token, known by its hash."""

    token_hash: str
    family_id: str
    tenant_id: str
    client_id: str
    status: RefreshStatus
    issued_at: int
    expires_at: int
    used_at: int | None = None

    def used(self, now: int) -> RefreshToken:
        """This token, consumed."""
        return replace(self, status=RefreshStatus.USED, used_at=now)


def new_family_id() -> str:
    """A fresh family id."""
    return secrets.token_urlsafe(18)
