"""A populated OAuth world for token-service tests and benchmarks, over any ``IdentityDirectory``.

Tenants: the platform tenant (operator + dashboard client), ``demo`` (owner, viewer, an enabled app on a
plan, an app without a plan, a disabled app), ``other`` (an app), ``pending`` (an app) and ``suspended`` (an
app). Built through the real services (``TenantService``, ``KeyVault``, ``DirectoryEntries``). RSA keys
come from a per-process pool and Argon2 hashes use cheap parameters while building, so a world builds in
milliseconds; verification still runs the real code.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.memory import FakeClock, FakeKeyWrapper, MemoryStore
from tests.fakes.ratelimit import MemoryCounterStore
from tests.fakes.termination import RecordingTerminator
from wiresocket.domain import credentials
from wiresocket.domain.apps import App, AppStatus
from wiresocket.domain.audit import SYSTEM_ACTOR
from wiresocket.domain.clients import DashboardClient
from wiresocket.domain.plans import PlanLimits
from wiresocket.domain.ratelimit import DEFAULT_POLICIES, RatePolicy
from wiresocket.domain.tenants import TenantStatus
from wiresocket.domain.users import User, UserRole
from wiresocket.edge.oauth import handle_oauth_event
from wiresocket.names import PLATFORM_TENANT_ID
from wiresocket.ports import (
    AdminDirectory,
    Clock,
    IdentityDirectory,
    KeyWrapper,
    LockStore,
    MasterKeyManager,
    ReplaceApp,
    ReplaceTenant,
)
from wiresocket.services.admin import AdminService
from wiresocket.services.clientauth import ClientAuthenticator
from wiresocket.services.directory_entries import DirectoryEntries
from wiresocket.services.introspection import TokenIntrospection
from wiresocket.services.keyvault import KeyPolicy, KeyVault
from wiresocket.services.locks import LockManager
from wiresocket.services.pepper import SecretPepper
from wiresocket.services.ratelimit import CounterStore, RateLimiter
from wiresocket.services.refresh import RefreshTokens
from wiresocket.services.sealing import UnsealedKeyCache
from wiresocket.services.signing import TokenSigner
from wiresocket.services.tenants import TenantService
from wiresocket.services.token import TokenPolicy, TokenService
from wiresocket.services.verification import TokenVerifier

ISSUER_BASE = "https://auth.example.test"
PASSWORD = "correct horse battery staple"
DEMO_DOMAINS = ("localhost:5173", "127.0.0.1:5173")
PLAN_LIMITS = PlanLimits(max_connections=100, max_documents=10, max_users_per_doc=5, ops_per_minute=600)

_POOL: list[rsa.RSAPrivateKey] = []
_POOL_LOCK = threading.Lock()
_REAL_GENERATE = rsa.generate_private_key


@contextlib.contextmanager
def fast_keys_and_hashes(pool_size: int = 12) -> Iterator[None]:
    """While building: RSA keys from a per-process pool (each used once per world), cheap Argon2id."""
    with _POOL_LOCK:
        while len(_POOL) < pool_size:
            _POOL.append(_REAL_GENERATE(public_exponent=65537, key_size=2048))
    handed = iter(list(_POOL))

    def pooled(public_exponent: int, key_size: int, backend: Any = None) -> rsa.RSAPrivateKey:
        return next(handed)

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    original_hasher = credentials._hasher
    module: Any = rsa
    creds: Any = credentials
    module.generate_private_key = pooled
    creds._hasher = lambda: cheap
    try:
        yield
    finally:
        module.generate_private_key = _REAL_GENERATE
        creds._hasher = original_hasher


@dataclass
class Response:
    """A proxy result, decoded."""

    status: int
    headers: dict[str, str]
    body: Any

    @property
    def error(self) -> str | None:
        """The RFC 6749 error code, if any."""
        return self.body.get("error") if isinstance(self.body, dict) else None


def basic(client_id: str, secret: str) -> str:
    """An RFC 6749 §2.3.1 Basic header value."""
    from urllib.parse import quote_plus

    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def rest_event(
    path: str,
    body: str | bytes | Mapping[str, str] | None,
    *,
    headers: Mapping[str, str | list[str]] | None = None,
    method: str = "POST",
    source_ip: str = "198.51.100.7",
    query: Mapping[str, str] | None = None,
    content_type: str | None = "application/x-www-form-urlencoded",
) -> dict[str, Any]:
    """A REST API proxy event (payload 1.0) for one request."""
    if isinstance(body, Mapping):
        body = urlencode(dict(body))
    is_b64 = isinstance(body, bytes)
    raw_body = base64.b64encode(body).decode() if isinstance(body, bytes) else body
    multi: dict[str, list[str]] = {}
    if content_type is not None:
        multi["Content-Type"] = [content_type]
    for name, value in (headers or {}).items():
        multi[name] = value if isinstance(value, list) else [value]
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {k: v[-1] for k, v in multi.items()} or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": dict(query) if query else None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "body": raw_body,
        "isBase64Encoded": is_b64,
        "requestContext": {"identity": {"sourceIp": source_ip}, "requestId": "test"},
    }


@dataclass
class OAuthWorld:
    """Everything a token test needs."""

    store: IdentityDirectory
    wrapper: KeyWrapper
    clock: Clock
    counters: CounterStore
    limiter: RateLimiter
    cache: UnsealedKeyCache
    tokens: TokenService
    introspection: TokenIntrospection
    verifier: TokenVerifier
    entries: DirectoryEntries
    tenants: TenantService
    vault: KeyVault
    demo_tenant: str
    other_tenant: str
    pending_tenant: str
    suspended_tenant: str
    app: App
    app_secret: str
    app_without_plan: App
    app_without_plan_secret: str
    disabled_app: App
    disabled_app_secret: str
    other_app: App
    other_app_secret: str
    pending_app: App
    pending_app_secret: str
    suspended_app: App
    suspended_app_secret: str
    dashboard: DashboardClient
    dashboard_secret: str
    owner: User
    viewer: User
    operator: User

    def handle(self, event: Mapping[str, Any]) -> Response:
        """Run ``event`` through the real OAuth edge with this world's services."""
        result = handle_oauth_event(event, lambda: self.tokens, lambda: self.introspection)
        result = json.loads(json.dumps(result))  # what Lambda hands on
        body = json.loads(result["body"]) if result["body"] else None
        return Response(result["statusCode"], result["headers"], body)

    def post(self, path: str, form: Mapping[str, str] | str | bytes | None, **kwargs: Any) -> Response:
        """POST a form to ``path``."""
        return self.handle(rest_event(path, form, **kwargs))

    def client_credentials(
        self, scope: str | None = None, *, app: App | None = None, secret: str | None = None
    ) -> Response:
        """A client_credentials request with ``client_secret_post``."""
        target = app or self.app
        form = {
            "grant_type": "client_credentials",
            "client_id": target.client_id,
            "client_secret": secret if secret is not None else self._secret_of(target),
        }
        if scope is not None:
            form["scope"] = scope
        return self.post("/connect/token", form)

    def password(self, username: str, password: str = PASSWORD, scope: str | None = None) -> Response:
        """A password grant through the dashboard client (Basic)."""
        form = {"grant_type": "password", "username": username, "password": password}
        if scope is not None:
            form["scope"] = scope
        return self.post(
            "/connect/token", form, headers={"Authorization": basic(self.dashboard.client_id, self.dashboard_secret)}
        )

    def refresh(self, refresh_token: str, client_id: str | None = None, **extra: str) -> Response:
        """A refresh_token request naming the client by ``client_id`` only."""
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id or self.app.client_id,
        }
        form.update(extra)
        return self.post("/connect/token", form)

    def _secret_of(self, app: App) -> str:
        for candidate, secret in (
            (self.app, self.app_secret),
            (self.app_without_plan, self.app_without_plan_secret),
            (self.disabled_app, self.disabled_app_secret),
            (self.other_app, self.other_app_secret),
            (self.pending_app, self.pending_app_secret),
            (self.suspended_app, self.suspended_app_secret),
        ):
            if candidate.app_id == app.app_id:
                return secret
        raise KeyError(app.app_id)


def generous_policies() -> dict[str, RatePolicy]:
    """The default policy table with room for a test's worth of requests from one address (and of logins of
    one user: the fake clock never leaves the first window)."""
    policies = dict(DEFAULT_POLICIES)
    policies["token_ip"] = RatePolicy("token_ip", limit=100_000, window_seconds=60)
    policies["password_attempts"] = RatePolicy("password_attempts", limit=100_000, window_seconds=300)
    return policies


def build_world(
    store: IdentityDirectory,
    locks: LockStore,
    wrapper: KeyWrapper,
    clock: Clock,
    counters: CounterStore,
    *,
    region: str = "eu-west-1",
    policies: Mapping[str, RatePolicy] | None = None,
    cache_ttl: float = 300,
) -> OAuthWorld:
    """Populate ``store`` and wire the services over it."""
    lock_manager = LockManager(locks, clock, wait_seconds=5)
    vault = KeyVault(store, wrapper, lock_manager, clock, region=region, policy=KeyPolicy(next_key_min_age_seconds=0))
    tenants = TenantService(store, vault, lock_manager, clock, region=region)
    pepper = SecretPepper(store, wrapper)
    entries = DirectoryEntries(store, pepper, clock, region=region)
    with fast_keys_and_hashes():
        pepper.ensure()
        tenants.create("WireSocket Platform", SYSTEM_ACTOR, tenant_id=PLATFORM_TENANT_ID)
        tenants.approve(PLATFORM_TENANT_ID, SYSTEM_ACTOR)
        demo = tenants.create("Demo", SYSTEM_ACTOR)
        tenants.approve(demo.tenant_id, SYSTEM_ACTOR)
        other = tenants.create("Other", SYSTEM_ACTOR)
        tenants.approve(other.tenant_id, SYSTEM_ACTOR)
        pending = tenants.create("Pending", SYSTEM_ACTOR)
        suspended = tenants.create("Suspended", SYSTEM_ACTOR)
        active_suspended = tenants.approve(suspended.tenant_id, SYSTEM_ACTOR)
        store.commit(
            [ReplaceTenant(replace(active_suspended, status=TenantStatus.SUSPENDED), expected_status="active")]
        )
        plan = entries.create_plan("standard", "Standard", PLAN_LIMITS)
        app, app_secret = entries.create_app(
            demo.tenant_id, "Demo App", "aws-eu-west-1", list(DEMO_DOMAINS), plan_id=plan.plan_id, actor=SYSTEM_ACTOR
        )
        no_plan, no_plan_secret = entries.create_app(
            demo.tenant_id, "No Plan", "aws-eu-west-1", [], plan_id=None, actor=SYSTEM_ACTOR
        )
        disabled, disabled_secret = entries.create_app(
            demo.tenant_id, "Disabled", "aws-us-east-1", [], plan_id=plan.plan_id, actor=SYSTEM_ACTOR
        )
        disabled = replace(disabled, status=AppStatus.DISABLED)
        store.commit([ReplaceApp(disabled, expected_generation=disabled.credential_generation)])
        other_app, other_secret = entries.create_app(
            other.tenant_id,
            "Other App",
            "aws-us-west-2",
            ["app.other.example"],
            plan_id=plan.plan_id,
            actor=SYSTEM_ACTOR,
        )
        pending_app, pending_secret = entries.create_app(
            pending.tenant_id, "Pending App", "aws-eu-west-1", [], plan_id=plan.plan_id, actor=SYSTEM_ACTOR
        )
        suspended_app, suspended_secret = entries.create_app(
            suspended.tenant_id, "Suspended App", "aws-eu-west-1", [], plan_id=plan.plan_id, actor=SYSTEM_ACTOR
        )
        dashboard, dashboard_secret = entries.create_dashboard_client("WireSocket Dashboard")
        owner = entries.create_user(demo.tenant_id, "owner@demo.example", PASSWORD, UserRole.OWNER, SYSTEM_ACTOR)
        viewer = entries.create_user(demo.tenant_id, "viewer@demo.example", PASSWORD, UserRole.VIEWER, SYSTEM_ACTOR)
        operator = entries.create_user(
            PLATFORM_TENANT_ID, "operator@wiresocket.example", PASSWORD, UserRole.OPERATOR, SYSTEM_ACTOR
        )
    limiter = RateLimiter(counters, clock, policies or generous_policies())
    cache = UnsealedKeyCache(wrapper, clock, ttl_seconds=cache_ttl)
    clients = ClientAuthenticator(store, pepper, limiter, clock, region=region)
    refresh = RefreshTokens(store, clock, region=region)
    verifier = TokenVerifier(store, clock, issuer_base=ISSUER_BASE)
    tokens = TokenService(
        store,
        clients,
        TokenSigner(cache),
        lambda: refresh,
        limiter=limiter,
        clock=clock,
        policy=TokenPolicy(issuer_base=ISSUER_BASE),
    )
    return OAuthWorld(
        store=store,
        wrapper=wrapper,
        clock=clock,
        counters=counters,
        limiter=limiter,
        cache=cache,
        tokens=tokens,
        introspection=TokenIntrospection(store, clients, refresh, verifier),
        verifier=verifier,
        entries=entries,
        tenants=tenants,
        vault=vault,
        demo_tenant=demo.tenant_id,
        other_tenant=other.tenant_id,
        pending_tenant=pending.tenant_id,
        suspended_tenant=suspended.tenant_id,
        app=app,
        app_secret=app_secret,
        app_without_plan=no_plan,
        app_without_plan_secret=no_plan_secret,
        disabled_app=disabled,
        disabled_app_secret=disabled_secret,
        other_app=other_app,
        other_app_secret=other_secret,
        pending_app=pending_app,
        pending_app_secret=pending_secret,
        suspended_app=suspended_app,
        suspended_app_secret=suspended_secret,
        dashboard=dashboard,
        dashboard_secret=dashboard_secret,
        owner=owner,
        viewer=viewer,
        operator=operator,
    )


def memory_world(**kwargs: Any) -> tuple[OAuthWorld, MemoryStore, FakeKeyWrapper, FakeClock, MemoryCounterStore]:
    """A world over the in-memory fakes."""
    store, wrapper, clock, counters = MemoryStore(), FakeKeyWrapper(), FakeClock(), MemoryCounterStore()
    world = build_world(store, store, wrapper, clock, counters, **kwargs)
    return world, store, wrapper, clock, counters


# --- the admin service over a world (issue 4) -------------------------------------------------------------


def build_admin(
    world: OAuthWorld,
    directory: AdminDirectory,
    locks: LockStore,
    master_keys: MasterKeyManager,
    *,
    region: str = "eu-west-1",
    on_commit: Callable[[], object] | None = None,
) -> tuple[AdminService, RecordingTerminator]:
    """An ``AdminService`` over ``world``'s services (``directory`` is ``world.store``, typed for listings),
    with a recording terminator that the test can inspect."""
    terminator = RecordingTerminator()
    admin = AdminService(
        directory,
        world.tenants,
        world.entries,
        world.vault,
        master_keys,
        terminator,
        LockManager(locks, world.clock, wait_seconds=10),
        world.clock,
        region=region,
        on_commit=on_commit,
    )
    return admin, terminator
