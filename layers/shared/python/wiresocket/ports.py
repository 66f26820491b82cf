"""Ports: the interfaces services depend on, with domain types in their signatures.

Adapters (``adapters/``) implement them over boto3/pynamodb; ``tests/fakes`` implement them in memory with
the same semantics (conditions included), so services are tested against both.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from wiresocket.domain.audit import AuditEvent
from wiresocket.domain.keys import KeyState, SigningKey
from wiresocket.domain.tenants import Tenant

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


Write = PutTenant | ReplaceTenant | PutKey | ReplaceKey | RecordAudit | CheckLease


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
