"""The admin API's HTTP contract on moto, through the real edge: problem documents, validation, idempotency,
rate limits, and current state re-checked on every request (docs/admin-api.md)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.fakes.admin import AdminWorld, moto_admin_world
from tests.fakes.oauth_world import PASSWORD, fast_keys_and_hashes
from wiresocket import names
from wiresocket.domain.audit import SYSTEM_ACTOR
from wiresocket.domain.ratelimit import DEFAULT_POLICIES
from wiresocket.domain.users import UserRole
from wiresocket.edge import admin_models
from wiresocket.services.ratelimit import RateLimiter


@pytest.fixture(scope="module")
def world() -> Iterator[AdminWorld]:
    with moto_admin_world(generous_limits=True) as built:
        yield built


def _owner(world: AdminWorld) -> str:
    return world.token(world.oauth.owner.username)


def _app_body(world: AdminWorld, **over: Any) -> dict[str, Any]:
    body = {
        "name": f"App {uuid.uuid4().hex[:8]}",
        "licenseRegion": "aws-eu-west-1",
        "allowedDomains": ["app.example.com"],
        "planId": world.oauth.app.plan_id,
    }
    body.update(over)
    return body


def _new_user(world: AdminWorld, role: UserRole = UserRole.ADMIN) -> tuple[str, str]:
    with fast_keys_and_hashes():
        user = world.api.deps.service().invite_user(
            world.oauth.demo_tenant, f"u{uuid.uuid4().hex[:10]}@demo.example", PASSWORD, role, SYSTEM_ACTOR
        )
    return user.user_id, user.username


def _assert_problem(response: Any, status: int) -> None:
    assert response.status == status, response.body
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"
    assert set(response.body) >= {"type", "title", "status", "detail"}
    assert response.body["status"] == status


# --- problem documents for powertools' own errors and the edge's -----------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/admin/nothing-here", 404),
        ("GET", "/platform/x/y/z", 404),
        ("DELETE", "/admin/tenant", 405),
        ("PATCH", "/admin/apps", 405),
        ("PUT", "/signup", 405),
    ],
)
def test_unknown_routes_and_methods_are_problems(world: AdminWorld, method: str, path: str, status: int) -> None:
    # Given a valid owner token / When it calls a route or method that does not exist
    response = world.call(method, path, token=_owner(world))
    # Then a problem document with the right status (405 names the allowed methods)
    _assert_problem(response, status)
    if status == 405:
        assert response.headers["allow"]


def test_malformed_json_is_400(world: AdminWorld) -> None:
    response = world.call("POST", "/admin/apps", token=_owner(world), raw_body='{"name": ')
    _assert_problem(response, 400)


def test_non_json_content_type_is_415(world: AdminWorld) -> None:
    response = world.call(
        "POST", "/admin/apps", token=_owner(world), raw_body="name=x", headers={"Content-Type": "text/plain"}
    )
    _assert_problem(response, 415)


def test_body_over_64_kib_is_413(world: AdminWorld) -> None:
    response = world.call("POST", "/admin/apps", token=_owner(world), body={"name": "x" * (65 * 1024)})
    _assert_problem(response, 413)


def test_body_on_a_route_without_one_is_422(world: AdminWorld) -> None:
    response = world.call("POST", "/admin/keys/rotate", token=_owner(world), body={"now": True})
    _assert_problem(response, 422)


@pytest.mark.parametrize(
    "body",
    [
        {"allowedDomains": ["a.example.com"], "licenseRegion": "aws-us-east-1"},  # the region is immutable
        {"allowedDomains": ["a.example.com", "b.example.com", "c.example.com", "d.example.com"]},
        {"allowedDomains": "a.example.com"},
        {"allowedDomains": [1]},
        {},
        [],
    ],
)
def test_domains_body_is_validated_strictly(world: AdminWorld, body: Any) -> None:
    # Given the demo app / When its domains are set with an invalid body
    response = world.call("PUT", f"/admin/apps/{world.oauth.app.app_id}/domains", token=_owner(world), body=body)
    # Then 422 with errors [{loc, msg}], and nothing changed
    _assert_problem(response, 422)
    assert all(set(e) == {"loc", "msg"} for e in response.body["errors"])
    app = world.call("GET", f"/admin/apps/{world.oauth.app.app_id}", token=_owner(world))
    assert app.body["licenseRegion"] == world.oauth.app.license_region


def test_invalid_domain_value_is_422_from_the_domain(world: AdminWorld) -> None:
    response = world.call(
        "PUT",
        f"/admin/apps/{world.oauth.app.app_id}/domains",
        token=_owner(world),
        body={"allowedDomains": ["*.example.com"]},
    )
    _assert_problem(response, 422)


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"cursor": "c" * 2000}])
def test_list_parameters_are_validated(world: AdminWorld, query: dict[str, str]) -> None:
    _assert_problem(world.call("GET", "/admin/apps", token=_owner(world), query=query), 422)


def test_malformed_path_ids_are_422(world: AdminWorld) -> None:
    _assert_problem(world.call("GET", "/admin/apps/..%2F..", token=_owner(world)), 422)


# --- authentication -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Basic dXNlcjpwYXNz", "Bearer not-a-jwt", "Bearer a.b.c", "bearer  x.y.z extra"],
)
def test_missing_or_malformed_tokens_are_401(world: AdminWorld, authorization: str) -> None:
    response = world.call("GET", "/admin/tenant", headers={"Authorization": authorization})
    _assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_an_app_token_is_not_an_admin_token(world: AdminWorld) -> None:
    # Given a client_credentials token (aud WireSocket.API) of the demo app
    token = world.oauth.client_credentials().body["access_token"]
    # Then the admin API refuses it
    _assert_problem(world.call("GET", "/admin/tenant", token=token), 401)


def test_disabled_user_is_rejected_on_the_very_next_request(world: AdminWorld) -> None:
    # Given an admin with a working token
    user_id, username = _new_user(world)
    token = world.token(username)
    assert world.call("GET", "/admin/tenant", token=token).status == 200
    # When the owner disables them
    assert world.call("POST", f"/admin/users/{user_id}/disable", token=_owner(world)).status == 200
    # Then the same token fails on the next request
    _assert_problem(world.call("GET", "/admin/tenant", token=token), 401)


def test_suspended_tenants_token_is_rejected(world: AdminWorld) -> None:
    # Given a fresh active tenant with its owner's token
    service = world.api.deps.service()
    username = f"o{uuid.uuid4().hex[:10]}@s.example"
    with fast_keys_and_hashes():
        tenant, _ = service.signup("Suspend Me", username, PASSWORD)
    operator = world.token(world.oauth.operator.username)
    assert world.call("POST", f"/platform/tenants/{tenant.tenant_id}/approve", token=operator).status == 200
    token = world.token(username)
    assert world.call("GET", "/admin/tenant", token=token).status == 200
    # When the operator suspends it
    suspended = world.call(
        "POST", f"/platform/tenants/{tenant.tenant_id}/suspend", token=operator, body={"reason": "test"}
    )
    assert suspended.status == 200
    assert suspended.body["status"] == "suspended"
    # Then the owner's token fails at once
    _assert_problem(world.call("GET", "/admin/tenant", token=token), 401)


def test_revoked_keys_token_is_rejected(world: AdminWorld) -> None:
    # Given a fresh active tenant and its owner's token
    service = world.api.deps.service()
    username = f"o{uuid.uuid4().hex[:10]}@r.example"
    with fast_keys_and_hashes():
        tenant, _ = service.signup("Revoke Me", username, PASSWORD)
    service.approve_tenant(tenant.tenant_id, SYSTEM_ACTOR)
    token = world.token(username)
    # When the owner emergency-revokes the keys
    revoked = world.call("POST", "/admin/keys/revoke", token=token, body={"reason": "test"})
    assert revoked.status == 200
    # Then the token that asked for it no longer works, and a new one does
    _assert_problem(world.call("GET", "/admin/tenant", token=token), 401)
    assert world.call("GET", "/admin/tenant", token=world.token(username)).status == 200


def test_the_tenant_always_comes_from_the_token(world: AdminWorld) -> None:
    # Given the demo owner asking about the other tenant's app by id
    response = world.call("GET", f"/admin/apps/{world.oauth.other_app.app_id}", token=_owner(world))
    # Then the id is not confirmed to exist
    _assert_problem(response, 404)


# --- idempotency --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "has space", "ü", "x" * 129, "a/b"])
def test_malformed_idempotency_key_is_422(world: AdminWorld, key: str) -> None:
    response = world.call(
        "POST", "/admin/apps", token=_owner(world), body=_app_body(world), headers={"Idempotency-Key": key}
    )
    _assert_problem(response, 422)


def test_idempotent_retry_returns_the_first_response_and_changes_nothing(world: AdminWorld) -> None:
    # Given a creating POST with an Idempotency-Key
    token, key, body = _owner(world), uuid.uuid4().hex, _app_body(world)
    first = world.call("POST", "/admin/apps", token=token, body=body, headers={"Idempotency-Key": key})
    assert first.status == 201
    assert first.body["clientSecret"]
    before = world.call("GET", "/admin/apps", token=token, query={"limit": "100"}).body["items"]

    # When it is retried with the same key and body
    again = world.call("POST", "/admin/apps", token=token, body=body, headers={"Idempotency-Key": key})

    # Then the same status and body come back (the one-time secret as null), marked as a replay, and no
    # second app exists
    assert again.status == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.body == {**first.body, "clientSecret": None}
    after = world.call("GET", "/admin/apps", token=token, query={"limit": "100"}).body["items"]
    assert [a["appId"] for a in after] == [a["appId"] for a in before]


def test_same_key_with_another_body_is_422(world: AdminWorld) -> None:
    token, key = _owner(world), uuid.uuid4().hex
    assert (
        world.call("POST", "/admin/apps", token=token, body=_app_body(world), headers={"Idempotency-Key": key}).status
        == 201
    )
    other = world.call("POST", "/admin/apps", token=token, body=_app_body(world), headers={"Idempotency-Key": key})
    _assert_problem(other, 422)


def test_same_key_from_another_principal_is_a_new_request(world: AdminWorld) -> None:
    # Given the owner used a key
    key = uuid.uuid4().hex
    first = world.call(
        "POST",
        "/admin/apps",
        token=_owner(world),
        body=_app_body(world, name="Shared Key A"),
        headers={"Idempotency-Key": key},
    )
    assert first.status == 201
    # When an admin sends the same key (another body) / Then it is their own, new request
    _, admin = _new_user(world)
    second = world.call(
        "POST",
        "/admin/apps",
        token=world.token(admin),
        body=_app_body(world, name="Shared Key B"),
        headers={"Idempotency-Key": key},
    )
    assert second.status == 201
    assert second.body["appId"] != first.body["appId"]
    assert second.body["clientSecret"]


def test_failed_request_is_not_remembered(world: AdminWorld) -> None:
    # Given a POST that fails (unknown plan) with a key
    token, key = _owner(world), uuid.uuid4().hex
    failed = world.call(
        "POST",
        "/admin/apps",
        token=token,
        body=_app_body(world, planId="no-such-plan"),
        headers={"Idempotency-Key": key},
    )
    assert failed.status in (404, 422)
    # When it is retried with a valid body under the same key / Then it runs
    ok = world.call("POST", "/admin/apps", token=token, body=_app_body(world), headers={"Idempotency-Key": key})
    assert ok.status == 201


def _idempotency_records() -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name=os.environ["AWS_DEFAULT_REGION"])
    table = os.environ[names.ENV_IDEMPOTENCY_TABLE]
    return list(client.scan(TableName=table, ConsistentRead=True)["Items"])


def _password_forms(body: dict[str, Any], password: str) -> set[str]:
    """The password and what powertools (or anyone) would make of it or of a body holding it."""
    forms = {password, base64.b64encode(password.encode()).decode()}
    texts = [password, json.dumps(body, sort_keys=True), json.dumps(body), json.dumps(body, separators=(",", ":"))]
    for text in texts:
        for name in ("md5", "sha1", "sha256", "sha512"):
            forms.add(hashlib.new(name, text.encode()).hexdigest())
    return forms


def test_no_password_or_password_hash_reaches_the_idempotency_table(world: AdminWorld) -> None:
    # Given a signup and an invite, each sent with an Idempotency-Key
    suffix = uuid.uuid4().hex[:10]
    signup = {"tenantName": "Idem Co", "ownerUsername": f"o{suffix}@idem.example", "ownerPassword": f"S1gnup-{suffix}"}
    invite = {"username": f"i{suffix}@demo.example", "password": f"Inv1te-{suffix}", "role": "viewer"}
    with fast_keys_and_hashes():
        assert world.call("POST", "/signup", body=signup, headers={"Idempotency-Key": suffix}).status == 201
        invited = world.call(
            "POST", "/admin/users", token=_owner(world), body=invite, headers={"Idempotency-Key": suffix}
        )
    assert invited.status == 201

    # When the idempotency table is read raw
    values = [repr(raw) for item in _idempotency_records() for value in item.values() for raw in value.values()]
    dump = "\n".join(values)

    # Then neither password, nor any common hash of it or of a body holding it, is in any attribute
    assert len(values) >= 2
    for body, password in ((signup, signup["ownerPassword"]), (invite, invite["password"])):
        for form in _password_forms(body, password):
            assert form not in dump


def test_same_key_with_only_another_password_replays_the_first_response(world: AdminWorld) -> None:
    # Given an invite sent with an Idempotency-Key
    token, key = _owner(world), uuid.uuid4().hex
    invite = {"username": f"r{key[:10]}@demo.example", "password": f"F1rst-{key}", "role": "viewer"}
    with fast_keys_and_hashes():
        first = world.call("POST", "/admin/users", token=token, body=invite, headers={"Idempotency-Key": key})
        assert first.status == 201

        # When it is retried under the same key with only the password changed
        again = world.call(
            "POST",
            "/admin/users",
            token=token,
            body={**invite, "password": f"Sec0nd-{key}"},
            headers={"Idempotency-Key": key},
        )

    # Then it is a replay of the first (the password is not part of the fingerprint): nothing changes
    assert again.status == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.body == first.body
    assert world.oauth.password(invite["username"], f"Sec0nd-{key}").status == 400
    assert world.oauth.password(invite["username"], invite["password"]).status == 200


# --- rate limits ---------------------------------------------------------------------------------------------


def test_account_management_is_rate_limited_per_principal(world: AdminWorld) -> None:
    # Given the default policies (12 mutating calls per minute per principal) and a fresh admin
    world.limiter = RateLimiter(world.counters, world.oauth.clock, DEFAULT_POLICIES)
    try:
        _, username = _new_user(world)
        token = world.token(username)
        limit = DEFAULT_POLICIES["account_management"].limit
        # When they make one more mutating call than allowed (bodies invalid: rate limiting comes first)
        statuses = [
            world.call("PUT", f"/admin/apps/{world.oauth.app.app_id}/plan", token=token, body={}).status
            for _ in range(limit + 1)
        ]
        # Then the last is 429 with Retry-After, while reads and other principals are unaffected
        assert statuses[:limit] == [422] * limit
        limited = world.call("PUT", f"/admin/apps/{world.oauth.app.app_id}/plan", token=token, body={})
        _assert_problem(limited, 429)
        assert int(limited.headers["retry-after"]) >= 1
        assert world.call("GET", "/admin/tenant", token=token).status == 200
        _, other = _new_user(world)
        assert (
            world.call("PUT", f"/admin/apps/{world.oauth.app.app_id}/plan", token=world.token(other), body={}).status
            == 422
        )
    finally:
        world.limiter = RateLimiter(world.counters, world.oauth.clock, _generous())


def test_signup_is_rate_limited_per_ip(world: AdminWorld) -> None:
    world.limiter = RateLimiter(world.counters, world.oauth.clock, DEFAULT_POLICIES)
    try:
        ip = f"203.0.113.{uuid.uuid4().int % 250}"
        limit = DEFAULT_POLICIES["signup_ip"].limit
        statuses = [world.call("POST", "/signup", body={}, source_ip=ip).status for _ in range(limit + 1)]
        assert statuses[:limit] == [422] * limit
        assert statuses[limit] == 429
        assert world.call("POST", "/signup", body={}, source_ip="203.0.113.251").status == 422
    finally:
        world.limiter = RateLimiter(world.counters, world.oauth.clock, _generous())


def _generous() -> dict[str, Any]:
    from wiresocket.domain.ratelimit import RatePolicy

    return dict(DEFAULT_POLICIES) | {n: RatePolicy(n, 100_000, 60) for n in ("account_management", "signup_ip")}


# --- responses never carry secrets --------------------------------------------------------------------------


def test_response_models_carry_no_secret_but_the_one_time_client_secret() -> None:
    # Given every response model of the admin surface
    allowed = {("AppWithSecretOut", "client_secret"), ("AppSecretOut", "client_secret")}
    suspicious = ("secret", "password", "hash", "private", "sealed", "token", "wrapped", "pepper")
    found = set()
    for name in dir(admin_models):
        model = getattr(admin_models, name)
        if isinstance(model, type) and issubclass(model, admin_models.ResponseModel):
            for field_name in model.model_fields:
                if any(word in suspicious for word in field_name.lower().split("_")):
                    found.add((model.__name__, field_name))
    # Then only the declared one-time secret fields exist
    assert found == allowed


def test_listing_users_and_apps_never_shows_hashes(world: AdminWorld) -> None:
    token = _owner(world)
    text = json.dumps(
        [world.call("GET", path, token=token).body for path in ("/admin/users", "/admin/apps", "/admin/keys")]
    )
    assert "$argon2" not in text
    assert "secret" not in text.lower()


# --- OpenAPI ------------------------------------------------------------------------------------------------


def test_openapi_document_is_valid_and_covers_every_route(world: AdminWorld) -> None:
    from openapi_spec_validator import validate

    # Given the served document
    response = world.call("GET", "/openapi.json")
    assert response.status == 200
    document = response.body
    # Then it is a valid OpenAPI 3.1 document with the bearer scheme and every operation
    validate(document)
    assert document["info"]["title"]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    operations = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    expected = {(op.method, op.openapi_path) for op in world.api.operations if op.rule != "/openapi.json"}
    assert operations == expected
    assert "security" not in document["paths"]["/signup"]["post"]
    assert document["paths"]["/admin/apps"]["post"]["security"] == [{"bearerAuth": []}]


@pytest.mark.parametrize("action", ["suspend", "approve", "reactivate"])
def test_the_platform_tenant_cannot_be_changed(world: AdminWorld, action: str) -> None:
    # Given the operator / When they try to change the platform tenant's status
    from wiresocket.names import PLATFORM_TENANT_ID

    operator = world.token(world.oauth.operator.username)
    response = world.call("POST", f"/platform/tenants/{PLATFORM_TENANT_ID}/{action}", token=operator)
    # Then it is a conflict, and the operator still works
    _assert_problem(response, 409)
    assert world.call("GET", "/platform/plans", token=operator).status == 200
