"""Tenant lifecycle (SPEC §6): create (pending), approve (pending → active, with its first keys), suspend
(active → suspended) and reactivate (suspended → active)."""

from __future__ import annotations

from dataclasses import replace

from wiresocket.domain.audit import Actor, AuditEvent, DetailType
from wiresocket.domain.errors import Conflict, InvalidInput, NotFound
from wiresocket.domain.ids import new_tenant_id, validate_tenant_id
from wiresocket.domain.tenants import Tenant, TenantStatus
from wiresocket.names import PLATFORM_TENANT_ID
from wiresocket.ports import CheckLease, Clock, Directory, PutTenant, RecordAudit, ReplaceTenant, Write
from wiresocket.services.keyvault import KeyVault, tenant_keys_lock
from wiresocket.services.locks import LockManager

MAX_NAME = 128


class TenantService:
    """Creates and approves tenants; approval and key generation commit together."""

    def __init__(self, directory: Directory, vault: KeyVault, locks: LockManager, clock: Clock, *, region: str) -> None:
        self._directory = directory
        self._vault = vault
        self._locks = locks
        self._clock = clock
        self._region = region

    def _audit(self, detail_type: DetailType, actor: Actor, tenant_id: str, **data: object) -> RecordAudit:
        return RecordAudit(
            AuditEvent(
                detail_type=detail_type,
                actor=actor,
                region=self._region,
                occurred_at=self._clock.now(),
                tenant_id=tenant_id,
                data=data,
            )
        )

    def new_tenant(self, name: str, tenant_id: str | None = None) -> Tenant:
        """A validated ``pending`` tenant, not yet stored (for composing with other writes, e.g. signup)."""
        clean = name.strip()
        if not clean or len(clean) > MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in clean):
            raise InvalidInput(f"tenant name must be 1-{MAX_NAME} printable characters")
        now = int(self._clock.now())
        return Tenant(
            tenant_id=validate_tenant_id(tenant_id) if tenant_id else new_tenant_id(),
            name=clean,
            status=TenantStatus.PENDING,
            created_at=now,
            updated_at=now,
        )

    def created_event(self, tenant: Tenant, actor: Actor) -> RecordAudit:
        """The ``TenantCreated`` audit write of ``tenant``."""
        return self._audit(DetailType.TENANT_CREATED, actor, tenant.tenant_id, name=tenant.name)

    def create(self, name: str, actor: Actor, tenant_id: str | None = None) -> Tenant:
        """A new ``pending`` tenant."""
        tenant = self.new_tenant(name, tenant_id)
        self._directory.commit([PutTenant(tenant), self.created_event(tenant, actor)])
        return tenant

    def approve(self, tenant_id: str, actor: Actor) -> Tenant:
        """pending → active; generates the first ``active`` and ``next`` keys in the same transaction."""
        validate_tenant_id(tenant_id)
        with self._locks.hold(tenant_keys_lock(tenant_id)) as lease:
            tenant = self._directory.get_tenant(tenant_id)
            if tenant is None:
                raise NotFound("no such tenant")
            if tenant.status is not TenantStatus.PENDING:
                raise Conflict(f"tenant is {tenant.status.value}, not pending")
            active = replace(tenant, status=TenantStatus.ACTIVE, updated_at=int(self._clock.now()))
            _, key_writes = self._vault.initial_key_writes(tenant_id, actor)
            writes: list[Write] = [
                CheckLease(lease),
                ReplaceTenant(active, expected_status=TenantStatus.PENDING.value),
                self._audit(
                    DetailType.TENANT_STATUS_CHANGED,
                    actor,
                    tenant_id,
                    previousStatus="pending",
                    status="active",
                ),
                *key_writes,
            ]
            self._directory.commit(writes)
            return active

    def suspend(self, tenant_id: str, actor: Actor, reason: str) -> Tenant:
        """active → suspended (a compare-and-set on the status). The platform tenant is never suspended: it
        holds the operators who would have to undo it."""
        if validate_tenant_id(tenant_id) == PLATFORM_TENANT_ID:
            raise Conflict("the platform tenant cannot be suspended")
        return self._move(tenant_id, TenantStatus.ACTIVE, TenantStatus.SUSPENDED, actor, reason=reason)

    def reactivate(self, tenant_id: str, actor: Actor) -> Tenant:
        """suspended → active."""
        return self._move(validate_tenant_id(tenant_id), TenantStatus.SUSPENDED, TenantStatus.ACTIVE, actor)

    def _move(self, tenant_id: str, source: TenantStatus, target: TenantStatus, actor: Actor, **data: object) -> Tenant:
        tenant = self._directory.get_tenant(tenant_id)
        if tenant is None:
            raise NotFound("no such tenant")
        if tenant.status is not source:
            raise Conflict(f"tenant is {tenant.status.value}, not {source.value}")
        moved = replace(tenant, status=target, updated_at=int(self._clock.now()))
        try:
            self._directory.commit(
                [
                    ReplaceTenant(moved, expected_status=source.value),
                    self._audit(
                        DetailType.TENANT_STATUS_CHANGED,
                        actor,
                        tenant_id,
                        previousStatus=source.value,
                        status=target.value,
                        **data,
                    ),
                ]
            )
        except Conflict as exc:
            raise Conflict("the tenant's status changed concurrently; try again") from exc
        return moved
