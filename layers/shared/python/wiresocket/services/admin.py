"""The admin and platform use cases (SPEC §6): ``AdminService`` implements ``admin_contract.AdminOperations``.

Rules this module holds (the edge holds authentication, roles, rate limits and idempotency):

- **Tenant scoping.** Every tenant method reads and writes only under the ``tenant_id`` it is given (the
  edge passes the one from the verified token): another tenant's app or user id is simply ``NotFound``. A
  resource id that cannot be one of ours (wrong shape) is ``NotFound`` too, before any read.
- **One transaction per change.** Each mutating method commits its change and its audit events together
  (outbox), then asks the publisher to deliver them (best effort; the outbox sweep does the rest).
- **Termination after commit.** Suspending a tenant, revoking its keys, disabling or deleting an app and
  disabling a user call the ``SessionTerminator`` *after* the change is committed. A failing terminator
  never undoes or fails the committed change: the data plane re-checks the (already changed) security
  state, and the audit events reach every region.
- **App changes hold the app's lease lock** (``app#{tenantId}#{appId}``, SPEC §7) and commit with a
  fencing check, so regenerating the secret, changing domains, plan or status and deleting never lose each
  other's updates. "One Free-plan app per tenant" is a per-tenant claim item written with a condition in the
  same transaction as the plan change (two apps of one tenant have different locks: the claim decides).
- **Outputs carry no credential material**: users come back without their password hash, apps without
  their secret hash (both as ``""``), keys without their sealed private key. The one-time client secret is
  only in ``CreatedApp``.
- **Owners.** The owner comes only from signup and can never be disabled through ``set_user_status``
  (``Conflict``): an admin may not do it, and an owner disabling themselves would lock the tenant out.
  ``get_user`` exposes a user's role for the edge's own checks.
- **Cursors** are base64url JSON of the store's last-item key; decoded and shape-checked here, and checked
  against the listed partition by the directory adapter, so a forged cursor is ``InvalidInput`` and can never
  reach another tenant's items.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace

from wiresocket.domain.apps import App, AppStatus, is_app_id, normalize_domains
from wiresocket.domain.audit import Actor, ActorType, AuditEvent, DetailType
from wiresocket.domain.credentials import validate_new_password
from wiresocket.domain.errors import Conflict, InvalidInput, LeaseLost, NotFound
from wiresocket.domain.ids import validate_tenant_id
from wiresocket.domain.keys import KeyState, SigningKey
from wiresocket.domain.master_keys import validate_master_key_ref
from wiresocket.domain.plans import Plan, PlanLimits, plan_id_from_name, validate_plan_id
from wiresocket.domain.tenants import Tenant, TenantStatus
from wiresocket.domain.users import INVITABLE_ROLES, User, UserRole, UserStatus, is_user_id, normalize_username
from wiresocket.names import MASTER_KEY_SLOTS, PLATFORM_TENANT_ID
from wiresocket.ports import (
    AdminDirectory,
    CheckLease,
    ClaimFreePlan,
    Clock,
    DeleteApp,
    Lease,
    MasterKeyManager,
    PutTenant,
    PutUser,
    RecordAudit,
    ReleaseFreePlan,
    ReplaceApp,
    ReplaceUser,
    Write,
)
from wiresocket.services.admin_contract import (
    MAX_PAGE,
    CreatedApp,
    MasterKeyStatus,
    Page,
    SessionTerminator,
    TerminationScope,
)
from wiresocket.services.directory_entries import DirectoryEntries
from wiresocket.services.keyvault import KeyVault, Revocation, RewrapReport, Rotation
from wiresocket.services.locks import LockManager
from wiresocket.services.outbox import publish_after_commit
from wiresocket.services.tenants import TenantService

logger = logging.getLogger(__name__)


def _not_the_platform(tenant_id: str) -> None:
    """The reserved platform tenant's status never changes through the API: suspending it would lock every
    operator out for good (no one could reactivate it)."""
    if tenant_id == PLATFORM_TENANT_ID:
        raise Conflict("the platform tenant's status cannot be changed")


MASTER_KEY_ROTATION_LOCK = "master-key-rotation"
MAX_REASON = 256
MAX_CURSOR = 2048
SIGNUP_ACTOR = Actor(ActorType.ANONYMOUS, "signup")
_CURSOR = re.compile(r"\A[A-Za-z0-9_-]+\Z")
_KEY_ORDER = {KeyState.ACTIVE: 0, KeyState.NEXT: 1, KeyState.RETIRING: 2, KeyState.RETIRED: 3, KeyState.REVOKED: 4}


def app_lock(tenant_id: str, app_id: str) -> str:
    """The lock name guarding one app's changes."""
    return f"app#{tenant_id}#{app_id}"


# --- cursors and small validators ----------------------------------------------------------------------------


def encode_cursor(start: Mapping[str, str] | None) -> str | None:
    """An opaque cursor: base64url (unpadded) of the JSON start key; None when there is no next page."""
    if start is None:
        return None
    raw = json.dumps(dict(start), separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> dict[str, str] | None:
    """The start key inside ``cursor``; ``InvalidInput`` for anything that is not a flat JSON object of strings
    in base64url. (Whether it belongs to the listing is the directory's check.)"""
    if cursor is None:
        return None
    if not isinstance(cursor, str) or not 0 < len(cursor) <= MAX_CURSOR or _CURSOR.match(cursor) is None:
        raise InvalidInput("malformed cursor")
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidInput("malformed cursor") from exc
    if (
        not isinstance(value, dict)
        or not value
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    ):
        raise InvalidInput("malformed cursor")
    return value


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1-{MAX_PAGE}")
    return limit


def _reason(reason: str | None, default: str) -> str:
    if reason is None:
        return default
    if not isinstance(reason, str):
        raise InvalidInput("reason must be text")
    clean = reason.strip()
    if len(clean) > MAX_REASON or any(ord(c) < 32 or ord(c) == 127 for c in clean):
        raise InvalidInput(f"reason must be at most {MAX_REASON} printable characters")
    return clean or default


def _domains(allowed_domains: object) -> tuple[str, ...]:
    if not isinstance(allowed_domains, list | tuple) or not all(isinstance(d, str) for d in allowed_domains):
        raise InvalidInput("allowedDomains must be a list of strings")
    return normalize_domains(list(allowed_domains))


def public_user(user: User) -> User:
    """``user`` without its password hash."""
    return replace(user, password_hash="")


def public_app(app: App) -> App:
    """``app`` without its secret hash."""
    return replace(app, secret_hash="")


def public_key(key: SigningKey) -> SigningKey:
    """``key`` without its sealed private key."""
    return replace(key, sealed=None)


class AdminService:
    """Everything the admin and platform API can do (``AdminOperations``)."""

    def __init__(
        self,
        directory: AdminDirectory,
        tenants: TenantService,
        entries: DirectoryEntries,
        vault: KeyVault,
        master_keys: MasterKeyManager,
        terminator: SessionTerminator,
        locks: LockManager,
        clock: Clock,
        *,
        region: str,
        on_commit: Callable[[], object] | None = None,
        rewrap_budget_seconds: float | None = None,
    ) -> None:
        self._rewrap_budget_seconds = rewrap_budget_seconds
        self._directory = directory
        self._tenants = tenants
        self._entries = entries
        self._vault = vault
        self._master_keys = master_keys
        self._terminator = terminator
        self._locks = locks
        self._clock = clock
        self._region = region
        self._on_commit = on_commit

    # --- helpers -------------------------------------------------------------------------------------------

    def _now(self) -> int:
        return int(self._clock.now())

    def _audit(
        self, detail_type: DetailType, actor: Actor, tenant_id: str, app_id: str | None = None, **data: object
    ) -> RecordAudit:
        return RecordAudit(
            AuditEvent(
                detail_type=detail_type,
                actor=actor,
                region=self._region,
                occurred_at=self._clock.now(),
                tenant_id=tenant_id,
                app_id=app_id,
                data=data,
            )
        )

    def _published(self) -> None:
        publish_after_commit(self._on_commit)

    def _commit(self, writes: list[Write]) -> None:
        self._directory.commit(writes)
        self._published()

    def _terminate(self, scope: TerminationScope, reason: str, actor: Actor) -> None:
        try:
            self._terminator.terminate(scope, reason, actor)
        except Exception as exc:  # the change is committed; the data plane's state checks are the backstop
            logger.warning(
                "session termination request failed",
                extra={"error": type(exc).__name__, "tenant_id": scope.tenant_id, "app_id": scope.app_id},
            )

    def _tenant(self, tenant_id: str) -> Tenant:
        tenant = self._directory.get_tenant(validate_tenant_id(tenant_id))
        if tenant is None:
            raise NotFound("no such tenant")
        return tenant

    def _app(self, tenant_id: str, app_id: str) -> App:
        validate_tenant_id(tenant_id)
        app = self._directory.app(tenant_id, app_id) if is_app_id(app_id) else None
        if app is None:
            raise NotFound("no such app")
        return app

    def _user(self, tenant_id: str, user_id: str) -> User:
        validate_tenant_id(tenant_id)
        user = self._directory.user(tenant_id, user_id) if is_user_id(user_id) else None
        if user is None:
            raise NotFound("no such user")
        return user

    def _active_plan(self, plan_id: str) -> Plan:
        plan = self._directory.plan(validate_plan_id(plan_id))
        if plan is None or not plan.is_active:
            raise InvalidInput("planId names no active plan")
        return plan

    def _username_free(self, username: str, password: str) -> str:
        """Validate before the (costly) password hash, and fail early on a taken username."""
        clean = normalize_username(username)
        validate_new_password(password)
        if self._directory.user_by_username(clean) is not None:
            raise Conflict("username is taken")
        return clean

    # --- public --------------------------------------------------------------------------------------------

    def signup(self, tenant_name: str, owner_username: str, owner_password: str) -> tuple[Tenant, User]:
        """A ``pending`` tenant and its owner, in one transaction (TenantCreated, UserCreated)."""
        tenant = self._tenants.new_tenant(tenant_name)
        username = self._username_free(owner_username, owner_password)
        owner = self._entries.new_user(tenant.tenant_id, username, owner_password, UserRole.OWNER)
        try:
            self._commit(
                [
                    PutTenant(tenant),
                    PutUser(owner),
                    self._tenants.created_event(tenant, SIGNUP_ACTOR),
                    self._entries.user_created_event(owner, SIGNUP_ACTOR),
                ]
            )
        except Conflict as exc:  # the username was taken meanwhile (tenant ids are random)
            raise Conflict("username is taken") from exc
        return tenant, public_user(owner)

    # --- platform ------------------------------------------------------------------------------------------

    def list_tenants(self, status: TenantStatus | None, limit: int, cursor: str | None) -> Page[Tenant]:
        """Tenants (optionally of one status), in status then creation order."""
        if status is not None and not isinstance(status, TenantStatus):
            raise InvalidInput("unknown tenant status")
        listing = self._directory.list_tenants(status, _limit(limit), decode_cursor(cursor))
        return Page(listing.items, encode_cursor(listing.next_start))

    def get_tenant(self, tenant_id: str) -> Tenant:
        """One tenant."""
        return self._tenant(tenant_id)

    def approve_tenant(self, tenant_id: str, actor: Actor) -> Tenant:
        """pending → active, with its first keys in the same transaction."""
        _not_the_platform(tenant_id)
        tenant = self._tenants.approve(tenant_id, actor)
        self._published()
        return tenant

    def suspend_tenant(self, tenant_id: str, actor: Actor, reason: str) -> Tenant:
        """active → suspended; then every live session of the tenant is terminated."""
        why = _reason(reason, "suspended by the platform")
        _not_the_platform(tenant_id)
        tenant = self._tenants.suspend(tenant_id, actor, why)
        self._published()
        self._terminate(TerminationScope(tenant.tenant_id), why, actor)
        return tenant

    def reactivate_tenant(self, tenant_id: str, actor: Actor) -> Tenant:
        """suspended → active."""
        _not_the_platform(tenant_id)
        tenant = self._tenants.reactivate(tenant_id, actor)
        self._published()
        return tenant

    def list_plans(self, include_retired: bool) -> list[Plan]:
        """Plans by id; retired ones only when asked."""
        plans = self._directory.list_plans()
        return sorted((p for p in plans if include_retired or p.is_active), key=lambda p: p.plan_id)

    def create_plan(self, name: str, free: bool, limits: PlanLimits, actor: Actor) -> Plan:
        """A new active plan; its id is the slug of its name (a taken slug is ``Conflict``). Plans have no audit
        detail-type in SPEC §7, so none is recorded."""
        if not isinstance(free, bool) or not isinstance(limits, PlanLimits) or not isinstance(name, str):
            raise InvalidInput("a plan needs a name, a free flag and limits")
        plan_id = plan_id_from_name(name)
        try:
            return self._entries.create_plan(plan_id, name.strip(), limits, free=free)
        except Conflict as exc:
            raise Conflict("a plan with this name exists") from exc

    def rotate_master_key(
        self,
        actor: Actor,
        target_key_id: str | None,
        progress: Callable[[RewrapReport], None] | None = None,
    ) -> RewrapReport:
        """Point the master-key alias at ``target_key_id`` (or at a new key created now), then re-wrap every
        stored data key (tenant keys and the client-secret pepper) under it. Resumable: run it again with the
        same (now current) target to finish an interrupted run."""
        ref = validate_master_key_ref(target_key_id) if target_key_id is not None else None
        with self._locks.hold(MASTER_KEY_ROTATION_LOCK, lease_seconds=900):
            target = self._master_keys.describe(ref) if ref is not None else self._other_slot()
            self._master_keys.point_alias(target)
            # The vault publishes the run's MasterKeyRewrapped events once, at its end.
            return self._vault.rewrap_all(target, actor, progress, time_budget_seconds=self._rewrap_budget_seconds)

    def _other_slot(self) -> str:
        """With no target given: the provisioned master-key slot the alias does not point at now. When the
        alias already points at a slot left over from an interrupted rotation, finishing that rotation means
        passing the current key as the target."""
        current = self._master_keys.current()
        for slot in MASTER_KEY_SLOTS:
            try:
                arn = self._master_keys.describe(slot)
            except InvalidInput:
                continue
            if arn != current:
                return arn
        raise InvalidInput("no other master-key slot is provisioned; pass targetKeyId")

    def master_key_status(self) -> MasterKeyStatus:
        """The current master key and how many stored data keys each master key wraps (a scan)."""
        counts: Counter[str] = Counter()
        for key in self._directory.all_keys():
            if key.sealed is not None:
                counts[key.sealed.master_key_id] += 1
        pepper = self._directory.secret_pepper()
        if pepper is not None:
            counts[pepper[1]] += 1
        return MasterKeyStatus(current_master_key_id=self._master_keys.current(), keys_by_master_key=dict(counts))

    def list_audit(self, tenant_id: str | None, limit: int, cursor: str | None) -> Page[AuditEvent]:
        """``tenant_id`` None: every event (platform); else that tenant's. Newest first."""
        if tenant_id is not None:
            validate_tenant_id(tenant_id)
        listing = self._directory.list_audit(tenant_id, _limit(limit), decode_cursor(cursor))
        return Page(listing.items, encode_cursor(listing.next_start))

    # --- tenant: users -------------------------------------------------------------------------------------

    def list_users(self, tenant_id: str, limit: int, cursor: str | None) -> Page[User]:
        """The tenant's users (without password hashes)."""
        validate_tenant_id(tenant_id)
        listing = self._directory.list_users(tenant_id, _limit(limit), decode_cursor(cursor))
        return Page([public_user(u) for u in listing.items], encode_cursor(listing.next_start))

    def get_user(self, tenant_id: str, user_id: str) -> User:
        """One user of the tenant (without password hash): the edge reads the target's role from it."""
        return public_user(self._user(tenant_id, user_id))

    def invite_user(self, tenant_id: str, username: str, password: str, role: UserRole, actor: Actor) -> User:
        """A new ``admin`` or ``viewer`` of the tenant; usernames are unique platform-wide (``Conflict``)."""
        if not isinstance(role, UserRole) or role not in INVITABLE_ROLES:
            raise InvalidInput("role must be admin or viewer")
        self._tenant(tenant_id)
        clean = self._username_free(username, password)
        try:
            user = self._entries.create_user(tenant_id, clean, password, role, actor)
        except Conflict as exc:
            raise Conflict("username is taken") from exc
        self._published()
        return public_user(user)

    def set_user_status(self, tenant_id: str, user_id: str, enabled: bool, actor: Actor) -> User:
        """Enable or disable a user (UserStatusChanged); disabling ends their sessions. Setting the status a user
        already has changes nothing. The owner can never be disabled here."""
        if not isinstance(enabled, bool):
            raise InvalidInput("enabled must be true or false")
        user = self._user(tenant_id, user_id)
        target = UserStatus.ACTIVE if enabled else UserStatus.DISABLED
        if not enabled and user.role is UserRole.OWNER:
            raise Conflict("the tenant owner cannot be disabled")
        updated = user
        if user.status is not target:
            updated = replace(user, status=target, updated_at=self._now())
            try:
                self._commit(
                    [
                        ReplaceUser(updated, expected_status=user.status.value),
                        self._audit(
                            DetailType.USER_STATUS_CHANGED,
                            actor,
                            tenant_id,
                            userId=user.user_id,
                            previousStatus=user.status.value,
                            status=target.value,
                        ),
                    ]
                )
            except Conflict as exc:
                raise Conflict("the user changed concurrently; try again") from exc
        if not enabled:
            self._terminate(TerminationScope(tenant_id, user_id=user.user_id), "user disabled", actor)
        return public_user(updated)

    # --- tenant: apps --------------------------------------------------------------------------------------

    def list_apps(self, tenant_id: str, limit: int, cursor: str | None) -> Page[App]:
        """The tenant's apps (without secret hashes)."""
        validate_tenant_id(tenant_id)
        listing = self._directory.list_apps(tenant_id, _limit(limit), decode_cursor(cursor))
        return Page([public_app(a) for a in listing.items], encode_cursor(listing.next_start))

    def get_app(self, tenant_id: str, app_id: str) -> App:
        """One app of the tenant."""
        return public_app(self._app(tenant_id, app_id))

    def create_app(
        self,
        tenant_id: str,
        name: str,
        license_region: str,
        allowed_domains: list[str],
        plan_id: str,
        actor: Actor,
    ) -> CreatedApp:
        """A new enabled app on an active plan, with its secret (shown once). AppCreated + AppPlanChanged; a
        Free plan claims the tenant's one Free slot in the same transaction."""
        self._tenant(tenant_id)
        domains = _domains(allowed_domains)
        plan = self._active_plan(plan_id)
        app, secret, writes = self._entries.new_app(
            tenant_id, name, license_region, domains, plan_id=plan.plan_id, actor=actor
        )
        writes.append(
            self._audit(
                DetailType.APP_PLAN_CHANGED,
                actor,
                tenant_id,
                app.app_id,
                previousPlanId=None,
                planId=plan.plan_id,
                free=plan.free,
            )
        )
        if plan.free:
            writes.append(ClaimFreePlan(tenant_id, app.app_id))
        try:
            self._commit(writes)
        except Conflict as exc:
            if plan.free and self._directory.free_plan_holder(tenant_id) not in (None, app.app_id):
                raise Conflict("the tenant already has an app on a Free plan") from exc
            raise Conflict("the tenant already has an app with this name") from exc
        return CreatedApp(public_app(app), secret)

    def regenerate_app_secret(self, tenant_id: str, app_id: str, actor: Actor) -> CreatedApp:
        """A new secret (shown once); the old one and every refresh-token family of the app die at once."""
        self._app(tenant_id, app_id)
        with self._locks.hold(app_lock(tenant_id, app_id)) as lease:
            app, secret = self._entries.regenerate_secret(tenant_id, app_id, actor, lease=lease)
        self._published()
        return CreatedApp(public_app(app), secret)

    def set_app_domains(self, tenant_id: str, app_id: str, allowed_domains: list[str], actor: Actor) -> App:
        """Replace the app's allowed domains (≤ 3, normalised). The same set again changes nothing."""
        domains = _domains(allowed_domains)
        self._app(tenant_id, app_id)
        with self._locks.hold(app_lock(tenant_id, app_id)) as lease:
            app = self._app(tenant_id, app_id)
            if app.allowed_domains == domains:
                return public_app(app)
            updated = replace(app, allowed_domains=domains, updated_at=self._now())
            self._commit_app_change(
                lease,
                app,
                updated,
                self._audit(
                    DetailType.APP_DOMAINS_CHANGED,
                    actor,
                    tenant_id,
                    app_id,
                    previousDomains=list(app.allowed_domains),
                    allowedDomains=list(domains),
                ),
            )
        return public_app(updated)

    def set_app_plan(self, tenant_id: str, app_id: str, plan_id: str, actor: Actor) -> App:
        """Move the app to another active plan. Entering a Free plan claims the tenant's one Free slot (a second
        Free app is ``Conflict``); leaving it releases the slot — in the same transaction as the change."""
        plan = self._active_plan(plan_id)
        self._app(tenant_id, app_id)
        with self._locks.hold(app_lock(tenant_id, app_id)) as lease:
            app = self._app(tenant_id, app_id)
            if app.plan_id == plan.plan_id:
                return public_app(app)
            holds_free = self._directory.free_plan_holder(tenant_id) == app.app_id
            updated = replace(app, plan_id=plan.plan_id, updated_at=self._now())
            extra: list[Write] = []
            if plan.free:
                extra.append(ClaimFreePlan(tenant_id, app.app_id))
            elif holds_free:
                extra.append(ReleaseFreePlan(tenant_id, app.app_id))
            event = self._audit(
                DetailType.APP_PLAN_CHANGED,
                actor,
                tenant_id,
                app_id,
                previousPlanId=app.plan_id,
                planId=plan.plan_id,
                free=plan.free,
            )
            try:
                self._commit_app_change(lease, app, updated, event, *extra)
            except LeaseLost:
                raise
            except Conflict as exc:
                if plan.free:
                    raise Conflict("the tenant already has an app on a Free plan") from exc
                raise
        return public_app(updated)

    def set_app_status(self, tenant_id: str, app_id: str, enabled: bool, actor: Actor) -> App:
        """Enable or disable the app (AppStatusChanged); disabling ends its sessions. Setting the status it
        already has changes nothing."""
        if not isinstance(enabled, bool):
            raise InvalidInput("enabled must be true or false")
        target = AppStatus.ENABLED if enabled else AppStatus.DISABLED
        self._app(tenant_id, app_id)
        with self._locks.hold(app_lock(tenant_id, app_id)) as lease:
            app = self._app(tenant_id, app_id)
            updated = app
            if app.status is not target:
                updated = replace(app, status=target, updated_at=self._now())
                self._commit_app_change(
                    lease,
                    app,
                    updated,
                    self._audit(
                        DetailType.APP_STATUS_CHANGED,
                        actor,
                        tenant_id,
                        app_id,
                        previousStatus=app.status.value,
                        status=target.value,
                    ),
                )
        if not enabled:
            self._terminate(TerminationScope(tenant_id, app_id=app_id), "app disabled", actor)
        return public_app(updated)

    def delete_app(self, tenant_id: str, app_id: str, actor: Actor) -> None:
        """Delete the app, its client id and its name (both free for reuse) and its Free slot; its sessions end.
        Its refresh tokens die with its client id."""
        self._app(tenant_id, app_id)
        with self._locks.hold(app_lock(tenant_id, app_id)) as lease:
            app = self._app(tenant_id, app_id)
            writes: list[Write] = [
                CheckLease(lease),
                DeleteApp(app, expected_generation=app.credential_generation),
                self._audit(DetailType.APP_DELETED, actor, tenant_id, app_id, clientId=app.client_id, name=app.name),
            ]
            if self._directory.free_plan_holder(tenant_id) == app.app_id:
                writes.append(ReleaseFreePlan(tenant_id, app.app_id))
            try:
                self._commit(writes)
            except LeaseLost:
                raise
            except Conflict as exc:
                raise Conflict("the app changed concurrently; try again") from exc
        self._terminate(TerminationScope(tenant_id, app_id=app_id), "app deleted", actor)

    def _commit_app_change(self, lease: Lease, app: App, updated: App, event: RecordAudit, *extra: Write) -> None:
        try:
            self._commit(
                [
                    CheckLease(lease),
                    ReplaceApp(updated, expected_generation=app.credential_generation),
                    event,
                    *extra,
                ]
            )
        except LeaseLost:
            raise
        except Conflict as exc:
            if extra:
                raise
            raise Conflict("the app changed concurrently; try again") from exc

    # --- tenant: keys --------------------------------------------------------------------------------------

    def list_keys(self, tenant_id: str) -> list[SigningKey]:
        """Every key of the tenant, without private material: active, next, retiring, then ended ones."""
        tenant, keys = self._directory.tenant_with_keys(validate_tenant_id(tenant_id))
        if tenant is None:
            raise NotFound("no such tenant")
        ordered = sorted(keys, key=lambda k: (_KEY_ORDER.get(k.state, 9), -k.created_at, k.kid))
        return [public_key(k) for k in ordered]

    def rotate_keys(self, tenant_id: str, actor: Actor) -> Rotation:
        """Rotate now (SigningKeyRotated, SigningKeyCreated)."""
        return self._vault.rotate(tenant_id, actor)  # the vault publishes its events after its commit

    def revoke_keys(self, tenant_id: str, actor: Actor, reason: str) -> Revocation:
        """Emergency revoke: every live key revoked, a fresh pair installed, every session of the tenant ended."""
        why = _reason(reason, "emergency")
        revocation = self._vault.revoke_all(tenant_id, actor, why)  # published by the vault after its commit
        self._terminate(TerminationScope(tenant_id), f"keys revoked: {why}", actor)
        return revocation
