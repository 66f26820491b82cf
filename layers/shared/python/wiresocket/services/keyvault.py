"""Tenant key lifecycle (SPEC §5): first keys, rotation, retirement, emergency revocation, re-wrap.

Every change runs under the tenant's lease lock (or the master-key lock), re-reads current state inside the
lock, and commits the key changes, a ``CheckLease`` (fencing) and the audit events in one transaction, so a
change and its audit trail exist together or not at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from wiresocket.domain.audit import Actor, AuditEvent, DetailType
from wiresocket.domain.errors import Conflict, KeyUnavailable, LeaseLost, NotFound
from wiresocket.domain.ids import new_kid, validate_tenant_id
from wiresocket.domain.keys import LIVE_STATES, KeyState, SigningKey, encryption_context
from wiresocket.domain.tenants import TenantStatus
from wiresocket.names import PLATFORM_TENANT_ID
from wiresocket.ports import (
    CheckLease,
    Clock,
    Directory,
    KeyWrapper,
    Lease,
    PepperStore,
    PutKey,
    RecordAudit,
    ReplaceKey,
    ReplaceSecretPepper,
    Write,
)
from wiresocket.services.locks import LockManager
from wiresocket.services.outbox import publish_after_commit
from wiresocket.services.pepper import PEPPER_CONTEXT, PEPPER_KID
from wiresocket.services.sealing import generate_signing_key

MASTER_KEY_LOCK = "master-key"


def tenant_keys_lock(tenant_id: str) -> str:
    """The lock name guarding one tenant's key set."""
    return f"keys#{tenant_id}"


@dataclass(frozen=True)
class KeyPolicy:
    """Lifecycle parameters (validated by settings; see ``config.KeyVaultSettings``)."""

    grace_seconds: int = 24 * 3600
    next_key_min_age_seconds: int = 300
    """A ``next`` key starts signing only after it was in the JWKS this long (one JWKS cache lifetime)."""


@dataclass(frozen=True)
class Rotation:
    """What a rotation did."""

    retiring_kid: str
    active_kid: str
    next_kid: str
    retire_after: int


@dataclass(frozen=True)
class Revocation:
    """What an emergency revocation did."""

    revoked_kids: tuple[str, ...]
    active_kid: str
    next_kid: str


@dataclass
class RewrapReport:
    """Progress and outcome of a master-key re-wrap."""

    target_master_key_id: str
    total: int = 0
    rewrapped: int = 0
    already_current: int = 0
    skipped: list[str] = field(default_factory=list)
    complete: bool = True
    """False when the run stopped at its time budget: run it again (keys already moved are skipped)."""


class KeyVault:
    """The key lifecycle service."""

    def __init__(
        self,
        directory: Directory,
        wrapper: KeyWrapper,
        locks: LockManager,
        clock: Clock,
        *,
        region: str,
        policy: KeyPolicy | None = None,
        on_commit: Callable[[], object] | None = None,
    ) -> None:
        self._directory = directory
        self._wrapper = wrapper
        self._locks = locks
        self._clock = clock
        self._region = region
        self._policy = policy or KeyPolicy()
        self._on_commit = on_commit

    # --- helpers -------------------------------------------------------------------------------------------

    def _now(self) -> int:
        return int(self._clock.now())

    def _event(self, detail_type: DetailType, actor: Actor, tenant_id: str, **data: object) -> RecordAudit:
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

    def _commit(self, writes: Sequence[Write]) -> None:
        self._directory.commit(writes)
        publish_after_commit(self._on_commit)

    def _new_key(self, tenant_id: str, state: KeyState) -> SigningKey:
        return generate_signing_key(tenant_id, new_kid(), state, self._now(), self._wrapper)

    def _created(self, actor: Actor, key: SigningKey) -> RecordAudit:
        return self._event(DetailType.SIGNING_KEY_CREATED, actor, key.tenant_id, kid=key.kid, state=key.state.value)

    # --- first keys ------------------------------------------------------------------------------------------

    def initial_key_writes(self, tenant_id: str, actor: Actor) -> tuple[list[SigningKey], list[Write]]:
        """New ``active`` + ``next`` keys and the writes that create them (for composing with a tenant
        approval in one transaction). The caller must hold the tenant's key lock."""
        active = self._new_key(tenant_id, KeyState.ACTIVE)
        upcoming = self._new_key(tenant_id, KeyState.NEXT)
        writes: list[Write] = [
            PutKey(active),
            PutKey(upcoming),
            self._created(actor, active),
            self._created(actor, upcoming),
        ]
        return [active, upcoming], writes

    def create_initial_keys(self, tenant_id: str, actor: Actor) -> list[SigningKey]:
        """Give a tenant without keys its first ``active`` and ``next`` keys."""
        validate_tenant_id(tenant_id)
        with self._locks.hold(tenant_keys_lock(tenant_id)) as lease:
            tenant, keys = self._directory.tenant_with_keys(tenant_id)
            if tenant is None:
                raise NotFound("no such tenant")
            if any(k.state in LIVE_STATES for k in keys):
                raise Conflict("tenant already has signing keys")
            created, writes = self.initial_key_writes(tenant_id, actor)
            self._commit([CheckLease(lease), *writes])
            return created

    # --- rotation ------------------------------------------------------------------------------------------

    def rotate(self, tenant_id: str, actor: Actor) -> Rotation:
        """active → retiring, next → active, a fresh next. Refuses while the ``next`` key is too new to have
        reached every JWKS cache."""
        validate_tenant_id(tenant_id)
        with self._locks.hold(tenant_keys_lock(tenant_id)) as lease:
            tenant, keys = self._directory.tenant_with_keys(tenant_id)
            if tenant is None:
                raise NotFound("no such tenant")
            if tenant.status is not TenantStatus.ACTIVE:
                raise Conflict(f"tenant is {tenant.status.value}; only active tenants rotate keys")
            return self._rotate_locked(lease, keys, actor)

    @staticmethod
    def _rotation_pair(keys: list[SigningKey]) -> tuple[SigningKey, SigningKey] | None:
        """The active key and the oldest next key, if the key set is rotatable (one active, at least one next)."""
        active = [k for k in keys if k.state is KeyState.ACTIVE]
        upcoming = sorted((k for k in keys if k.state is KeyState.NEXT), key=lambda k: k.created_at)
        if len(active) != 1 or not upcoming:
            return None
        return active[0], upcoming[0]

    def rotation_due(self, keys: list[SigningKey], now: float, rotation_seconds: int) -> bool:
        """Whether the scheduled job should rotate ``keys`` now: the active key has signed for
        ``rotation_seconds`` and the next key may take over (``rotate`` would not refuse it)."""
        pair = self._rotation_pair(keys)
        if pair is None:
            return False
        current, promoted = pair
        signing_since = current.activated_at if current.activated_at is not None else current.created_at
        return (
            now - signing_since >= rotation_seconds
            and now - promoted.created_at >= self._policy.next_key_min_age_seconds
        )

    def maintain(self, tenant_id: str, actor: Actor, *, rotation_seconds: int) -> tuple[list[str], Rotation | None]:
        """The scheduled job's pass over one tenant, under one lock and one read of its keys: retire the keys
        past their grace period (any tenant), then rotate if the tenant is active and ``rotation_due``. Returns
        the retired kids and the rotation, if one happened."""
        validate_tenant_id(tenant_id)
        with self._locks.hold(tenant_keys_lock(tenant_id)) as lease:
            tenant, keys = self._directory.tenant_with_keys(tenant_id)
            retired = self._retire_locked(lease, tenant_id, keys, actor)
            if tenant is None or not tenant.is_active or not self.rotation_due(keys, self._now(), rotation_seconds):
                return retired, None
            # Retiring keys were neither active nor next: the key set read above still decides the rotation.
            return retired, self._rotate_locked(lease, keys, actor)

    def _rotate_locked(self, lease: Lease, keys: list[SigningKey], actor: Actor) -> Rotation:
        now = self._now()
        pair = self._rotation_pair(keys)
        if pair is None:
            raise KeyUnavailable("tenant key set is not rotatable (needs one active and one next key)")
        current, promoted = pair
        age = now - promoted.created_at
        if age < self._policy.next_key_min_age_seconds:
            wait = self._policy.next_key_min_age_seconds - age
            raise Conflict(f"the next key has been published for {age}s; it may start signing in {wait}s")
        retiring = current.retiring(now, self._policy.grace_seconds)
        fresh = self._new_key(current.tenant_id, KeyState.NEXT)
        assert retiring.retire_after is not None
        self._commit(
            [
                CheckLease(lease),
                ReplaceKey(retiring, expected_state=KeyState.ACTIVE),
                ReplaceKey(promoted.activated(now), expected_state=KeyState.NEXT),
                PutKey(fresh),
                self._event(
                    DetailType.SIGNING_KEY_ROTATED,
                    actor,
                    current.tenant_id,
                    phase="activated",
                    previousKid=current.kid,
                    activeKid=promoted.kid,
                    nextKid=fresh.kid,
                    retireAfter=retiring.retire_after,
                ),
                self._created(actor, fresh),
            ]
        )
        return Rotation(
            retiring_kid=current.kid,
            active_kid=promoted.kid,
            next_kid=fresh.kid,
            retire_after=retiring.retire_after,
        )

    def retire_expired(self, tenant_id: str, actor: Actor) -> list[str]:
        """Move ``retiring`` keys past their grace period to ``retired`` (their private material is dropped)."""
        validate_tenant_id(tenant_id)
        with self._locks.hold(tenant_keys_lock(tenant_id)) as lease:
            _, keys = self._directory.tenant_with_keys(tenant_id)
            return self._retire_locked(lease, tenant_id, keys, actor)

    def _retire_locked(self, lease: Lease, tenant_id: str, keys: list[SigningKey], actor: Actor) -> list[str]:
        now = self._now()
        due = [k for k in keys if k.state is KeyState.RETIRING and k.retire_after is not None and k.retire_after <= now]
        if not due:
            return []
        writes: list[Write] = [CheckLease(lease)]
        for key in due:
            writes.append(ReplaceKey(key.ended(KeyState.RETIRED, now), expected_state=KeyState.RETIRING))
            writes.append(self._event(DetailType.SIGNING_KEY_ROTATED, actor, tenant_id, phase="retired", kid=key.kid))
        self._commit(writes)
        return [k.kid for k in due]

    # --- emergency revocation -----------------------------------------------------------------------------

    def revoke_all(self, tenant_id: str, actor: Actor, reason: str = "emergency") -> Revocation:
        """Revoke every live key of the tenant and put a fresh active + next pair in place, atomically."""
        validate_tenant_id(tenant_id)
        with self._locks.hold(tenant_keys_lock(tenant_id)) as lease:
            tenant, keys = self._directory.tenant_with_keys(tenant_id)
            if tenant is None:
                raise NotFound("no such tenant")
            if tenant.status is TenantStatus.PENDING:
                raise Conflict("tenant is pending approval and has no keys to revoke")
            now = self._now()
            live = [k for k in keys if k.state in LIVE_STATES]
            created, creating = self.initial_key_writes(tenant_id, actor)
            writes: list[Write] = [CheckLease(lease)]
            writes.extend(ReplaceKey(k.ended(KeyState.REVOKED, now), expected_state=k.state) for k in live)
            writes.append(
                self._event(
                    DetailType.SIGNING_KEY_REVOKED,
                    actor,
                    tenant_id,
                    revokedKids=[k.kid for k in live],
                    reason=reason,
                    activeKid=created[0].kid,
                )
            )
            writes.extend(creating)
            self._commit(writes)
            return Revocation(
                revoked_kids=tuple(k.kid for k in live), active_kid=created[0].kid, next_kid=created[1].kid
            )

    # --- master-key re-wrap ----------------------------------------------------------------------------------

    def rewrap_all(
        self,
        target_master_key: str,
        actor: Actor,
        progress: Callable[[RewrapReport], None] | None = None,
        *,
        time_budget_seconds: float | None = None,
    ) -> RewrapReport:
        """Re-wrap every stored data key under ``target_master_key``.

        Each key is re-wrapped with ``ReEncrypt`` (the private key itself is never decrypted) and stored
        with a compare-and-set on its old version tag. Keys already under the target are skipped, so a run
        that crashed part-way is finished by simply running again. With ``time_budget_seconds`` the run stops
        cleanly (lock released, ``complete=False``) when the budget is spent, instead of being killed by the
        function's timeout with its lease still held.
        """
        target = self._wrapper.resolve(target_master_key)
        report = RewrapReport(target_master_key_id=target)
        try:
            return self._rewrap_all(target, actor, report, progress, time_budget_seconds)
        finally:
            # Each re-wrap committed its MasterKeyRewrapped event with it (the outbox); they are published once
            # here, not one outbox Query and bus call per key, and also when the run stopped or failed.
            publish_after_commit(self._on_commit)

    def _rewrap_all(
        self,
        target: str,
        actor: Actor,
        report: RewrapReport,
        progress: Callable[[RewrapReport], None] | None,
        time_budget_seconds: float | None,
    ) -> RewrapReport:
        deadline = None if time_budget_seconds is None else time.monotonic() + time_budget_seconds
        with self._locks.hold(MASTER_KEY_LOCK, lease_seconds=900) as lease:
            for key in self._directory.all_keys():
                if deadline is not None and time.monotonic() >= deadline:
                    report.complete = False
                    return report
                if key.sealed is None:
                    continue
                report.total += 1
                if key.sealed.master_key_id == target:
                    report.already_current += 1
                elif self._rewrap_one(lease, key, target, actor):
                    report.rewrapped += 1
                else:
                    report.skipped.append(key.kid)
                if progress is not None:
                    progress(report)
            if isinstance(self._directory, PepperStore):
                # The client-secret pepper is wrapped under the same master key: it moves with the tenant keys.
                self._rewrap_pepper(lease, self._directory, target, actor, report)
                if progress is not None:
                    progress(report)
        return report

    def _rewrap_pepper(self, lease: Lease, store: PepperStore, target: str, actor: Actor, report: RewrapReport) -> None:
        """Re-wrap the pepper's data key (``ReEncrypt``; same plaintext, so warm caches stay valid) with a
        compare-and-set on its old version tag; counted in ``report`` like one more key."""
        stored = store.secret_pepper()
        if stored is None:
            return
        report.total += 1
        for _ in range(3):
            wrapped, tag = stored
            if tag == target:
                report.already_current += 1
                return
            new_wrapped, new_tag = self._wrapper.rewrap(wrapped, PEPPER_CONTEXT, target)
            try:
                self._directory.commit(  # published once by rewrap_all
                    [
                        CheckLease(lease),
                        ReplaceSecretPepper(new_wrapped, new_tag, expected_master_key_id=tag),
                        self._event(
                            DetailType.MASTER_KEY_REWRAPPED,
                            actor,
                            PLATFORM_TENANT_ID,
                            kid=PEPPER_KID,
                            fromMasterKeyId=tag,
                            toMasterKeyId=new_tag,
                        ),
                    ]
                )
                report.rewrapped += 1
                return
            except LeaseLost:
                raise
            except Conflict:
                fresh = store.secret_pepper()  # re-wrapped by someone else meanwhile: look again
                if fresh is None:
                    return
                stored = fresh
        report.skipped.append(PEPPER_KID)

    def _rewrap_one(self, lease: Lease, key: SigningKey, target: str, actor: Actor) -> bool:
        for _ in range(3):
            assert key.sealed is not None
            wrapped, tag = self._wrapper.rewrap(
                key.sealed.wrapped_data_key, encryption_context(key.tenant_id, key.kid), target
            )
            updated = replace(key, sealed=replace(key.sealed, wrapped_data_key=wrapped, master_key_id=tag))
            try:
                self._directory.commit(  # published once by rewrap_all
                    [
                        CheckLease(lease),
                        ReplaceKey(updated, expected_state=key.state, expected_master_key_id=key.sealed.master_key_id),
                        self._event(
                            DetailType.MASTER_KEY_REWRAPPED,
                            actor,
                            key.tenant_id,
                            kid=key.kid,
                            fromMasterKeyId=key.sealed.master_key_id,
                            toMasterKeyId=tag,
                        ),
                    ]
                )
                return True
            except LeaseLost:
                raise
            except Conflict:
                # The key changed under us (rotated or revoked): re-read it and try again.
                _, keys = self._directory.tenant_with_keys(key.tenant_id)
                fresh = next((k for k in keys if k.kid == key.kid), None)
                if fresh is None or fresh.sealed is None:
                    return False
                if fresh.sealed.master_key_id == target:
                    return True
                key = fresh
        return False
