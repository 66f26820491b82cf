"""OAuth clients: the global ``client_id`` registry that maps a client to a tenant's app or to the trusted
dashboard client of the platform (SPEC §2)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ClientKind(StrEnum):
    """What a ``client_id`` names."""

    APP = "app"
    DASHBOARD = "dashboard"


@dataclass(frozen=True)
class ClientRef:
    """Where a client lives: ``(tenant_id, app_id)`` for an app; the platform tenant for the dashboard."""

    client_id: str
    kind: ClientKind
    tenant_id: str
    app_id: str | None = None


@dataclass(frozen=True)
class DashboardClient:
    """A platform-registered, trusted client that may use the password grant on behalf of humans."""

    client_id: str
    name: str
    secret_hash: str
    trusted: bool
    enabled: bool
    credential_generation: int
    created_at: int
