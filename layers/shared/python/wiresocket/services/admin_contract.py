"""The admin use cases as one interface: what ``functions/admin`` calls, what ``services/admin.py`` provides.

The HTTP surface is in ``docs/admin-api.md``; this is the same contract one layer down. Every method takes
the acting principal and, for tenant routes, the tenant id *from the verified token*; it authorises nothing
itself beyond tenant scoping (roles are checked at the edge), re-reads current state, and commits each change
with its audit events in one transaction. Errors: ``InvalidInput`` (422), ``NotFound`` (404, also for
another tenant's ids), ``Conflict`` (409), ``DependencyUnavailable`` (503).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from wiresocket.domain.apps import App
from wiresocket.domain.audit import Actor, AuditEvent
from wiresocket.domain.keys import SigningKey
from wiresocket.domain.plans import Plan, PlanLimits
from wiresocket.domain.tenants import Tenant, TenantStatus
from wiresocket.domain.users import User, UserRole
from wiresocket.services.keyvault import Revocation, RewrapReport, Rotation

T = TypeVar("T")

MAX_PAGE = 100
DEFAULT_PAGE = 25


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; ``next_cursor`` is opaque (None on the last page)."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class CreatedApp:
    """A new app and its secret: the only time the secret exists outside the caller's hands."""

    app: App
    client_secret: str


@dataclass(frozen=True)
class MasterKeyStatus:
    """Which master key is current, and how many stored data keys each master key still wraps."""

    current_master_key_id: str
    keys_by_master_key: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TerminationScope:
    """Whose live sessions to end: a whole tenant, or one app or one user of it."""

    tenant_id: str
    app_id: str | None = None
    user_id: str | None = None


class SessionTerminator(Protocol):
    """Ends live data-plane sessions (SPEC §8): ``services.sessions.SessionTerminationService`` in production.
    Returns how many sessions were closed."""

    def terminate(self, scope: TerminationScope, reason: str, actor: Actor) -> int:
        """Close every live connection in ``scope`` in every region."""
        ...


class AdminOperations(Protocol):
    """Everything the admin and platform API can do."""

    # --- public -------------------------------------------------------------------------------------------
    def signup(self, tenant_name: str, owner_username: str, owner_password: str) -> tuple[Tenant, User]:
        """A ``pending`` tenant and its owner (TenantCreated, UserCreated)."""
        ...

    # --- platform -----------------------------------------------------------------------------------------
    def list_tenants(self, status: TenantStatus | None, limit: int, cursor: str | None) -> Page[Tenant]: ...
    def get_tenant(self, tenant_id: str) -> Tenant: ...
    def approve_tenant(self, tenant_id: str, actor: Actor) -> Tenant: ...
    def suspend_tenant(self, tenant_id: str, actor: Actor, reason: str) -> Tenant: ...
    def reactivate_tenant(self, tenant_id: str, actor: Actor) -> Tenant: ...
    def list_plans(self, include_retired: bool) -> list[Plan]: ...
    def create_plan(self, name: str, free: bool, limits: PlanLimits, actor: Actor) -> Plan: ...
    def rotate_master_key(self, actor: Actor, target_key_id: str | None) -> RewrapReport: ...
    def master_key_status(self) -> MasterKeyStatus: ...
    def list_audit(self, tenant_id: str | None, limit: int, cursor: str | None) -> Page[AuditEvent]:
        """``tenant_id`` None: every event (platform); else that tenant's. Newest first."""
        ...

    # --- tenant -------------------------------------------------------------------------------------------
    def list_users(self, tenant_id: str, limit: int, cursor: str | None) -> Page[User]: ...
    def invite_user(self, tenant_id: str, username: str, password: str, role: UserRole, actor: Actor) -> User: ...
    def set_user_status(self, tenant_id: str, user_id: str, enabled: bool, actor: Actor) -> User: ...
    def list_apps(self, tenant_id: str, limit: int, cursor: str | None) -> Page[App]: ...
    def get_app(self, tenant_id: str, app_id: str) -> App: ...
    def create_app(
        self,
        tenant_id: str,
        name: str,
        license_region: str,
        allowed_domains: list[str],
        plan_id: str,
        actor: Actor,
    ) -> CreatedApp: ...
    def regenerate_app_secret(self, tenant_id: str, app_id: str, actor: Actor) -> CreatedApp: ...
    def set_app_domains(self, tenant_id: str, app_id: str, allowed_domains: list[str], actor: Actor) -> App: ...
    def set_app_plan(self, tenant_id: str, app_id: str, plan_id: str, actor: Actor) -> App: ...
    def set_app_status(self, tenant_id: str, app_id: str, enabled: bool, actor: Actor) -> App: ...
    def delete_app(self, tenant_id: str, app_id: str, actor: Actor) -> None: ...
    def list_keys(self, tenant_id: str) -> list[SigningKey]: ...
    def rotate_keys(self, tenant_id: str, actor: Actor) -> Rotation: ...
    def revoke_keys(self, tenant_id: str, actor: Actor, reason: str) -> Revocation: ...
