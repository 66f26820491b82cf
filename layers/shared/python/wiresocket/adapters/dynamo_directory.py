"""pynamodb implementations of the ``Directory``, ``LockStore`` and ``Outbox`` ports."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
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
    AppItem,
    AuditItem,
    ClientRefItem,
    DashboardClientItem,
    DirectoryItem,
    FreePlanClaimItem,
    LockItem,
    PlanItem,
    RefreshFamilyItem,
    RefreshTokenItem,
    SecretPepperItem,
    SigningKeyItem,
    TenantItem,
    UniqueNameItem,
    UserItem,
    UsernameRefItem,
)
from wiresocket.domain.apps import App, AppStatus
from wiresocket.domain.audit import Actor, ActorType, AuditEvent, DetailType
from wiresocket.domain.clients import ClientKind, ClientRef, DashboardClient
from wiresocket.domain.errors import Conflict, DependencyUnavailable, InvalidInput, LeaseLost
from wiresocket.domain.keys import EncryptedPrivateKey, KeyState, SigningKey
from wiresocket.domain.plans import Plan, PlanLimits, PlanStatus
from wiresocket.domain.refresh import FamilyStatus, RefreshFamily, RefreshStatus, RefreshToken, SubjectKind
from wiresocket.domain.tenants import Tenant, TenantStatus
from wiresocket.domain.time import iso_utc
from wiresocket.domain.users import User, UserRole, UserStatus
from wiresocket.names import PLATFORM_TENANT_ID
from wiresocket.ports import (
    CheckLease,
    CheckRefreshFamilyActive,
    ClaimFreePlan,
    ConsumeRefreshToken,
    DeleteApp,
    Lease,
    Listing,
    PageStart,
    PutApp,
    PutDashboardClient,
    PutKey,
    PutPlan,
    PutRefreshFamily,
    PutRefreshToken,
    PutSecretPepper,
    PutTenant,
    PutUser,
    RecordAudit,
    ReleaseFreePlan,
    ReplaceApp,
    ReplaceKey,
    ReplaceSecretPepper,
    ReplaceTenant,
    ReplaceUser,
    RevokeRefreshFamily,
    Write,
)

PENDING = "1"
PLATFORM_AUDIT = "platform"
TENANTS_GSI = "TENANTS"
PLANS_GSI = "PLANS"
AUDIT_GSI = "AUDIT"
FREE_PLAN_SK = "FREEPLAN"
MAX_START_VALUE = 512


def tenant_pk(tenant_id: str) -> str:
    """Partition key of a tenant's items."""
    return f"TENANT#{tenant_id}"


def _lock_pk(name: str) -> str:
    return f"LOCK#{name}"


def _checked_start(
    start: PageStart | None, expected: Mapping[str, Callable[[str], bool]]
) -> dict[str, dict[str, str]] | None:
    """``start`` as a DynamoDB ExclusiveStartKey, only if it has exactly the key attributes of the listing and
    each belongs to the partition being listed: a forged cursor can never reach another partition."""
    if start is None:
        return None
    if set(start) != set(expected):
        raise InvalidInput("cursor does not belong to this listing")
    for name, value in start.items():
        if not isinstance(value, str) or not 0 < len(value) <= MAX_START_VALUE or not expected[name](value):
            raise InvalidInput("cursor does not belong to this listing")
    return {name: {"S": value} for name, value in start.items()}


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
        gsi1pk=TENANTS_GSI,
        gsi1sk=f"{tenant.status.value}#{tenant.created_at:012d}#{tenant.tenant_id}",
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
        gsi1pk=AUDIT_GSI,
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


# --- apps, users, plans, clients, refresh tokens (issue 3) ---------------------------------------------

PEPPER_PK = "CONFIG#client-secret-pepper"
REFRESH_TTL_SLACK = 7 * 24 * 3600  # keep expired refresh items a week for forensics, then let TTL drop them


def _client_pk(client_id: str) -> str:
    return f"CLIENT#{client_id}"


def _username_pk(username: str) -> str:
    return f"USERNAME#{username}"


def _plan_item(plan: Plan) -> PlanItem:
    limits = plan.limits
    return PlanItem(
        f"PLAN#{plan.plan_id}",
        "PLAN",
        plan_id=plan.plan_id,
        name=plan.name,
        status=plan.status.value,
        free=plan.free,
        max_connections=limits.max_connections,
        max_documents=limits.max_documents,
        max_users_per_doc=limits.max_users_per_doc,
        ops_per_minute=limits.ops_per_minute,
        created_at=plan.created_at,
        gsi1pk=PLANS_GSI,
        gsi1sk=plan.plan_id,
    )


def _plan(item: PlanItem) -> Plan:
    return Plan(
        plan_id=item.plan_id,
        name=item.name,
        status=PlanStatus(item.status),
        limits=PlanLimits(
            max_connections=int(item.max_connections),
            max_documents=int(item.max_documents),
            max_users_per_doc=int(item.max_users_per_doc),
            ops_per_minute=int(item.ops_per_minute),
        ),
        free=bool(item.free),
        created_at=int(item.created_at),
    )


def _app_item(app: App) -> AppItem:
    return AppItem(
        tenant_pk(app.tenant_id),
        f"APP#{app.app_id}",
        tenant_id=app.tenant_id,
        app_id=app.app_id,
        name=app.name,
        client_id=app.client_id,
        secret_hash=app.secret_hash,
        status=app.status.value,
        license_region=app.license_region,
        allowed_domains=list(app.allowed_domains),
        plan_id=app.plan_id,
        credential_generation=app.credential_generation,
        created_at=app.created_at,
        updated_at=app.updated_at,
        gsi1pk=_client_pk(app.client_id),
        gsi1sk="APP",
    )


def _app(item: AppItem) -> App:
    return App(
        tenant_id=item.tenant_id,
        app_id=item.app_id,
        name=item.name,
        client_id=item.client_id,
        secret_hash=item.secret_hash,
        status=AppStatus(item.status),
        license_region=item.license_region,
        allowed_domains=tuple(str(d) for d in item.allowed_domains or ()),
        plan_id=item.plan_id,
        credential_generation=int(item.credential_generation),
        created_at=int(item.created_at),
        updated_at=int(item.updated_at),
    )


def _user_item(user: User) -> UserItem:
    return UserItem(
        tenant_pk(user.tenant_id),
        f"USER#{user.user_id}",
        tenant_id=user.tenant_id,
        user_id=user.user_id,
        username=user.username,
        password_hash=user.password_hash,
        role=user.role.value,
        status=user.status.value,
        created_at=user.created_at,
        updated_at=user.updated_at,
        gsi1pk=_username_pk(user.username),
        gsi1sk="USER",
    )


def _user(item: UserItem) -> User:
    return User(
        tenant_id=item.tenant_id,
        user_id=item.user_id,
        username=item.username,
        password_hash=item.password_hash,
        role=UserRole(item.role),
        status=UserStatus(item.status),
        created_at=int(item.created_at),
        updated_at=int(item.updated_at),
    )


def _dashboard_item(client: DashboardClient) -> DashboardClientItem:
    return DashboardClientItem(
        tenant_pk(PLATFORM_TENANT_ID),
        f"DASHBOARD#{client.client_id}",
        client_id=client.client_id,
        name=client.name,
        secret_hash=client.secret_hash,
        trusted=client.trusted,
        enabled=client.enabled,
        credential_generation=client.credential_generation,
        created_at=client.created_at,
    )


def _dashboard(item: DashboardClientItem) -> DashboardClient:
    return DashboardClient(
        client_id=item.client_id,
        name=item.name,
        secret_hash=item.secret_hash,
        trusted=bool(item.trusted),
        enabled=bool(item.enabled),
        credential_generation=int(item.credential_generation),
        created_at=int(item.created_at),
    )


def _family_item(family: RefreshFamily) -> RefreshFamilyItem:
    return RefreshFamilyItem(
        f"FAMILY#{family.family_id}",
        "FAMILY",
        family_id=family.family_id,
        tenant_id=family.tenant_id,
        subject_kind=family.subject_kind.value,
        subject_id=family.subject_id,
        client_id=family.client_id,
        scope=family.scope,
        credential_generation=family.credential_generation,
        status=family.status.value,
        created_at=family.created_at,
        expires_at=family.expires_at,
        revoked_at=family.revoked_at,
        revoked_reason=family.revoked_reason,
        expires_at_ttl=family.expires_at + REFRESH_TTL_SLACK,
    )


def _family(item: RefreshFamilyItem) -> RefreshFamily:
    return RefreshFamily(
        family_id=item.family_id,
        tenant_id=item.tenant_id,
        subject_kind=SubjectKind(item.subject_kind),
        subject_id=item.subject_id,
        client_id=item.client_id,
        scope=item.scope,
        credential_generation=int(item.credential_generation),
        status=FamilyStatus(item.status),
        created_at=int(item.created_at),
        expires_at=int(item.expires_at),
        revoked_at=_opt_int(item.revoked_at),
        revoked_reason=item.revoked_reason,
    )


def _refresh_item(token: RefreshToken) -> RefreshTokenItem:
    return RefreshTokenItem(
        f"REFRESH#{token.token_hash}",
        "REFRESH",
        token_hash=token.token_hash,
        family_id=token.family_id,
        tenant_id=token.tenant_id,
        client_id=token.client_id,
        status=token.status.value,
        issued_at=token.issued_at,
        expires_at=token.expires_at,
        used_at=token.used_at,
        expires_at_ttl=token.expires_at + REFRESH_TTL_SLACK,
    )


def _refresh(item: RefreshTokenItem) -> RefreshToken:
    return RefreshToken(
        token_hash=item.token_hash,
        family_id=item.family_id,
        tenant_id=item.tenant_id,
        client_id=item.client_id,
        status=RefreshStatus(item.status),
        issued_at=int(item.issued_at),
        expires_at=int(item.expires_at),
        used_at=_opt_int(item.used_at),
    )


# --- Directory ---------------------------------------------------------------------------------------------


class DynamoDirectory:
    """The ``Directory`` port over the directory table."""

    def _connection(self) -> Connection:
        # The models' own cached connection (and botocore client): building a client per commit costs
        # ~100 ms. ``bind_directory`` drops it, so a new binding still takes effect.
        connection: Connection = DirectoryItem._get_connection().connection
        return connection

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

    # --- identity reads (issue 3): strongly consistent GetItems -----------------------------------------

    @staticmethod
    def _get(model: type[Any], pk: str, sk: str) -> Any:
        try:
            return model.get(pk, sk, consistent_read=True)
        except model.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise DependencyUnavailable("directory unavailable") from exc

    def client(self, client_id: str) -> ClientRef | None:
        """The ``client_id`` registry entry."""
        item = self._get(ClientRefItem, _client_pk(client_id), "CLIENT")
        if not isinstance(item, ClientRefItem):
            return None
        return ClientRef(client_id, ClientKind(item.client_kind), item.tenant_id, item.app_id)

    def app(self, tenant_id: str, app_id: str) -> App | None:
        """One app."""
        item = self._get(AppItem, tenant_pk(tenant_id), f"APP#{app_id}")
        return _app(item) if isinstance(item, AppItem) else None

    def plan(self, plan_id: str) -> Plan | None:
        """One plan."""
        item = self._get(PlanItem, f"PLAN#{plan_id}", "PLAN")
        return _plan(item) if isinstance(item, PlanItem) else None

    def user(self, tenant_id: str, user_id: str) -> User | None:
        """One user."""
        item = self._get(UserItem, tenant_pk(tenant_id), f"USER#{user_id}")
        return _user(item) if isinstance(item, UserItem) else None

    def user_by_username(self, username: str) -> User | None:
        """Registry entry, then the user (two consistent reads)."""
        ref = self._get(UsernameRefItem, _username_pk(username), "USERNAME")
        if not isinstance(ref, UsernameRefItem):
            return None
        return self.user(ref.tenant_id, ref.user_id)

    def dashboard_client(self, client_id: str) -> DashboardClient | None:
        """One dashboard client."""
        item = self._get(DashboardClientItem, tenant_pk(PLATFORM_TENANT_ID), f"DASHBOARD#{client_id}")
        return _dashboard(item) if isinstance(item, DashboardClientItem) else None

    def refresh_token(self, token_hash: str) -> RefreshToken | None:
        """One refresh token by hash."""
        item = self._get(RefreshTokenItem, f"REFRESH#{token_hash}", "REFRESH")
        return _refresh(item) if isinstance(item, RefreshTokenItem) else None

    def refresh_family(self, family_id: str) -> RefreshFamily | None:
        """One family."""
        item = self._get(RefreshFamilyItem, f"FAMILY#{family_id}", "FAMILY")
        return _family(item) if isinstance(item, RefreshFamilyItem) else None

    def secret_pepper(self) -> tuple[bytes, str] | None:
        """The wrapped client-secret hashing key."""
        item = self._get(SecretPepperItem, PEPPER_PK, "CONFIG")
        return (item.wrapped, item.master_key_id) if isinstance(item, SecretPepperItem) else None

    # --- admin listings (issue 4): one Query each, paginated by the last item's key ---------------------------

    @staticmethod
    def _page(
        results: Iterator[Any], limit: int, key_names: tuple[str, ...]
    ) -> tuple[list[Any], dict[str, str] | None]:
        """Up to ``limit`` items (the query asked for one more, to know whether another page exists) and the
        start key of the next page: the key of the last item returned."""
        try:
            items = list(results)
        except PynamoDBException as exc:
            raise DependencyUnavailable("directory unavailable") from exc
        if len(items) <= limit:
            return items, None
        items = items[:limit]
        last = items[-1]
        return items, {name: str(getattr(last, name)) for name in key_names}

    def list_tenants(self, status: TenantStatus | None, limit: int, start: PageStart | None) -> Listing[Tenant]:
        """Tenants through gsi1 ``TENANTS`` (status, then creation order)."""
        prefix = f"{status.value}#" if status is not None else ""
        checked = _checked_start(
            start,
            {
                "pk": lambda v: v.startswith("TENANT#"),
                "sk": lambda v: v == "TENANT",
                "gsi1pk": lambda v: v == TENANTS_GSI,
                "gsi1sk": lambda v: v.startswith(prefix),
            },
        )
        results = DirectoryItem.gsi1.query(
            TENANTS_GSI,
            DirectoryItem.gsi1sk.startswith(prefix) if prefix else None,
            limit=limit + 1,
            page_size=limit + 1,
            last_evaluated_key=checked,
        )
        items, after = self._page(results, limit, ("pk", "sk", "gsi1pk", "gsi1sk"))
        return Listing([_tenant(i) for i in items if isinstance(i, TenantItem)], after)

    def _tenant_items(
        self, tenant_id: str, prefix: str, limit: int, start: PageStart | None
    ) -> tuple[list[Any], dict[str, str] | None]:
        pk = tenant_pk(tenant_id)
        checked = _checked_start(start, {"pk": lambda v: v == pk, "sk": lambda v: v.startswith(prefix)})
        results = DirectoryItem.query(
            pk,
            DirectoryItem.sk.startswith(prefix),
            consistent_read=True,
            limit=limit + 1,
            page_size=limit + 1,
            last_evaluated_key=checked,
        )
        return self._page(results, limit, ("pk", "sk"))

    def list_apps(self, tenant_id: str, limit: int, start: PageStart | None) -> Listing[App]:
        """The tenant's apps (``APP#…`` items of its partition)."""
        items, after = self._tenant_items(tenant_id, "APP#", limit, start)
        return Listing([_app(i) for i in items if isinstance(i, AppItem)], after)

    def list_users(self, tenant_id: str, limit: int, start: PageStart | None) -> Listing[User]:
        """The tenant's users (``USER#…`` items of its partition)."""
        items, after = self._tenant_items(tenant_id, "USER#", limit, start)
        return Listing([_user(i) for i in items if isinstance(i, UserItem)], after)

    def list_plans(self) -> list[Plan]:
        """Every plan, through gsi1 ``PLANS``."""
        try:
            return [_plan(i) for i in DirectoryItem.gsi1.query(PLANS_GSI) if isinstance(i, PlanItem)]
        except PynamoDBException as exc:
            raise DependencyUnavailable("directory unavailable") from exc

    def list_audit(self, tenant_id: str | None, limit: int, start: PageStart | None) -> Listing[AuditEvent]:
        """Newest first: the tenant's ``AUDIT#{tenantId}`` partition, or every event through gsi1 ``AUDIT``."""
        if tenant_id is not None:
            pk = f"AUDIT#{tenant_id}"
            checked = _checked_start(start, {"pk": lambda v: v == pk, "sk": lambda v: True})
            results = DirectoryItem.query(
                pk,
                consistent_read=True,
                scan_index_forward=False,
                limit=limit + 1,
                page_size=limit + 1,
                last_evaluated_key=checked,
            )
            items, after = self._page(results, limit, ("pk", "sk"))
        else:
            checked = _checked_start(
                start,
                {
                    "pk": lambda v: v.startswith("AUDIT#"),
                    "sk": lambda v: True,
                    "gsi1pk": lambda v: v == AUDIT_GSI,
                    "gsi1sk": lambda v: True,
                },
            )
            if start is not None and start["sk"] != start["gsi1sk"]:
                raise InvalidInput("cursor does not belong to this listing")
            results = DirectoryItem.gsi1.query(
                AUDIT_GSI,
                scan_index_forward=False,
                limit=limit + 1,
                page_size=limit + 1,
                last_evaluated_key=checked,
            )
            items, after = self._page(results, limit, ("pk", "sk", "gsi1pk", "gsi1sk"))
        return Listing([audit_event(i) for i in items if isinstance(i, AuditItem)], after)

    def free_plan_holder(self, tenant_id: str) -> str | None:
        """The app holding the tenant's Free-plan slot."""
        item = self._get(FreePlanClaimItem, tenant_pk(tenant_id), FREE_PLAN_SK)
        return str(item.app_id) if isinstance(item, FreePlanClaimItem) else None

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
        elif isinstance(write, PutPlan):
            tx.save(_plan_item(write.plan), condition=PlanItem.pk.does_not_exist())
        elif isinstance(write, PutApp):
            app = write.app
            tx.save(_app_item(app), condition=AppItem.pk.does_not_exist())
            tx.save(
                ClientRefItem(
                    _client_pk(app.client_id),
                    "CLIENT",
                    client_kind=ClientKind.APP.value,
                    tenant_id=app.tenant_id,
                    app_id=app.app_id,
                ),
                condition=ClientRefItem.pk.does_not_exist(),
            )
            tx.save(
                UniqueNameItem(tenant_pk(app.tenant_id), f"APPNAME#{app.name.lower()}", owner_id=app.app_id),
                condition=UniqueNameItem.pk.does_not_exist(),
            )
        elif isinstance(write, ReplaceApp):
            tx.save(
                _app_item(write.app),
                condition=AppItem.pk.exists() & (AppItem.credential_generation == write.expected_generation),
            )
        elif isinstance(write, PutUser):
            user = write.user
            tx.save(_user_item(user), condition=UserItem.pk.does_not_exist())
            tx.save(
                UsernameRefItem(
                    _username_pk(user.username), "USERNAME", tenant_id=user.tenant_id, user_id=user.user_id
                ),
                condition=UsernameRefItem.pk.does_not_exist(),
            )
        elif isinstance(write, PutDashboardClient):
            client = write.client
            tx.save(_dashboard_item(client), condition=DashboardClientItem.pk.does_not_exist())
            tx.save(
                ClientRefItem(
                    _client_pk(client.client_id),
                    "CLIENT",
                    client_kind=ClientKind.DASHBOARD.value,
                    tenant_id=PLATFORM_TENANT_ID,
                    app_id=None,
                ),
                condition=ClientRefItem.pk.does_not_exist(),
            )
        elif isinstance(write, PutRefreshFamily):
            tx.save(_family_item(write.family), condition=RefreshFamilyItem.pk.does_not_exist())
        elif isinstance(write, CheckRefreshFamilyActive):
            tx.condition_check(
                RefreshFamilyItem,
                f"FAMILY#{write.family_id}",
                "FAMILY",
                condition=RefreshFamilyItem.status == FamilyStatus.ACTIVE.value,
            )
        elif isinstance(write, RevokeRefreshFamily):
            tx.save(_family_item(write.family), condition=RefreshFamilyItem.status == FamilyStatus.ACTIVE.value)
        elif isinstance(write, PutRefreshToken):
            tx.save(_refresh_item(write.token), condition=RefreshTokenItem.pk.does_not_exist())
        elif isinstance(write, ConsumeRefreshToken):
            tx.save(_refresh_item(write.token), condition=RefreshTokenItem.status == RefreshStatus.ACTIVE.value)
        elif isinstance(write, PutSecretPepper):
            tx.save(
                SecretPepperItem(PEPPER_PK, "CONFIG", wrapped=write.wrapped, master_key_id=write.master_key_id),
                condition=SecretPepperItem.pk.does_not_exist(),
            )
        else:
            _add_admin_write(tx, write)
        # CheckLease was added as a condition check above.


def _add_admin_write(tx: TransactWrite, write: Write) -> None:
    """The admin API's writes (issue 4); anything else (``CheckLease``) was added as a condition check."""
    if isinstance(write, ReplaceUser):
        tx.save(
            _user_item(write.user),
            condition=UserItem.pk.exists() & (UserItem.status == write.expected_status),
        )
    elif isinstance(write, ClaimFreePlan):
        tx.save(
            FreePlanClaimItem(tenant_pk(write.tenant_id), FREE_PLAN_SK, app_id=write.app_id),
            condition=FreePlanClaimItem.pk.does_not_exist() | (FreePlanClaimItem.app_id == write.app_id),
        )
    elif isinstance(write, ReleaseFreePlan):
        tx.delete(
            FreePlanClaimItem(tenant_pk(write.tenant_id), FREE_PLAN_SK),
            condition=FreePlanClaimItem.pk.does_not_exist() | (FreePlanClaimItem.app_id == write.app_id),
        )
    elif isinstance(write, DeleteApp):
        app = write.app
        tx.delete(
            AppItem(tenant_pk(app.tenant_id), f"APP#{app.app_id}"),
            condition=AppItem.pk.exists() & (AppItem.credential_generation == write.expected_generation),
        )
        tx.delete(ClientRefItem(_client_pk(app.client_id), "CLIENT"), condition=ClientRefItem.app_id == app.app_id)
        tx.delete(
            UniqueNameItem(tenant_pk(app.tenant_id), f"APPNAME#{app.name.lower()}"),
            condition=UniqueNameItem.owner_id == app.app_id,
        )
    elif isinstance(write, ReplaceSecretPepper):
        tx.save(
            SecretPepperItem(PEPPER_PK, "CONFIG", wrapped=write.wrapped, master_key_id=write.master_key_id),
            condition=SecretPepperItem.master_key_id == write.expected_master_key_id,
        )


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
