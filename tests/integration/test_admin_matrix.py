"""Route x principal matrix of the admin API on moto, through the real edge (docs/admin-api.md).

Every route is called as: nobody, a forged token (another tenant's key with this tenant's id; ``alg: none``),
the other tenant's owner, the owner, an admin, a viewer and the platform operator. Each gets exactly the status
the contract gives it: 401 without a valid token, 403 for the wrong role/scope, 404 for another tenant's ids,
2xx otherwise. Tokens come from the real token edge (password grant through the dashboard client); a fresh
one is minted per call, so a key revocation in one row cannot disturb the next.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from tests.fakes.admin import AdminWorld, moto_admin_world
from tests.fakes.oauth_world import PASSWORD, fast_keys_and_hashes
from wiresocket.domain.audit import SYSTEM_ACTOR
from wiresocket.domain.keys import select_active
from wiresocket.domain.users import User, UserRole
from wiresocket.edge.admin import Access

PRINCIPALS = ("none", "forged_key", "alg_none", "other_owner", "owner", "admin", "viewer", "operator")


@dataclass
class Matrix:
    world: AdminWorld
    admin: User
    other_owner: User
    tokens: dict[str, str | None]

    def token(self, principal: str) -> str | None:
        """A token for ``principal``, minted once and reused until a key revocation kills it."""
        if principal not in self.tokens:
            self.tokens[principal] = self._mint(principal)
        return self.tokens[principal]

    def _mint(self, principal: str) -> str | None:
        o = self.world.oauth
        if principal == "none":
            return None
        if principal == "alg_none":
            claims = jwt.decode(self.world.token(o.owner.username), options={"verify_signature": False})
            head = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=")
            body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
            return f"{head.decode()}.{body.decode()}."
        if principal == "forged_key":
            # The demo owner's claims and the demo tenant's kid, signed with the OTHER tenant's private key.
            genuine = self.world.token(o.owner.username)
            claims = jwt.decode(genuine, options={"verify_signature": False})
            other_key = select_active(o.store.tenant_with_keys(o.other_tenant)[1])
            assert other_key is not None
            private = o.cache.private_key(other_key)
            return jwt.encode(
                claims, private, algorithm="RS256", headers={"kid": jwt.get_unverified_header(genuine)["kid"]}
            )
        user = {
            "other_owner": self.other_owner,
            "owner": o.owner,
            "admin": self.admin,
            "viewer": o.viewer,
            "operator": o.operator,
        }[principal]
        return self.world.token(user.username)


@pytest.fixture(scope="module")
def matrix() -> Iterator[Matrix]:
    with moto_admin_world(generous_limits=True) as world:
        o = world.oauth
        with fast_keys_and_hashes():
            admin = o.entries.create_user(o.demo_tenant, "admin@demo.example", PASSWORD, UserRole.ADMIN, SYSTEM_ACTOR)
            other_owner = o.entries.create_user(
                o.other_tenant, "owner@other.example", PASSWORD, UserRole.OWNER, SYSTEM_ACTOR
            )
        if world.fake is not None:
            world.fake.remember(admin, other_owner)
        yield Matrix(world, admin, other_owner, {})


# --- fixtures of one call: a fresh resource per successful call ---------------------------------------------


def _fresh_app(m: Matrix) -> str:
    o = m.world.oauth
    service = m.world.api.deps.service()
    created = service.create_app(
        o.demo_tenant, f"m-{uuid.uuid4().hex[:10]}", "aws-eu-west-1", [], o.app.plan_id or "", SYSTEM_ACTOR
    )
    return created.app.app_id


def _fresh_user(m: Matrix) -> str:
    service = m.world.api.deps.service()
    with fast_keys_and_hashes():
        user = service.invite_user(
            m.world.oauth.demo_tenant,
            f"u{uuid.uuid4().hex[:10]}@demo.example",
            PASSWORD,
            UserRole.VIEWER,
            SYSTEM_ACTOR,
        )
    return user.user_id


def _fresh_tenant(m: Matrix, *, state: str) -> str:
    service = m.world.api.deps.service()
    with fast_keys_and_hashes():
        tenant, _ = service.signup(f"T {uuid.uuid4().hex[:8]}", f"o{uuid.uuid4().hex[:10]}@t.example", PASSWORD)
        if state in ("active", "suspended"):
            service.approve_tenant(tenant.tenant_id, SYSTEM_ACTOR)
        if state == "suspended":
            service.suspend_tenant(tenant.tenant_id, SYSTEM_ACTOR, "matrix")
    return tenant.tenant_id


def _signup_body(m: Matrix) -> dict[str, Any]:
    return {"tenantName": "Matrix", "ownerUsername": f"s{uuid.uuid4().hex[:10]}@x.example", "ownerPassword": PASSWORD}


@dataclass(frozen=True)
class Case:
    """One route: how to build its path and body, who may call it, and what success is."""

    method: str
    path: Callable[[Matrix], str]
    access: Access
    ok: int
    body: Callable[[Matrix], Any] | None = None
    demo_resource: bool = False  # the path names a resource of the demo tenant

    @property
    def name(self) -> str:
        return f"{self.method} {self.path.__name__}"


def _p(text: str) -> Callable[[Matrix], str]:
    def path(m: Matrix) -> str:
        return text

    path.__name__ = text
    return path


def _with(template: str, make: Callable[[Matrix], str]) -> Callable[[Matrix], str]:
    def path(m: Matrix) -> str:
        return template.format(make(m))

    path.__name__ = template
    return path


CASES: tuple[Case, ...] = (
    Case("POST", _p("/signup"), Access.PUBLIC, 201, body=_signup_body),
    Case("GET", _p("/openapi.json"), Access.PUBLIC, 200),
    Case("GET", _p("/platform/tenants"), Access.PLATFORM, 200),
    Case("GET", _with("/platform/tenants/{}", lambda m: m.world.oauth.demo_tenant), Access.PLATFORM, 200),
    Case(
        "POST", _with("/platform/tenants/{}/approve", lambda m: _fresh_tenant(m, state="pending")), Access.PLATFORM, 200
    ),
    Case(
        "POST",
        _with("/platform/tenants/{}/suspend", lambda m: _fresh_tenant(m, state="active")),
        Access.PLATFORM,
        200,
        body=lambda m: {"reason": "matrix"},
    ),
    Case(
        "POST",
        _with("/platform/tenants/{}/reactivate", lambda m: _fresh_tenant(m, state="suspended")),
        Access.PLATFORM,
        200,
    ),
    Case("GET", _p("/platform/plans"), Access.PLATFORM, 200),
    Case(
        "POST",
        _p("/platform/plans"),
        Access.PLATFORM,
        201,
        body=lambda m: {
            "name": f"P {uuid.uuid4().hex[:8]}",
            "free": False,
            "limits": {"maxConnections": 1, "maxDocuments": 1, "maxUsersPerDoc": 1, "opsPerMinute": 1},
        },
    ),
    Case("POST", _p("/platform/master-key/rotate"), Access.PLATFORM, 200),
    Case("GET", _p("/platform/master-key"), Access.PLATFORM, 200),
    Case("GET", _p("/platform/audit"), Access.PLATFORM, 200),
    Case("GET", _p("/admin/tenant"), Access.TENANT_READ, 200),
    Case("GET", _p("/admin/users"), Access.TENANT_READ, 200),
    Case(
        "POST",
        _p("/admin/users"),
        Access.TENANT_ADMIN,
        201,
        body=lambda m: {"username": f"i{uuid.uuid4().hex[:10]}@x.example", "password": PASSWORD, "role": "viewer"},
    ),
    Case("POST", _with("/admin/users/{}/disable", _fresh_user), Access.TENANT_ADMIN, 200, demo_resource=True),
    Case("POST", _with("/admin/users/{}/enable", _fresh_user), Access.TENANT_ADMIN, 200, demo_resource=True),
    Case("GET", _p("/admin/plans"), Access.TENANT_READ, 200),
    Case("GET", _p("/admin/apps"), Access.TENANT_READ, 200),
    Case(
        "POST",
        _p("/admin/apps"),
        Access.TENANT_ADMIN,
        201,
        body=lambda m: {
            "name": f"A {uuid.uuid4().hex[:8]}",
            "licenseRegion": "aws-us-east-1",
            "allowedDomains": ["app.example.com"],
            "planId": m.world.oauth.app.plan_id,
        },
    ),
    Case("GET", _with("/admin/apps/{}", _fresh_app), Access.TENANT_READ, 200, demo_resource=True),
    Case("POST", _with("/admin/apps/{}/secret", _fresh_app), Access.TENANT_ADMIN, 200, demo_resource=True),
    Case(
        "PUT",
        _with("/admin/apps/{}/domains", _fresh_app),
        Access.TENANT_ADMIN,
        200,
        demo_resource=True,
        body=lambda m: {"allowedDomains": ["https://App.Example.com/"]},
    ),
    Case(
        "PUT",
        _with("/admin/apps/{}/plan", _fresh_app),
        Access.TENANT_ADMIN,
        200,
        demo_resource=True,
        body=lambda m: {"planId": m.world.oauth.app.plan_id},
    ),
    Case("POST", _with("/admin/apps/{}/disable", _fresh_app), Access.TENANT_ADMIN, 200, demo_resource=True),
    Case("POST", _with("/admin/apps/{}/enable", _fresh_app), Access.TENANT_ADMIN, 200, demo_resource=True),
    Case("DELETE", _with("/admin/apps/{}", _fresh_app), Access.TENANT_ADMIN, 204, demo_resource=True),
    Case("GET", _p("/admin/keys"), Access.TENANT_READ, 200),
    Case("POST", _p("/admin/keys/rotate"), Access.TENANT_ADMIN, 200),
    Case("POST", _p("/admin/keys/revoke"), Access.TENANT_ADMIN, 200, body=lambda m: {"reason": "matrix"}),
    Case("GET", _p("/admin/audit"), Access.TENANT_READ, 200),
)


def expected(case: Case, principal: str) -> int:
    """The contract's answer for ``principal`` calling ``case``."""
    if case.access is Access.PUBLIC:
        return case.ok
    if principal in ("none", "forged_key", "alg_none"):
        return 401
    if case.access is Access.PLATFORM:
        return case.ok if principal == "operator" else 403
    if principal == "operator":
        return 403
    if case.access is Access.TENANT_ADMIN and principal == "viewer":
        return 403
    if principal == "other_owner" and case.demo_resource:
        return 404
    return case.ok


@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_route_principal_matrix(matrix: Matrix, case: Case, principal: str) -> None:
    # Given a fresh resource (when the route names one) and the principal's token
    want = expected(case, principal)
    path = case.path(matrix)
    body = case.body(matrix) if case.body else None
    token = matrix.token(principal)

    # When it calls the route
    response = matrix.world.call(case.method, path, token=token, body=body)

    if "/keys/revoke" in path and response.status == 200:
        matrix.tokens.clear()  # the revocation killed every token of the tenant, as it must
    # Then it gets exactly the contract's status, as a problem document when it is an error
    assert response.status == want, (case.name, principal, response.body)
    assert response.headers["cache-control"] == "no-store"
    if want >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.body["status"] == want
    if want == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_every_route_is_in_the_matrix(matrix: Matrix) -> None:
    # Given the admin surface's operation table / When compared with the matrix / Then none is left out
    routes = {(op.method, op.openapi_path) for op in matrix.world.api.operations}
    covered = {(c.method, c.path.__name__.replace("{}", "{x}")) for c in CASES}
    normalised = {(m, p) for m, p in routes}
    assert len(CASES) == len(routes), sorted(normalised)
    assert len({c.name for c in CASES}) == len(CASES)
    assert all(any(method == m and _same_shape(path, p) for m, p in covered) for method, path in normalised), (
        "a route has no matrix row"
    )


def _same_shape(openapi_path: str, template: str) -> bool:
    a, b = openapi_path.split("/"), template.split("/")
    return len(a) == len(b) and all(x == y or (x.startswith("{") and y == "{x}") for x, y in zip(a, b, strict=True))


def test_admin_may_not_disable_an_owner_but_an_owner_may_disable_an_admin(matrix: Matrix) -> None:
    # Given the demo tenant's owner and an admin
    o = matrix.world.oauth
    admin_token = matrix.token("admin")

    # When the admin tries to disable the owner
    refused = matrix.world.call("POST", f"/admin/users/{o.owner.user_id}/disable", token=admin_token)

    # Then it is forbidden, and the owner still works
    assert refused.status == 403
    assert matrix.world.call("GET", "/admin/tenant", token=matrix.token("owner")).status == 200
