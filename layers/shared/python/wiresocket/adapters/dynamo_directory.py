"""pynamodb implementations of the ``Directory``, ``LockStore`` and ``Outbox`` ports."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import (
    PynamoDBConnectionError,
    PynamoDBException,
    TransactWriteError,
    UpdateError,
)
from pynamodb.transactions import TransactWrite

from wiresocket.adapters.directory_models import (
    AuditItem,
    DirectoryItem,
    LockItem,
    SigningKeyItem,
    TenantItem,
)
from wiresocket.domain.audit import Actor, ActorType, AuditEvent, DetailType
from wiresocket.domain.errors import Conflict, DependencyUnavailable, LeaseLost
from wiresocket.domain.keys import EncryptedPrivateKey, KeyState, SigningKey
from wiresocket.domain.tenants import Tenant, TenantStatus
from wiresocket.domain.time import iso_utc
from wiresocket.ports import (
    CheckLease,
    Lease,
    PutKey,
    PutTenant,
    RecordAudit,
    ReplaceKey,
    ReplaceTenant,
    Write,
)

PENDING = "1"
PLATFORM_AUDIT = "platform"


def tenant_pk(tenant_id: str) -> str:
    """Partition key of a tenant's items."""
    return f"TENANT#{tenant_id}"


def _lock_pk(name: str) -> str:
    return f"LOCK#{name}"


# --- item ⇄ domain ---------------------------------------------------------------------------------------


def _tenant_item(tenant: Tenant) -> TenantItem:
    return TenantItem(
        tenant_pk(tenant.tenant_id),
        "TENANT",
        tenant_id=tenant.tenant_id,
        name=tenant.name,
        status=tenant.status.value,
        created_at=tenant.created_at,
        updated_at=tenant.updated_at,
    )


def _tenant(item: TenantItem) -> Tenant:
    return Tenant(
        tenant_id=item.tenant_id,
        name=item.name,
        status=TenantStatus(item.status),
        created_at=int(item.created_at),
        updated_at=int(item.updated_at),
    )


def _key_item(key: SigningKey) -> SigningKeyItem:
    sealed = key.sealed
    return SigningKeyItem(
        tenant_pk(key.tenant_id),
        f"KEY#{key.kid}",
        tenant_id=key.tenant_id,
        kid=key.kid,
        state=key.state.value,
        created_at=key.created_at,
        activated_at=key.activated_at,
        retire_after=key.retire_after,
        ended_at=key.ended_at,
        public_n=key.public_n,
        public_e=key.public_e,
        wrapped_data_key=sealed.wrapped_data_key if sealed else None,
        nonce=sealed.nonce if sealed else None,
        ciphertext=sealed.ciphertext if sealed else None,
        master_key_id=sealed.master_key_id if sealed else None,
    )


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _key(item: SigningKeyItem) -> SigningKey:
    sealed = None
    if item.ciphertext is not None and item.wrapped_data_key is not None and item.nonce is not None:
        sealed = EncryptedPrivateKey(
            wrapped_data_key=item.wrapped_data_key,
            nonce=item.nonce,
            ciphertext=item.ciphertext,
            master_key_id=item.master_key_id or "",
        )
    return SigningKey(
        tenant_id=item.tenant_id,
        kid=item.kid,
        state=KeyState(item.state),
        created_at=int(item.created_at),
        public_n=item.public_n,
        public_e=item.public_e,
        sealed=sealed,
        activated_at=_opt_int(item.activated_at),
        retire_after=_opt_int(item.retire_after),
        ended_at=_opt_int(item.ended_at),
    )


def audit_sort_key(event: AuditEvent) -> str:
    """Sort key of an audit event: time first, so a partition reads newest-first with ScanIndexForward."""
    return f"{iso_utc(event.occurred_at)}#{event.event_id}"


def _audit_item(event: AuditEvent) -> AuditItem:
    order = audit_sort_key(event)
    return AuditItem(
        f"AUDIT#{event.tenant_id or PLATFORM_AUDIT}",
        order,
        event_id=event.event_id,
        detail_type=event.detail_type.value,
        occurred_at=event.occurred_at,
        region=event.region,
        actor_type=event.actor.type.value,
        actor_id=event.actor.id,
        tenant_id=event.tenant_id,
        app_id=event.app_id,
        data=json.dumps(dict(event.data), sort_keys=True),
        outbox_pending=PENDING,
        outbox_order=order,
        gsi1pk="AUDIT",
        gsi1sk=order,
    )


def audit_event(item: AuditItem) -> AuditEvent:
    """The domain event stored in ``item``."""
    return AuditEvent(
        detail_type=DetailType(item.detail_type),
        actor=Actor(ActorType(item.actor_type), item.actor_id),
        region=item.region,
        occurred_at=float(item.occurred_at),
        tenant_id=item.tenant_id,
        app_id=item.app_id,
        data=json.loads(item.data),
        event_id=item.event_id,
    )


# --- Directory ---------------------------------------------------------------------------------------------


class DynamoDirectory:
    """The ``Directory`` port over the directory table."""

    def _connection(self) -> Connection:
        meta: Any = DirectoryItem.Meta
        return Connection(region=meta.region, host=meta.host)

    def tenant_with_keys(self, tenant_id: str) -> tuple[Tenant | None, list[SigningKey]]:
        """One strongly consistent Query over the tenant's partition (``KEY#…`` through ``TENANT``)."""
        tenant: Tenant | None = None
        keys: list[SigningKey] = []
        try:
            for item in DirectoryItem.query(
                tenant_pk(tenant_id), DirectoryItem.sk.between("KEY#", "TENANT"), consistent_read=True
            ):
                if isinstance(item, TenantItem):
                    tenant = _tenant(item)
                elif isinstance(item, SigningKeyItem):
                    keys.append(_key(item))
        except PynamoDBException as exc:
            raise DependencyUnavailable("directory unavailable") from exc
        return tenant, keys

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        """The tenant item alone."""
        try:
            item = TenantItem.get(tenant_pk(tenant_id), "TENANT", consistent_read=True)
        except TenantItem.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise DependencyUnavailable("directory unavailable") from exc
        return _tenant(item)

    def all_keys(self) -> Iterator[SigningKey]:
        """Every signing key (a paginated, filtered Scan: maintenance only, never on a request path)."""
        try:
            for item in SigningKeyItem.scan(SigningKeyItem.sk.startswith("KEY#")):
                yield _key(item)
        except PynamoDBException as exc:
            raise DependencyUnavailable("directory unavailable") from exc

    def commit(self, writes: Sequence[Write]) -> None:
        """All ``writes`` in one DynamoDB transaction (≤ 100 items)."""
        if not writes:
            return
        if len(writes) > 100:
            raise Conflict("change too large for one transaction")
        lease_positions: list[int] = []
        try:
            with TransactWrite(connection=self._connection()) as tx:
                # pynamodb sends condition checks first, then puts: record where the lease checks land.
                for write in writes:
                    if isinstance(write, CheckLease):
                        lease_positions.append(len(lease_positions))
                        lease = write.lease
                        tx.condition_check(
                            LockItem,
                            _lock_pk(lease.name),
                            "LOCK",
                            condition=(LockItem.owner == lease.owner) & (LockItem.fence == lease.fence),
                        )
                for write in writes:
                    self._add(tx, write)
        except TransactWriteError as exc:
            if exc.cause_response_code == "TransactionCanceledException":
                reasons = exc.cancellation_reasons
                lease_reasons = [reasons[i] for i in lease_positions if i < len(reasons)]
                if any(r is not None and r.code == "ConditionalCheckFailed" for r in lease_reasons):
                    raise LeaseLost("lease was lost before commit") from exc
                if any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons):
                    raise Conflict("state changed concurrently") from exc
            raise DependencyUnavailable("directory unavailable") from exc
        except PynamoDBException as exc:
            raise DependencyUnavailable("directory unavailable") from exc

    @staticmethod
    def _add(tx: TransactWrite, write: Write) -> None:
        if isinstance(write, PutTenant):
            tx.save(_tenant_item(write.tenant), condition=TenantItem.pk.does_not_exist())
        elif isinstance(write, ReplaceTenant):
            tx.save(_tenant_item(write.tenant), condition=TenantItem.status == write.expected_status)
        elif isinstance(write, PutKey):
            tx.save(_key_item(write.key), condition=SigningKeyItem.pk.does_not_exist())
        elif isinstance(write, ReplaceKey):
            condition = SigningKeyItem.state == write.expected_state.value
            if write.expected_master_key_id is not None:
                condition = condition & (SigningKeyItem.master_key_id == write.expected_master_key_id)
            tx.save(_key_item(write.key), condition=condition)
        elif isinstance(write, RecordAudit):
            tx.save(_audit_item(write.event), condition=AuditItem.pk.does_not_exist())
        # CheckLease was added as a condition check above.


# --- LockStore --------------------------------------------------------------------------------------------


class DynamoLockStore:
    """Lease locks by conditional update of one item per lock."""

    def try_acquire(self, name: str, owner: str, lease_seconds: float, now: float) -> Lease | None:
        """Take the lock when absent, released, or expired; ``fence`` goes up by one on every take."""
        item = LockItem(_lock_pk(name), "LOCK")
        expires = now + lease_seconds
        free = LockItem.pk.does_not_exist() | LockItem.owner.does_not_exist() | (LockItem.lease_expires_at < now)
        try:
            item.update(
                actions=[
                    LockItem.owner.set(owner),
                    LockItem.lease_expires_at.set(expires),
                    LockItem.fence.add(1),
                    LockItem.kind.set(LockItem),
                ],
                condition=free,
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise DependencyUnavailable("directory unavailable") from exc
        except PynamoDBConnectionError as exc:
            raise DependencyUnavailable("directory unavailable") from exc
        return Lease(name=name, owner=owner, expires_at=expires, fence=int(item.fence or 0))

    def release(self, lease: Lease) -> bool:
        """Release only if we still hold it (same owner and fence)."""
        item = LockItem(_lock_pk(lease.name), "LOCK")
        try:
            item.update(
                actions=[LockItem.owner.remove(), LockItem.lease_expires_at.set(0)],
                condition=(LockItem.owner == lease.owner) & (LockItem.fence == lease.fence),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise DependencyUnavailable("directory unavailable") from exc
        return True


# --- Outbox ---------------------------------------------------------------------------------------------


class DynamoOutbox:
    """The audit outbox: the sparse ``outbox-pending`` index over audit items."""

    def pending(self, limit: int) -> list[AuditEvent]:
        """Oldest unpublished events first."""
        try:
            items = AuditItem.outbox_index.query(PENDING, limit=limit)
            return [audit_event(item) for item in items][:limit]
        except PynamoDBException as exc:
            raise DependencyUnavailable("directory unavailable") from exc

    def mark_published(self, events: Sequence[AuditEvent], now: float) -> None:
        """Drop ``events`` from the pending index (idempotent: already-published ones are left alone)."""
        for event in events:
            item = AuditItem(f"AUDIT#{event.tenant_id or PLATFORM_AUDIT}", audit_sort_key(event))
            try:
                item.update(
                    actions=[
                        AuditItem.outbox_pending.remove(),
                        AuditItem.outbox_order.remove(),
                        AuditItem.published_at.set(now),
                    ],
                    condition=AuditItem.outbox_pending.exists(),
                )
            except UpdateError as exc:
                if exc.cause_response_code != "ConditionalCheckFailedException":
                    raise DependencyUnavailable("directory unavailable") from exc
