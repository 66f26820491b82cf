"""Tenants (SPEC §6): the top-level container, with its lifecycle status."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TenantStatus(StrEnum):
    """pending (signed up, awaiting approval) → active ⇄ suspended."""

    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"


@dataclass(frozen=True)
class Tenant:
    """A tenant as stored in the directory."""

    tenant_id: str
    name: str
    status: TenantStatus
    created_at: int
    updated_at: int

    @property
    def is_active(self) -> bool:
        """Only active tenants get tokens, JWKS and connections."""
        return self.status is TenantStatus.ACTIVE
