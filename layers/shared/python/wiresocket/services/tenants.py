"""Tenant lifecycle (SPEC §6): create (pending), approve (pending → active, with its first keys)."""

from __future__ import annotations

from dataclasses import replace

from wiresocket.domain.audit import Actor, AuditEvent, DetailType
from wiresocket.domain.errors import Conflict, InvalidInput, NotFound
from wiresocket.domain.ids import new_tenant_id, validate_tenant_id
from wiresocket.domain.tenants import Tenant, TenantStatus
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

    def create(self, name: str, actor: Actor, tenant_id: str | None = None) -> Tenant:
        """A new ``pending`` tenant."""
        clean = name.strip()
        if not clean or len(clean) > MAX_NAME or any(ord(c) < 32 for c in clean):
            raise InvalidInput(f"tenant name must be 1-{MAX_NAME} printable characters")
        now = int(self._clock.now())
        tenant = Tenant(
            tenant_id=validate_tenant_id(tenant_id) if tenant_id else new_tenant_id(),
            name=clean,
            status=TenantStatus.PENDING,
            created_at=now,
            updated_at=now,
        )
        self._directory.commit(
            [PutTenant(tenant), self._audit(DetailType.TENANT_CREATED, actor, tenant.tenant_id, name=clean)]
        )
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
