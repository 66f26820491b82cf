"""In-memory implementations of the ports, with the same semantics as the AWS adapters (conditions,
atomicity, context binding), for unit tests and benchmarks."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wiresocket.domain.apps import App
from wiresocket.domain.audit import AuditEvent
from wiresocket.domain.clients import ClientKind, ClientRef, DashboardClient
from wiresocket.domain.errors import Conflict, DependencyUnavailable, IntegrityError, InvalidInput, LeaseLost
from wiresocket.domain.keys import SigningKey
from wiresocket.domain.plans import Plan
from wiresocket.domain.refresh import FamilyStatus, RefreshFamily, RefreshStatus, RefreshToken
from wiresocket.domain.tenants import Tenant, TenantStatus
from wiresocket.domain.time import iso_utc
from wiresocket.domain.users import User
from wiresocket.names import PLATFORM_TENANT_ID
from wiresocket.ports import (
    CheckLease,
    CheckRefreshFamilyActive,
    ClaimFreePlan,
    ConsumeRefreshToken,
    DataKey,
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


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class FakeKeyWrapper:
    """A KMS stand-in: AES-GCM under per-master-key secrets, with the context bound as AAD (as KMS does)."""

    def __init__(self, current: str = "arn:fake:kms:key/one") -> None:
        self.current = current
        self._secrets: dict[str, bytes] = {}
        self.calls = 0
        self.fail = False

    def _secret(self, key_id: str) -> bytes:
        return self._secrets.setdefault(key_id, hashlib.sha256(key_id.encode()).digest())

    @staticmethod
    def _aad(context: Mapping[str, str]) -> bytes:
        return json.dumps(dict(context), sort_keys=True).encode()

    def _check(self) -> None:
        self.calls += 1
        if self.fail:
            raise DependencyUnavailable("fake KMS down")

    def _wrap(self, key_id: str, plaintext: bytes, context: Mapping[str, str]) -> bytes:
        nonce = os.urandom(12)
        body = AESGCM(self._secret(key_id)).encrypt(nonce, plaintext, self._aad(context))
        return key_id.encode() + b"|" + nonce + body

    def generate_data_key(self, context: Mapping[str, str]) -> DataKey:
        self._check()
        plaintext = os.urandom(32)
        return DataKey(plaintext, self._wrap(self.current, plaintext, context), self.current)

    def unwrap(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        self._check()
        key_id, _, rest = wrapped.partition(b"|")
        try:
            return AESGCM(self._secret(key_id.decode())).decrypt(rest[:12], rest[12:], self._aad(context))
        except InvalidTag as exc:
            raise IntegrityError("fake KMS: context mismatch") from exc

    def rewrap(self, wrapped: bytes, context: Mapping[str, str], target_master_key: str) -> tuple[bytes, str]:
        plaintext = self.unwrap(wrapped, context)
        return self._wrap(target_master_key, plaintext, context), target_master_key

    def resolve(self, master_key: str) -> str:
        return master_key


class KeyTable(dict[tuple[str, str], SigningKey]):
    """Signing keys by (tenant, kid), also indexed by tenant: DynamoDB answers a tenant's keys with a keyed
    Query, so the fake must not scan every key of every tenant either (the token benchmark reads it per
    request)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_tenant: dict[str, dict[str, SigningKey]] = {}

    def __setitem__(self, key: tuple[str, str], value: SigningKey) -> None:
        super().__setitem__(key, value)
        self.by_tenant.setdefault(key[0], {})[key[1]] = value


class MemoryStore:
    """Directory + lock store + outbox over dicts, one lock for atomic commits."""

    def __init__(self) -> None:
        self.tenants: dict[str, Tenant] = {}
        self.keys: KeyTable = KeyTable()
        self.locks: dict[str, tuple[str | None, float, int]] = {}
        self.events: dict[str, AuditEvent] = {}
        self.published: dict[str, float] = {}
        self.commits = 0
        self.fail = False
        self._mutex = threading.RLock()
        # issue 3: identity entries and refresh tokens
        self.plans: dict[str, Plan] = {}
        self.apps: dict[tuple[str, str], App] = {}
        self.app_names: set[tuple[str, str]] = set()
        self.users: dict[tuple[str, str], User] = {}
        self.usernames: dict[str, tuple[str, str]] = {}
        self.dashboards: dict[str, DashboardClient] = {}
        self.clients: dict[str, ClientRef] = {}
        self.families: dict[str, RefreshFamily] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.pepper: tuple[bytes, str] | None = None
        self.reads = 0
        # issue 4: the Free-plan slot per tenant (tenant id -> app id)
        self.free_plans: dict[str, str] = {}

    # IdentityDirectory reads (issue 3)
    def client(self, client_id: str) -> ClientRef | None:
        self._check()
        self.reads += 1
        return self.clients.get(client_id)

    def app(self, tenant_id: str, app_id: str) -> App | None:
        self._check()
        self.reads += 1
        return self.apps.get((tenant_id, app_id))

    def plan(self, plan_id: str) -> Plan | None:
        self._check()
        self.reads += 1
        return self.plans.get(plan_id)

    def user(self, tenant_id: str, user_id: str) -> User | None:
        self._check()
        self.reads += 1
        return self.users.get((tenant_id, user_id))

    def user_by_username(self, username: str) -> User | None:
        self._check()
        self.reads += 1
        ref = self.usernames.get(username)
        return self.users.get(ref) if ref is not None else None

    def dashboard_client(self, client_id: str) -> DashboardClient | None:
        self._check()
        self.reads += 1
        return self.dashboards.get(client_id)

    def refresh_token(self, token_hash: str) -> RefreshToken | None:
        self._check()
        self.reads += 1
        return self.refresh_tokens.get(token_hash)

    def refresh_family(self, family_id: str) -> RefreshFamily | None:
        self._check()
        self.reads += 1
        return self.families.get(family_id)

    def secret_pepper(self) -> tuple[bytes, str] | None:
        self._check()
        return self.pepper

    # Directory
    def tenant_with_keys(self, tenant_id: str) -> tuple[Tenant | None, list[SigningKey]]:
        self._check()
        with self._mutex:
            return self.tenants.get(tenant_id), list(self.keys.by_tenant.get(tenant_id, {}).values())

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        self._check()
        return self.tenants.get(tenant_id)

    def all_keys(self) -> Iterator[SigningKey]:
        self._check()
        with self._mutex:
            snapshot = list(self.keys.values())
        yield from snapshot

    def _check(self) -> None:
        if self.fail:
            raise DependencyUnavailable("fake directory down")

    def commit(self, writes: Sequence[Write]) -> None:
        self._check()
        with self._mutex:
            for write in writes:  # all conditions first: nothing is applied unless all hold
                self._condition(write)
            for write in writes:
                self._apply(write)
            self.commits += 1

    def _condition(self, write: Write) -> None:
        if isinstance(write, CheckLease):
            owner, _, fence = self.locks.get(write.lease.name, (None, 0.0, 0))
            if owner != write.lease.owner or fence != write.lease.fence:
                raise LeaseLost("lease lost")
        elif isinstance(write, PutTenant) and write.tenant.tenant_id in self.tenants:
            raise Conflict("tenant exists")
        elif isinstance(write, ReplaceTenant):
            current = self.tenants.get(write.tenant.tenant_id)
            if current is None or current.status != write.expected_status:
                raise Conflict("tenant changed")
        elif isinstance(write, PutKey) and (write.key.tenant_id, write.key.kid) in self.keys:
            raise Conflict("key exists")
        elif isinstance(write, ReplaceKey):
            stored = self.keys.get((write.key.tenant_id, write.key.kid))
            if stored is None or stored.state != write.expected_state:
                raise Conflict("key changed")
            if write.expected_master_key_id is not None and (
                stored.sealed is None or stored.sealed.master_key_id != write.expected_master_key_id
            ):
                raise Conflict("key re-wrapped")
        elif isinstance(write, RecordAudit) and write.event.event_id in self.events:
            raise Conflict("event exists")
        else:
            self._identity_condition(write)

    def _identity_condition(self, write: Write) -> None:
        if isinstance(write, PutPlan) and write.plan.plan_id in self.plans:
            raise Conflict("plan exists")
        if isinstance(write, PutApp):
            app = write.app
            if (
                (app.tenant_id, app.app_id) in self.apps
                or app.client_id in self.clients
                or (app.tenant_id, app.name.lower()) in self.app_names
            ):
                raise Conflict("app, client id or app name exists")
        elif isinstance(write, ReplaceApp):
            stored = self.apps.get((write.app.tenant_id, write.app.app_id))
            if stored is None or stored.credential_generation != write.expected_generation:
                raise Conflict("app changed")
        elif isinstance(write, PutUser):
            if (write.user.tenant_id, write.user.user_id) in self.users or write.user.username in self.usernames:
                raise Conflict("user or username exists")
        elif isinstance(write, PutDashboardClient):
            if write.client.client_id in self.dashboards or write.client.client_id in self.clients:
                raise Conflict("client exists")
        elif isinstance(write, PutRefreshFamily) and write.family.family_id in self.families:
            raise Conflict("family exists")
        elif isinstance(write, CheckRefreshFamilyActive | RevokeRefreshFamily):
            family_id = write.family_id if isinstance(write, CheckRefreshFamilyActive) else write.family.family_id
            family = self.families.get(family_id)
            if family is None or family.status is not FamilyStatus.ACTIVE:
                raise Conflict("family not active")
        elif isinstance(write, PutRefreshToken) and write.token.token_hash in self.refresh_tokens:
            raise Conflict("refresh token exists")
        elif isinstance(write, ConsumeRefreshToken):
            stored_token = self.refresh_tokens.get(write.token.token_hash)
            if stored_token is None or stored_token.status is not RefreshStatus.ACTIVE:
                raise Conflict("refresh token not active")
        elif isinstance(write, PutSecretPepper) and self.pepper is not None:
            raise Conflict("pepper exists")
        else:
            self._admin_condition(write)

    def _admin_condition(self, write: Write) -> None:
        if isinstance(write, ReplaceUser):
            stored = self.users.get((write.user.tenant_id, write.user.user_id))
            if stored is None or stored.status.value != write.expected_status:
                raise Conflict("user changed")
        elif isinstance(write, ClaimFreePlan | ReleaseFreePlan):
            if self.free_plans.get(write.tenant_id, write.app_id) != write.app_id:
                raise Conflict("another app holds the Free plan")
        elif isinstance(write, DeleteApp):
            stored_app = self.apps.get((write.app.tenant_id, write.app.app_id))
            if stored_app is None or stored_app.credential_generation != write.expected_generation:
                raise Conflict("app changed")
        elif isinstance(write, ReplaceSecretPepper) and (
            self.pepper is None or self.pepper[1] != write.expected_master_key_id
        ):
            raise Conflict("pepper re-wrapped")

    def _apply(self, write: Write) -> None:
        if isinstance(write, PutTenant | ReplaceTenant):
            self.tenants[write.tenant.tenant_id] = write.tenant
        elif isinstance(write, PutKey | ReplaceKey):
            self.keys[(write.key.tenant_id, write.key.kid)] = write.key
        elif isinstance(write, RecordAudit):
            self.events[write.event.event_id] = write.event
        elif isinstance(write, PutPlan):
            self.plans[write.plan.plan_id] = write.plan
        elif isinstance(write, PutApp | ReplaceApp):
            app = write.app
            self.apps[(app.tenant_id, app.app_id)] = app
            self.clients[app.client_id] = ClientRef(app.client_id, ClientKind.APP, app.tenant_id, app.app_id)
            self.app_names.add((app.tenant_id, app.name.lower()))
        elif isinstance(write, PutUser):
            self.users[(write.user.tenant_id, write.user.user_id)] = write.user
            self.usernames[write.user.username] = (write.user.tenant_id, write.user.user_id)
        elif isinstance(write, PutDashboardClient):
            self.dashboards[write.client.client_id] = write.client
            self.clients[write.client.client_id] = ClientRef(
                write.client.client_id, ClientKind.DASHBOARD, PLATFORM_TENANT_ID
            )
        elif isinstance(write, PutRefreshFamily | RevokeRefreshFamily):
            self.families[write.family.family_id] = write.family
        elif isinstance(write, PutRefreshToken | ConsumeRefreshToken):
            self.refresh_tokens[write.token.token_hash] = write.token
        elif isinstance(write, PutSecretPepper | ReplaceSecretPepper):
            self.pepper = (write.wrapped, write.master_key_id)
        elif isinstance(write, ReplaceUser):
            self.users[(write.user.tenant_id, write.user.user_id)] = write.user
        elif isinstance(write, ClaimFreePlan):
            self.free_plans[write.tenant_id] = write.app_id
        elif isinstance(write, ReleaseFreePlan):
            self.free_plans.pop(write.tenant_id, None)
        elif isinstance(write, DeleteApp):
            gone = write.app
            self.apps.pop((gone.tenant_id, gone.app_id), None)
            self.clients.pop(gone.client_id, None)
            self.app_names.discard((gone.tenant_id, gone.name.lower()))

    # AdminDirectory (issue 4): the same key shapes and cursor checks as the DynamoDB adapter
    def list_tenants(self, status: TenantStatus | None, limit: int, start: PageStart | None) -> Listing[Tenant]:
        self._check()
        prefix = f"{status.value}#" if status is not None else ""
        _check_start(
            start,
            {
                "pk": lambda v: v.startswith("TENANT#"),
                "sk": lambda v: v == "TENANT",
                "gsi1pk": lambda v: v == "TENANTS",
                "gsi1sk": lambda v: v.startswith(prefix),
            },
        )
        with self._mutex:
            rows = [
                (
                    {
                        "pk": f"TENANT#{t.tenant_id}",
                        "sk": "TENANT",
                        "gsi1pk": "TENANTS",
                        "gsi1sk": f"{t.status.value}#{t.created_at:012d}#{t.tenant_id}",
                    },
                    t,
                )
                for t in self.tenants.values()
            ]
        rows = [r for r in rows if r[0]["gsi1sk"].startswith(prefix)]
        return _page(rows, limit, start, lambda k: (k["gsi1sk"], k["pk"], k["sk"]))

    def _tenant_rows(self, tenant_id: str, prefix: str, start: PageStart | None) -> str:
        pk = f"TENANT#{tenant_id}"
        _check_start(start, {"pk": lambda v: v == pk, "sk": lambda v: v.startswith(prefix)})
        return pk

    def list_apps(self, tenant_id: str, limit: int, start: PageStart | None) -> Listing[App]:
        self._check()
        pk = self._tenant_rows(tenant_id, "APP#", start)
        with self._mutex:
            rows = [({"pk": pk, "sk": f"APP#{a}"}, app) for (t, a), app in self.apps.items() if t == tenant_id]
        return _page(rows, limit, start, lambda k: (k["sk"],))

    def list_users(self, tenant_id: str, limit: int, start: PageStart | None) -> Listing[User]:
        self._check()
        pk = self._tenant_rows(tenant_id, "USER#", start)
        with self._mutex:
            rows = [({"pk": pk, "sk": f"USER#{u}"}, user) for (t, u), user in self.users.items() if t == tenant_id]
        return _page(rows, limit, start, lambda k: (k["sk"],))

    def list_plans(self) -> list[Plan]:
        self._check()
        return sorted(self.plans.values(), key=lambda p: p.plan_id)

    def list_audit(self, tenant_id: str | None, limit: int, start: PageStart | None) -> Listing[AuditEvent]:
        self._check()
        with self._mutex:
            events = list(self.events.values())
        if tenant_id is not None:
            pk = f"AUDIT#{tenant_id}"
            _check_start(start, {"pk": lambda v: v == pk, "sk": lambda v: True})
            rows = [({"pk": pk, "sk": _audit_sk(e)}, e) for e in events if e.tenant_id == tenant_id]
            return _page(rows, limit, start, lambda k: (k["sk"],), descending=True)
        _check_start(
            start,
            {
                "pk": lambda v: v.startswith("AUDIT#"),
                "sk": lambda v: True,
                "gsi1pk": lambda v: v == "AUDIT",
                "gsi1sk": lambda v: True,
            },
        )
        if start is not None and start["sk"] != start["gsi1sk"]:
            raise InvalidInput("cursor does not belong to this listing")
        all_rows = [
            (
                {
                    "pk": f"AUDIT#{e.tenant_id or 'platform'}",
                    "sk": _audit_sk(e),
                    "gsi1pk": "AUDIT",
                    "gsi1sk": _audit_sk(e),
                },
                e,
            )
            for e in events
        ]
        return _page(all_rows, limit, start, lambda k: (k["gsi1sk"], k["pk"]), descending=True)

    def free_plan_holder(self, tenant_id: str) -> str | None:
        self._check()
        return self.free_plans.get(tenant_id)

    # LockStore
    def try_acquire(self, name: str, owner: str, lease_seconds: float, now: float) -> Lease | None:
        self._check()
        with self._mutex:
            holder, expires, fence = self.locks.get(name, (None, 0.0, 0))
            if holder is not None and expires >= now:
                return None
            self.locks[name] = (owner, now + lease_seconds, fence + 1)
            return Lease(name, owner, now + lease_seconds, fence + 1)

    def release(self, lease: Lease) -> bool:
        with self._mutex:
            holder, _, fence = self.locks.get(lease.name, (None, 0.0, 0))
            if holder != lease.owner or fence != lease.fence:
                return False
            self.locks[lease.name] = (None, 0.0, fence)
            return True

    # Outbox
    def pending(self, limit: int) -> list[AuditEvent]:
        self._check()
        with self._mutex:
            waiting = [e for i, e in self.events.items() if i not in self.published]
        return sorted(waiting, key=lambda e: (e.occurred_at, e.event_id))[:limit]

    def mark_published(self, events: Sequence[AuditEvent], now: float) -> None:
        with self._mutex:
            for event in events:
                self.published.setdefault(event.event_id, now)


_T = TypeVar("_T")


def _audit_sk(event: AuditEvent) -> str:
    return f"{iso_utc(event.occurred_at)}#{event.event_id}"


def _check_start(start: PageStart | None, expected: Mapping[str, Callable[[str], bool]]) -> None:
    """The adapter's cursor check: exactly the listing's key attributes, each inside the listed partition."""
    if start is None:
        return
    if set(start) != set(expected):
        raise InvalidInput("cursor does not belong to this listing")
    for name, value in start.items():
        if not isinstance(value, str) or not 0 < len(value) <= 512 or not expected[name](value):
            raise InvalidInput("cursor does not belong to this listing")


def _page(
    rows: list[tuple[dict[str, str], _T]],
    limit: int,
    start: PageStart | None,
    order: Callable[[Mapping[str, str]], tuple[str, ...]],
    *,
    descending: bool = False,
) -> Listing[_T]:
    """Rows in key order, resumed after ``start``, at most ``limit``; the next start is the last row's key."""
    rows = sorted(rows, key=lambda r: order(r[0]), reverse=descending)
    if start is not None:
        pivot = order(start)
        rows = [r for r in rows if (order(r[0]) < pivot if descending else order(r[0]) > pivot)]
    page = rows[:limit]
    return Listing([item for _, item in page], dict(page[-1][0]) if len(rows) > limit else None)


class FakeMasterKeyManager:
    """The ``MasterKeyManager`` over a ``FakeKeyWrapper``: the wrapper's ``current`` plays the alias, and the two
    provisioned slots (``names.MASTER_KEY_SLOTS``) are slot a = the wrapper's first key and a fresh slot b."""

    SLOT_B = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-4000-8000-00000000000b"

    def __init__(self, wrapper: FakeKeyWrapper) -> None:
        from wiresocket.names import MASTER_KEY_SLOTS

        self.wrapper = wrapper
        self.slots: dict[str, str] = {MASTER_KEY_SLOTS[0]: wrapper.current, MASTER_KEY_SLOTS[1]: self.SLOT_B}
        self.known: set[str] = {wrapper.current, self.SLOT_B}

    def current(self) -> str:
        return self.wrapper.current

    def describe(self, key_ref: str) -> str:
        if key_ref in self.slots:
            return self.slots[key_ref]
        if key_ref not in self.known:
            raise InvalidInput("no such key")
        return key_ref

    def point_alias(self, key_arn: str) -> None:
        self.wrapper.current = key_arn


class MemoryBus:
    """An event bus that records what it accepted; can be told to fail."""

    def __init__(self) -> None:
        self.received: list[AuditEvent] = []
        self.down = False

    def put(self, events: Sequence[AuditEvent]) -> set[str]:
        if self.down:
            raise DependencyUnavailable("fake bus down")
        self.received.extend(events)
        return set()


def without_secret(key: SigningKey) -> SigningKey:
    """``key`` with its sealed material dropped (for comparisons)."""
    return replace(key, sealed=None)
