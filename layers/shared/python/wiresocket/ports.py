"""Ports: the interfaces services depend on, with domain types in their signatures.

Adapters (``adapters/``) implement them over boto3/pynamodb; ``tests/fakes`` implement them in memory with
the same semantics (conditions included), so services are tested against both.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:  # signatures only: importing ports must not build every domain type (cold starts)
    from wiresocket.domain.apps import App
    from wiresocket.domain.audit import AuditEvent
    from wiresocket.domain.clients import ClientRef, DashboardClient
    from wiresocket.domain.keys import KeyState, SigningKey
    from wiresocket.domain.plans import Plan
    from wiresocket.domain.refresh import RefreshFamily, RefreshToken
    from wiresocket.domain.tenants import Tenant, TenantStatus
    from wiresocket.domain.users import User

# --- Time ---------------------------------------------------------------------------------------------------


class Clock(Protocol):
    """Wall-clock time in epoch seconds."""

    def now(self) -> float:
        """The current time."""
        ...


# --- KMS ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataKey:
    """A fresh data key: use ``plaintext`` once, store only ``wrapped`` and ``master_key_id``."""

    plaintext: bytes
    wrapped: bytes
    master_key_id: str


class KeyWrapper(Protocol):
    """The master key service (KMS). Every call is bound to an encryption context."""

    def generate_data_key(self, context: Mapping[str, str]) -> DataKey:
        """A fresh 256-bit data key wrapped under the current master key."""
        ...

    def unwrap(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        """The plaintext data key. Raises ``IntegrityError`` if ``context`` does not match."""
        ...

    def rewrap(self, wrapped: bytes, context: Mapping[str, str], target_master_key: str) -> tuple[bytes, str]:
        """Re-encrypt a wrapped data key under ``target_master_key``; returns (wrapped, new version tag)."""
        ...

    def resolve(self, master_key: str) -> str:
        """The version tag (key ARN) that ``master_key`` (an alias, id or ARN) names now."""
        ...


# --- Directory writes: one list of these is committed atomically ----------------------------------------


@dataclass(frozen=True)
class PutTenant:
    """Create a tenant; fails if it exists."""

    tenant: Tenant


@dataclass(frozen=True)
class ReplaceTenant:
    """Overwrite a tenant, only if its stored status is still ``expected_status``."""

    tenant: Tenant
    expected_status: str


@dataclass(frozen=True)
class PutKey:
    """Create a signing key; fails if (tenant, kid) exists."""

    key: SigningKey


@dataclass(frozen=True)
class ReplaceKey:
    """Overwrite a signing key, only if the stored one is still in ``expected_state`` (and, when given,
    still wrapped under ``expected_master_key_id``): a compare-and-set."""

    key: SigningKey
    expected_state: KeyState
    expected_master_key_id: str | None = None


@dataclass(frozen=True)
class RecordAudit:
    """Append an audit event to the outbox (pending publication)."""

    event: AuditEvent


@dataclass(frozen=True)
class Lease:
    """A held distributed lock: who holds it, until when, and its fencing token."""

    name: str
    owner: str
    expires_at: float
    fence: int


@dataclass(frozen=True)
class CheckLease:
    """Commit only if ``lease`` is still held by its owner with the same fence (fencing)."""

    lease: Lease


# --- Directory writes of apps, users, plans, clients and refresh tokens (issue 3) --------------------------


@dataclass(frozen=True)
class PutPlan:
    """Create a plan; fails if it exists."""

    plan: Plan


@dataclass(frozen=True)
class PutApp:
    """Create an app together with its ``client_id`` registration and its per-tenant name claim; fails if
    any of the three exists (client ids are globally unique, names unique per tenant)."""

    app: App


@dataclass(frozen=True)
class ReplaceApp:
    """Overwrite an app, only if it still exists with credential generation ``expected_generation``."""

    app: App
    expected_generation: int


@dataclass(frozen=True)
class PutUser:
    """Create a user together with its global username registration; fails if either exists."""

    user: User


@dataclass(frozen=True)
class PutDashboardClient:
    """Register a trusted dashboard client (in the platform tenant) and its ``client_id``; fails if taken."""

    client: DashboardClient


@dataclass(frozen=True)
class PutRefreshFamily:
    """Start a refresh-token family; fails if it exists."""

    family: RefreshFamily


@dataclass(frozen=True)
class CheckRefreshFamilyActive:
    """Commit only if the family still exists and is ``active``."""

    family_id: str


@dataclass(frozen=True)
class RevokeRefreshFamily:
    """Store ``family`` (revoked), only if the stored one is still ``active``."""

    family: RefreshFamily


@dataclass(frozen=True)
class PutRefreshToken:
    """Store a new refresh token (by hash); fails if the hash exists."""

    token: RefreshToken


@dataclass(frozen=True)
class ConsumeRefreshToken:
    """Store ``token`` (used), only if the stored one is still ``active``: exactly one rotation wins."""

    token: RefreshToken


@dataclass(frozen=True)
class PutSecretPepper:
    """Store the wrapped client-secret hashing key; fails if one exists (first writer wins)."""

    wrapped: bytes
    master_key_id: str


# --- Directory writes of the admin API (issue 4) -------------------------------------------------------------


@dataclass(frozen=True)
class ReplaceUser:
    """Overwrite a user (status changes), only if it still exists with status ``expected_status``."""

    user: User
    expected_status: str


@dataclass(frozen=True)
class ClaimFreePlan:
    """Claim the tenant's one Free-plan slot for ``app_id``: fails if another app holds it (idempotent for the
    holder). Committed with the plan change, so "one Free-plan app per tenant" holds under concurrency."""

    tenant_id: str
    app_id: str


@dataclass(frozen=True)
class ReleaseFreePlan:
    """Give the tenant's Free-plan slot back; fails only if *another* app holds it."""

    tenant_id: str
    app_id: str


@dataclass(frozen=True)
class DeleteApp:
    """Delete an app with its ``client_id`` registration and its name claim, only if the app still exists with
    credential generation ``expected_generation``."""

    app: App
    expected_generation: int


@dataclass(frozen=True)
class ReplaceSecretPepper:
    """Store the re-wrapped pepper, only if it is still wrapped under ``expected_master_key_id`` (CAS)."""

    wrapped: bytes
    master_key_id: str
    expected_master_key_id: str


Write = (
    PutTenant
    | ReplaceTenant
    | PutKey
    | ReplaceKey
    | RecordAudit
    | CheckLease
    | PutPlan
    | PutApp
    | ReplaceApp
    | PutUser
    | PutDashboardClient
    | PutRefreshFamily
    | CheckRefreshFamilyActive
    | RevokeRefreshFamily
    | PutRefreshToken
    | ConsumeRefreshToken
    | PutSecretPepper
    | ReplaceUser
    | ClaimFreePlan
    | ReleaseFreePlan
    | DeleteApp
    | ReplaceSecretPepper
)


class Directory(Protocol):
    """The directory: tenants and their keys. Reads are strongly consistent."""

    def tenant_with_keys(self, tenant_id: str) -> tuple[Tenant | None, list[SigningKey]]:
        """The tenant and all its keys, in one read."""
        ...

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        """The tenant, or None."""
        ...

    def all_keys(self) -> Iterator[SigningKey]:
        """Every signing key of every tenant (maintenance: master-key re-wrap)."""
        ...

    def commit(self, writes: Sequence[Write]) -> None:
        """Apply ``writes`` atomically. Raises ``Conflict`` (nothing applied) if any condition fails,
        ``LeaseLost`` if a ``CheckLease`` fails, ``DependencyUnavailable`` if the store is down."""
        ...


class IdentityDirectory(Directory, Protocol):
    """The directory as the token service reads it: clients, apps, plans, users and refresh tokens too.

    Every read is strongly consistent (current security state, SPEC §7).
    """

    def client(self, client_id: str) -> ClientRef | None:
        """Where ``client_id`` is registered, or None."""
        ...

    def app(self, tenant_id: str, app_id: str) -> App | None:
        """The app, or None."""
        ...

    def plan(self, plan_id: str) -> Plan | None:
        """The plan, or None."""
        ...

    def user(self, tenant_id: str, user_id: str) -> User | None:
        """The user, or None."""
        ...

    def user_by_username(self, username: str) -> User | None:
        """The user registered under ``username`` (already normalised), or None."""
        ...

    def dashboard_client(self, client_id: str) -> DashboardClient | None:
        """The trusted dashboard client with this id, or None."""
        ...

    def refresh_token(self, token_hash: str) -> RefreshToken | None:
        """The refresh token with this hash, or None."""
        ...

    def refresh_family(self, family_id: str) -> RefreshFamily | None:
        """The refresh-token family, or None."""
        ...

    def secret_pepper(self) -> tuple[bytes, str] | None:
        """The wrapped client-secret hashing key and its master-key version tag, or None."""
        ...


class LockStore(Protocol):
    """Lease locks with fencing, taken by conditional write."""

    def try_acquire(self, name: str, owner: str, lease_seconds: float, now: float) -> Lease | None:
        """Take the lock if free or expired; the fence increases on every acquisition. None if held."""
        ...

    def release(self, lease: Lease) -> bool:
        """Release, only if still held by ``lease.owner`` with ``lease.fence``. False otherwise."""
        ...


# --- Audit outbox and bus -------------------------------------------------------------------------------------


class Outbox(Protocol):
    """Audit events recorded with their change and not yet put on the bus."""

    def pending(self, limit: int) -> list[AuditEvent]:
        """Up to ``limit`` unpublished events, oldest first."""
        ...

    def mark_published(self, events: Sequence[AuditEvent], now: float) -> None:
        """Record that ``events`` are on the bus (idempotent)."""
        ...


class EventBus(Protocol):
    """The audit bus."""

    def put(self, events: Sequence[AuditEvent]) -> set[str]:
        """Put ``events``; returns the ids of those that were *not* accepted. Raises on total failure."""
        ...


# --- Admin API reads (issue 4) ------------------------------------------------------------------------------

PageStart = Mapping[str, str]
"""Where a listing resumes: the (string) key attributes of the last item of the previous page. Adapters refuse
(``InvalidInput``) a start key that does not belong to the partition being listed."""

_T = TypeVar("_T")


@dataclass(frozen=True)
class Listing(Generic[_T]):
    """One page of a directory listing; ``next_start`` is None on the last page."""

    items: list[_T]
    next_start: dict[str, str] | None = None


@runtime_checkable
class PepperStore(Protocol):
    """Where the wrapped client-secret pepper lives (the directory)."""

    def secret_pepper(self) -> tuple[bytes, str] | None:
        """The wrapped pepper and its master-key version tag, or None."""
        ...

    def commit(self, writes: Sequence[Write]) -> None:
        """Apply ``writes`` atomically."""
        ...


class AdminDirectory(IdentityDirectory, Protocol):
    """The directory as the admin API and the key maintenance job read it: listings, newest audit first."""

    def list_tenants(self, status: TenantStatus | None, limit: int, start: PageStart | None) -> Listing[Tenant]:
        """Tenants (of ``status`` when given), in status then creation order. Eventually consistent."""
        ...

    def list_apps(self, tenant_id: str, limit: int, start: PageStart | None) -> Listing[App]:
        """The tenant's apps."""
        ...

    def list_users(self, tenant_id: str, limit: int, start: PageStart | None) -> Listing[User]:
        """The tenant's users."""
        ...

    def list_plans(self) -> list[Plan]:
        """Every plan (there are few)."""
        ...

    def list_audit(self, tenant_id: str | None, limit: int, start: PageStart | None) -> Listing[AuditEvent]:
        """Audit events newest first: the tenant's (``tenant_id``), or every event (None)."""
        ...

    def free_plan_holder(self, tenant_id: str) -> str | None:
        """The app id holding the tenant's Free-plan slot, or None."""
        ...


class MasterKeyManager(Protocol):
    """The KMS master key behind the configured alias: which key it is, and moving it (SPEC §5)."""

    def current(self) -> str:
        """The ARN of the key the configured alias names now."""
        ...

    def describe(self, key_ref: str) -> str:
        """The ARN of ``key_ref`` if it is a usable master key; ``InvalidInput`` if unknown or unusable."""
        ...

    def point_alias(self, key_arn: str) -> None:
        """Point the configured alias at ``key_arn``: new data keys are generated under it from now on."""
        ...
