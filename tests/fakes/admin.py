"""A stand-in ``AdminOperations`` for edge tests, built from the real services that already exist.

It writes through the directory port wherever a write exists (tenants and keys via ``TenantService`` and
``KeyVault``, apps/users/plans via ``DirectoryEntries``), so a token verified after a change sees it: a
suspended tenant, a revoked key, a disabled user (through ``save_user``, since the port has no user
replacement yet). Lists and the audit trail come from in-memory registries of what it created or was told
about. Tenant scoping is real: another tenant's ids are ``NotFound``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from tests.fakes.oauth_world import PASSWORD, OAuthWorld
from tests.integration.rest import rest_event
from wiresocket.adapters.dynamo_ratelimit import DynamoCounterStore
from wiresocket.domain.apps import App, AppStatus, normalize_domains
from wiresocket.domain.audit import Actor, ActorType, AuditEvent, DetailType
from wiresocket.domain.errors import Conflict, InvalidInput, NotFound
from wiresocket.domain.keys import SigningKey
from wiresocket.domain.plans import Plan, PlanLimits, PlanStatus
from wiresocket.domain.tenants import Tenant, TenantStatus
from wiresocket.domain.users import User, UserRole, UserStatus
from wiresocket.edge.admin import AdminApi, AdminDependencies, Limiter
from wiresocket.local.handlers import LocalLambdaContext
from wiresocket.ports import Clock, IdentityDirectory, ReplaceApp, ReplaceTenant
from wiresocket.services.admin_contract import CreatedApp, MasterKeyStatus, Page, TerminationScope
from wiresocket.services.directory_entries import DirectoryEntries
from wiresocket.services.keyvault import KeyVault, Revocation, RewrapReport, Rotation
from wiresocket.services.ratelimit import RateLimiter
from wiresocket.services.tenants import TenantService

T = TypeVar("T")


def _page(items: list[T], limit: int, cursor: str | None) -> Page[T]:
    try:
        start = int(cursor) if cursor else 0
    except ValueError:
        raise InvalidInput("invalid cursor") from None
    if start < 0:
        raise InvalidInput("invalid cursor")
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return Page(chunk, str(start + limit) if more else None)


@dataclass
class FakeAdminService:
    """``AdminOperations`` over the real building blocks plus in-memory registries."""

    directory: IdentityDirectory
    tenants: TenantService
    entries: DirectoryEntries
    vault: KeyVault
    clock: Clock
    save_user: Callable[[User], None]
    region: str = "eu-west-1"
    tenant_ids: list[str] = field(default_factory=list)
    users: dict[tuple[str, str], User] = field(default_factory=dict)
    apps: dict[tuple[str, str], App] = field(default_factory=dict)
    plans: dict[str, Plan] = field(default_factory=dict)
    audit: list[AuditEvent] = field(default_factory=list)
    terminations: list[tuple[TerminationScope, str]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    _mutex: threading.Lock = field(default_factory=threading.Lock)

    # --- registries -------------------------------------------------------------------------------------------
    def remember(self, *things: Tenant | User | App | Plan) -> None:
        """Make existing records visible to the list operations."""
        for thing in things:
            if isinstance(thing, Tenant) and thing.tenant_id not in self.tenant_ids:
                self.tenant_ids.append(thing.tenant_id)
            elif isinstance(thing, User):
                self.users[(thing.tenant_id, thing.user_id)] = thing
            elif isinstance(thing, App):
                self.apps[(thing.tenant_id, thing.app_id)] = thing
            elif isinstance(thing, Plan):
                self.plans[thing.plan_id] = thing

    def _event(self, detail_type: DetailType, actor: Actor, tenant_id: str | None, app_id: str | None = None) -> None:
        self.audit.append(AuditEvent(detail_type, actor, self.region, self.clock.now(), tenant_id, app_id))

    # --- public -----------------------------------------------------------------------------------------------
    def signup(self, tenant_name: str, owner_username: str, owner_password: str) -> tuple[Tenant, User]:
        self.calls.append("signup")
        actor = Actor(ActorType.ANONYMOUS, "signup")
        tenant = self.tenants.create(tenant_name, actor)
        owner = self.entries.create_user(tenant.tenant_id, owner_username, owner_password, UserRole.OWNER, actor)
        self.remember(tenant, owner)
        self._event(DetailType.TENANT_CREATED, actor, tenant.tenant_id)
        self._event(DetailType.USER_CREATED, actor, tenant.tenant_id)
        return tenant, owner

    # --- platform ---------------------------------------------------------------------------------------------
    def list_tenants(self, status: TenantStatus | None, limit: int, cursor: str | None) -> Page[Tenant]:
        found = [t for t in (self.directory.get_tenant(i) for i in self.tenant_ids) if t is not None]
        return _page([t for t in found if status is None or t.status is status], limit, cursor)

    def get_tenant(self, tenant_id: str) -> Tenant:
        tenant = self.directory.get_tenant(tenant_id)
        if tenant is None:
            raise NotFound("no such tenant")
        return tenant

    def approve_tenant(self, tenant_id: str, actor: Actor) -> Tenant:
        self.calls.append("approve_tenant")
        return self.tenants.approve(tenant_id, actor)

    def _set_tenant(self, tenant_id: str, actor: Actor, want: TenantStatus, expect: TenantStatus) -> Tenant:
        tenant = self.get_tenant(tenant_id)
        if tenant.status is not expect:
            raise Conflict(f"tenant is {tenant.status.value}")
        changed = replace(tenant, status=want, updated_at=int(self.clock.now()))
        self.directory.commit([ReplaceTenant(changed, expected_status=expect.value)])
        self._event(DetailType.TENANT_STATUS_CHANGED, actor, tenant_id)
        return changed

    def suspend_tenant(self, tenant_id: str, actor: Actor, reason: str) -> Tenant:
        self.calls.append("suspend_tenant")
        tenant = self._set_tenant(tenant_id, actor, TenantStatus.SUSPENDED, TenantStatus.ACTIVE)
        self.terminations.append((TerminationScope(tenant_id), reason))
        return tenant

    def reactivate_tenant(self, tenant_id: str, actor: Actor) -> Tenant:
        self.calls.append("reactivate_tenant")
        return self._set_tenant(tenant_id, actor, TenantStatus.ACTIVE, TenantStatus.SUSPENDED)

    def list_plans(self, include_retired: bool) -> list[Plan]:
        return [p for p in self.plans.values() if include_retired or p.status is PlanStatus.ACTIVE]

    def create_plan(self, name: str, free: bool, limits: PlanLimits, actor: Actor) -> Plan:
        self.calls.append("create_plan")
        slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")[:40] or "plan"
        plan_id = f"{slug}-{len(self.plans) + 1}"
        if any(p.name == name for p in self.plans.values()):
            raise Conflict("a plan with this name exists")
        plan = self.entries.create_plan(plan_id, name, limits, free=free)
        self.remember(plan)
        return plan

    def rotate_master_key(self, actor: Actor, target_key_id: str | None) -> RewrapReport:
        self.calls.append("rotate_master_key")
        return RewrapReport(target_master_key_id=target_key_id or "arn:fake:master", total=0)

    def master_key_status(self) -> MasterKeyStatus:
        return MasterKeyStatus("arn:fake:master", {"arn:fake:master": 0})

    def list_audit(self, tenant_id: str | None, limit: int, cursor: str | None) -> Page[AuditEvent]:
        events = [e for e in reversed(self.audit) if tenant_id is None or e.tenant_id == tenant_id]
        return _page(events, limit, cursor)

    # --- tenant -----------------------------------------------------------------------------------------------
    def list_users(self, tenant_id: str, limit: int, cursor: str | None) -> Page[User]:
        return _page([u for (t, _), u in self.users.items() if t == tenant_id], limit, cursor)

    def invite_user(self, tenant_id: str, username: str, password: str, role: UserRole, actor: Actor) -> User:
        self.calls.append("invite_user")
        if role not in (UserRole.ADMIN, UserRole.VIEWER):
            raise InvalidInput("role must be admin or viewer")
        user = self.entries.create_user(tenant_id, username, password, role, actor)
        self.remember(user)
        self._event(DetailType.USER_CREATED, actor, tenant_id)
        return user

    def set_user_status(self, tenant_id: str, user_id: str, enabled: bool, actor: Actor) -> User:
        self.calls.append("set_user_status")
        user = self.directory.user(tenant_id, user_id)
        if user is None:
            raise NotFound("no such user")
        changed = replace(
            user, status=UserStatus.ACTIVE if enabled else UserStatus.DISABLED, updated_at=int(self.clock.now())
        )
        self.save_user(changed)
        self.remember(changed)
        self._event(DetailType.USER_STATUS_CHANGED, actor, tenant_id)
        return changed

    def list_apps(self, tenant_id: str, limit: int, cursor: str | None) -> Page[App]:
        return _page([self.get_app(t, a) for (t, a) in self.apps if t == tenant_id], limit, cursor)

    def get_app(self, tenant_id: str, app_id: str) -> App:
        app = self.directory.app(tenant_id, app_id) if (tenant_id, app_id) in self.apps else None
        if app is None:
            raise NotFound("no such app")
        return app

    def create_app(
        self, tenant_id: str, name: str, license_region: str, allowed_domains: list[str], plan_id: str, actor: Actor
    ) -> CreatedApp:
        self.calls.append("create_app")
        app, secret = self.entries.create_app(
            tenant_id, name, license_region, allowed_domains, plan_id=plan_id, actor=actor
        )
        self.remember(app)
        self._event(DetailType.APP_CREATED, actor, tenant_id, app.app_id)
        return CreatedApp(app, secret)

    def regenerate_app_secret(self, tenant_id: str, app_id: str, actor: Actor) -> CreatedApp:
        self.calls.append("regenerate_app_secret")
        self.get_app(tenant_id, app_id)
        app, secret = self.entries.regenerate_secret(tenant_id, app_id, actor)
        self._event(DetailType.APP_SECRET_REGENERATED, actor, tenant_id, app_id)
        return CreatedApp(app, secret)

    def _replace_app(self, app: App, detail_type: DetailType, actor: Actor) -> App:
        with self._mutex:
            self.directory.commit([ReplaceApp(app, expected_generation=app.credential_generation)])
        self.remember(app)
        self._event(detail_type, actor, app.tenant_id, app.app_id)
        return app

    def set_app_domains(self, tenant_id: str, app_id: str, allowed_domains: list[str], actor: Actor) -> App:
        self.calls.append("set_app_domains")
        app = self.get_app(tenant_id, app_id)
        changed = replace(app, allowed_domains=normalize_domains(allowed_domains), updated_at=int(self.clock.now()))
        return self._replace_app(changed, DetailType.APP_DOMAINS_CHANGED, actor)

    def set_app_plan(self, tenant_id: str, app_id: str, plan_id: str, actor: Actor) -> App:
        self.calls.append("set_app_plan")
        app = self.get_app(tenant_id, app_id)
        if self.directory.plan(plan_id) is None:
            raise NotFound("no such plan")
        return self._replace_app(replace(app, plan_id=plan_id), DetailType.APP_PLAN_CHANGED, actor)

    def set_app_status(self, tenant_id: str, app_id: str, enabled: bool, actor: Actor) -> App:
        self.calls.append("set_app_status")
        app = self.get_app(tenant_id, app_id)
        status = AppStatus.ENABLED if enabled else AppStatus.DISABLED
        return self._replace_app(replace(app, status=status), DetailType.APP_STATUS_CHANGED, actor)

    def delete_app(self, tenant_id: str, app_id: str, actor: Actor) -> None:
        self.calls.append("delete_app")
        app = self.get_app(tenant_id, app_id)
        self._replace_app(replace(app, status=AppStatus.DISABLED), DetailType.APP_DELETED, actor)
        del self.apps[(tenant_id, app_id)]

    def list_keys(self, tenant_id: str) -> list[SigningKey]:
        return self.directory.tenant_with_keys(tenant_id)[1]

    def rotate_keys(self, tenant_id: str, actor: Actor) -> Rotation:
        self.calls.append("rotate_keys")
        return self.vault.rotate(tenant_id, actor)

    def revoke_keys(self, tenant_id: str, actor: Actor, reason: str) -> Revocation:
        self.calls.append("revoke_keys")
        revocation = self.vault.revoke_all(tenant_id, actor, reason)
        self.terminations.append((TerminationScope(tenant_id), reason))
        return revocation


# --- a whole admin world on moto, shared by the admin integration suites ------------------------------------


@dataclass
class AdminWorld:
    """An OAuth world on moto, the admin surface over it, and how to call it."""

    oauth: OAuthWorld
    api: AdminApi
    fake: FakeAdminService | None
    limiter: Limiter
    counters: DynamoCounterStore
    real_service: bool

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        raw_body: str | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        source_ip: str = "198.51.100.7",
    ) -> AdminResponse:
        """One request through the admin surface (as the real handler runs it), decoded."""
        sent: dict[str, str] = {}
        if body is not None or raw_body is not None:
            sent["Content-Type"] = "application/json"
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        sent.update(headers or {})
        text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
        event = rest_event(
            method, path, headers=sent, body=text, query=dict(query) if query else None, source_ip=source_ip
        )
        result = json.loads(json.dumps(self.api.handle(event, LocalLambdaContext(function_name="admin"))))
        multi = result.get("multiValueHeaders") or {}
        flat = {k.lower(): v[-1] for k, v in multi.items()}
        payload = json.loads(result["body"]) if result.get("body") else None
        return AdminResponse(result["statusCode"], flat, payload)

    def token(self, username: str, password: str = PASSWORD) -> str:
        """A dashboard access token from the real token edge (password grant)."""
        response = self.oauth.password(username, password)
        assert response.status == 200, response.body
        return str(response.body["access_token"])


@dataclass
class AdminResponse:
    """A decoded proxy result."""

    status: int
    headers: dict[str, str]
    body: Any


def _real_service_available() -> bool:
    import importlib.util

    from wiresocket import wiring

    return importlib.util.find_spec("wiresocket.services.admin") is not None and hasattr(wiring, "admin_service")


@contextlib.contextmanager
def moto_admin_world(*, use_real_service: bool | None = None, generous_limits: bool = False) -> Iterator[AdminWorld]:
    """A moto-backed world (resources from the shared definitions), the admin API over it, torn down after.

    The admin service is the real one (``wiring.admin_service()``) once it exists, else ``FakeAdminService``.
    """
    import os

    import boto3
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from moto import mock_aws

    from tests.fakes.oauth_world import ISSUER_BASE, build_world
    from wiresocket import names
    from wiresocket.adapters.clock import SystemClock
    from wiresocket.adapters.directory_models import bind_directory
    from wiresocket.adapters.dynamo_directory import DynamoDirectory, DynamoLockStore, _user_item
    from wiresocket.adapters.kms import KmsKeyWrapper
    from wiresocket.domain.ratelimit import DEFAULT_POLICIES, RatePolicy
    from wiresocket.local.resources import create_global_resources
    from wiresocket.services.verification import TokenVerifier

    region = "eu-west-1"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": region,
    }
    saved = {k: os.environ.get(k) for k in [*env, "AWS_ENDPOINT_URL", *ADMIN_ENV_VARS]}
    os.environ.update(env)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with mock_aws():
            dynamodb = boto3.client("dynamodb", region_name=region)
            resources = create_global_resources(
                dynamodb, boto3.client("kms", region_name=region), boto3.client("events", region_name=region)
            )
            os.environ.update(
                {
                    names.ENV_REGION: region,
                    names.ENV_DIRECTORY_TABLE: resources.directory_table,
                    names.ENV_MASTER_KEY_ID: resources.master_key_alias,
                    names.ENV_AUDIT_BUS: resources.audit_bus,
                    names.ENV_RATE_LIMIT_TABLE: resources.rate_limit_table,
                    names.ENV_IDEMPOTENCY_TABLE: resources.idempotency_table,
                    names.ENV_ISSUER_BASE: ISSUER_BASE,
                    # Rotations back to back in tests: the next key may start signing at once.
                    names.ENV_JWKS_MAX_AGE: "0",
                }
            )
            _reset_wiring()
            bind_directory(resources.directory_table, region)
            clock = SystemClock()
            counters = DynamoCounterStore(dynamodb, resources.rate_limit_table)
            directory = DynamoDirectory()
            oauth = build_world(
                directory,
                DynamoLockStore(),
                KmsKeyWrapper(boto3.client("kms", region_name=region), resources.master_key_alias),
                clock,
                counters,
                region=region,
            )
            policies = dict(DEFAULT_POLICIES) | {"token_ip": RatePolicy("token_ip", 100_000, 60)}
            if generous_limits:
                for name in ("account_management", "signup_ip"):
                    policies[name] = RatePolicy(name, 100_000, 60)
            holder: list[AdminWorld] = []
            limiter = RateLimiter(counters, clock, policies)
            real = _real_service_available() if use_real_service is None else use_real_service
            fake: FakeAdminService | None = None
            if real:
                deps = dataclasses.replace(AdminDependencies.from_wiring(), limiter=lambda: holder[0].limiter)
            else:
                fake = FakeAdminService(
                    directory,
                    oauth.tenants,
                    oauth.entries,
                    oauth.vault,
                    clock,
                    save_user=lambda u: _save(_user_item(u)),
                )
                for tenant_id in (oauth.demo_tenant, oauth.other_tenant, oauth.pending_tenant, oauth.suspended_tenant):
                    tenant = directory.get_tenant(tenant_id)
                    assert tenant is not None
                    fake.remember(tenant)
                fake.remember(oauth.owner, oauth.viewer, oauth.app, oauth.app_without_plan, oauth.disabled_app)
                fake.remember(oauth.other_app, oauth.pending_app, oauth.suspended_app)
                plan = directory.plan(oauth.app.plan_id or "")
                assert plan is not None
                fake.remember(plan)
                verifier = TokenVerifier(directory, clock, issuer_base=ISSUER_BASE)
                persistence = DynamoDBPersistenceLayer(table_name=resources.idempotency_table, boto3_client=dynamodb)
                service = fake
                deps = AdminDependencies(
                    service=lambda: service,
                    verifier=lambda: verifier,
                    limiter=lambda: holder[0].limiter,
                    user_lookup=directory.user,
                    idempotency_store=lambda: persistence,
                )
            holder.append(AdminWorld(oauth, AdminApi(deps), fake, limiter, counters, real))
            yield holder[0]
            _reset_wiring()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


ADMIN_ENV_VARS = (
    "WIRESOCKET_REGION",
    "WIRESOCKET_DIRECTORY_TABLE",
    "WIRESOCKET_MASTER_KEY_ID",
    "WIRESOCKET_AUDIT_BUS",
    "WIRESOCKET_RATE_LIMIT_TABLE",
    "WIRESOCKET_IDEMPOTENCY_TABLE",
    "WIRESOCKET_ISSUER_BASE",
    "WIRESOCKET_JWKS_MAX_AGE_SECONDS",
)


def _reset_wiring() -> None:
    import functools

    from wiresocket import wiring

    for value in vars(wiring).values():
        if isinstance(value, functools._lru_cache_wrapper):
            value.cache_clear()


def _save(item: Any) -> None:
    item.save()
