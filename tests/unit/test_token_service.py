"""Token endpoint over in-memory ports: grants, scope rules, principal separation, claims (SPEC §2-§4)."""

from __future__ import annotations

import base64
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

from tests.fakes.oauth_world import DEMO_DOMAINS, ISSUER_BASE, PASSWORD, OAuthWorld, basic, memory_world
from wiresocket.domain.audit import SYSTEM_ACTOR, DetailType
from wiresocket.domain.ratelimit import DEFAULT_POLICIES, RatePolicy
from wiresocket.names import PLATFORM_TENANT_ID


@pytest.fixture
def world() -> OAuthWorld:
    return memory_world()[0]


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def public_key(world: OAuthWorld, tenant_id: str, kid: str) -> Any:
    _, keys = world.store.tenant_with_keys(tenant_id)
    key = next(k for k in keys if k.kid == kid)

    def num(v: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(v + "=" * (-len(v) % 4)), "big")

    return RSAPublicNumbers(num(key.public_e), num(key.public_n)).public_key()


# --- Negative cases first ---------------------------------------------------------------------------------


def test_password_grant_never_yields_api_scope(world: OAuthWorld) -> None:
    # Given the tenant owner, When asking for WireSocket.API through the dashboard client
    response = world.password(world.owner.username, scope="WireSocket.API")
    # Then the scope is refused as a whole
    assert (response.status, response.error) == (400, "invalid_scope")


@pytest.mark.parametrize("scope", ["WireSocket.Admin", "WireSocket.Read", "WireSocket.Platform", "WireSocket.API x"])
def test_client_credentials_never_yields_human_scopes(world: OAuthWorld, scope: str) -> None:
    response = world.client_credentials(scope)
    assert (response.status, response.error) == (400, "invalid_scope")


def test_viewer_cannot_get_admin_and_owner_cannot_get_platform(world: OAuthWorld) -> None:
    assert world.password(world.viewer.username, scope="WireSocket.Admin").error == "invalid_scope"
    assert world.password(world.owner.username, scope="WireSocket.Platform").error == "invalid_scope"


def test_tenant_app_may_not_use_password_grant(world: OAuthWorld) -> None:
    response = world.post(
        "/connect/token",
        {"grant_type": "password", "username": world.owner.username, "password": PASSWORD},
        headers={"Authorization": basic(world.app.client_id, world.app_secret)},
    )
    assert (response.status, response.error) == (400, "unauthorized_client")


def test_dashboard_client_may_not_use_client_credentials(world: OAuthWorld) -> None:
    response = world.post(
        "/connect/token",
        {"grant_type": "client_credentials"},
        headers={"Authorization": basic(world.dashboard.client_id, world.dashboard_secret)},
    )
    assert (response.status, response.error) == (400, "unauthorized_client")


@pytest.mark.parametrize(
    ("which", "status", "error"),
    [
        ("pending_app", 401, "invalid_client"),
        ("suspended_app", 401, "invalid_client"),
        ("disabled_app", 401, "invalid_client"),
        ("app_without_plan", 400, "unauthorized_client"),
    ],
)
def test_issuance_preconditions(world: OAuthWorld, which: str, status: int, error: str) -> None:
    response = world.client_credentials(app=getattr(world, which))
    assert (response.status, response.error) == (status, error)
    assert "access_token" not in response.body


def test_wrong_secret_is_invalid_client_with_www_authenticate_on_basic(world: OAuthWorld) -> None:
    response = world.post(
        "/connect/token",
        {"grant_type": "client_credentials"},
        headers={"Authorization": basic(world.app.client_id, "wss_wrong")},
    )
    assert (response.status, response.error) == (401, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    post = world.client_credentials(secret="wss_wrong")
    assert (post.status, post.error) == (401, "invalid_client")
    assert "WWW-Authenticate" not in post.headers


def test_failed_authentication_locks_out_only_that_client() -> None:
    world, store, *_ = memory_world()
    limit = DEFAULT_POLICIES["auth_failure"].limit
    for _ in range(limit):
        assert world.client_credentials(secret="wss_wrong").status == 401
    # Then the right secret is refused too, with Retry-After
    locked = world.client_credentials()
    assert locked.status == 429
    assert int(locked.headers["Retry-After"]) >= 1
    # And another client is unaffected
    assert world.client_credentials(app=world.other_app).status == 200
    # And the lock-out was audited once
    events = [e for e in store.events.values() if e.detail_type is DetailType.AUTHENTICATION_LOCKED_OUT]
    assert len(events) == 1
    assert events[0].tenant_id == world.demo_tenant


def test_username_lockout_after_failed_passwords(world: OAuthWorld) -> None:
    for _ in range(DEFAULT_POLICIES["auth_failure"].limit):
        assert world.password(world.owner.username, password="wrong password!").error == "invalid_grant"
    assert world.password(world.owner.username).status == 429
    assert world.password(world.viewer.username).status == 200


def test_per_ip_rate_limit_gives_429_with_retry_after() -> None:
    policies = dict(DEFAULT_POLICIES)
    policies["token_ip"] = RatePolicy("token_ip", limit=3, window_seconds=60)
    world = memory_world(policies=policies)[0]
    statuses = [world.client_credentials().status for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    limited = world.client_credentials()
    assert limited.error == "temporarily_unavailable"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Another address is not limited
    other = world.post(
        "/connect/token",
        {"grant_type": "client_credentials", "client_id": world.app.client_id, "client_secret": world.app_secret},
        source_ip="203.0.113.9",
    )
    assert other.status == 200


def test_dependency_down_is_503_and_changes_nothing() -> None:
    world, store, wrapper, _, counters = memory_world()
    before = (dict(store.families), dict(store.refresh_tokens), dict(store.events))
    world.cache.forget_tenant(world.demo_tenant)
    wrapper.fail = True
    kms_down = world.client_credentials("WireSocket.API offline_access")
    wrapper.fail = False
    store.fail = True
    db_down = world.client_credentials("WireSocket.API offline_access")
    store.fail = False
    counters.fail = True
    counters_down = world.client_credentials()
    counters.fail = False
    for response in (kms_down, db_down, counters_down):
        assert (response.status, response.error) == (503, "temporarily_unavailable")
        assert response.headers["Retry-After"] == "1"
    assert (dict(store.families), dict(store.refresh_tokens), dict(store.events)) == before


# --- Happy paths ---------------------------------------------------------------------------------------------


def test_client_credentials_token_has_exactly_the_spec_claims(world: OAuthWorld) -> None:
    response = world.client_credentials()
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == "WireSocket.API"
    assert "refresh_token" not in body  # no offline_access requested
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256"
    assert header["typ"] == "JWT"
    claims = jwt.decode(
        body["access_token"],
        public_key(world, world.demo_tenant, header["kid"]),
        algorithms=["RS256"],
        audience="WireSocket.API",
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert set(claims) == {
        "iss", "sub", "aud", "scope", "tenantid", "appId", "licenseRegionCode", "dbCode",
        "allowed_domain_1", "allowed_domain_2", "limits", "iat", "nbf", "exp", "jti",
    }  # fmt: skip
    assert claims["iss"] == f"{ISSUER_BASE}/{world.demo_tenant}"
    assert claims["sub"] == world.app.client_id
    assert claims["tenantid"] == world.demo_tenant
    assert claims["appId"] == world.app.app_id
    assert claims["licenseRegionCode"] == claims["dbCode"] == "aws-eu-west-1"
    assert (claims["allowed_domain_1"], claims["allowed_domain_2"]) == DEMO_DOMAINS
    assert claims["limits"] == {"maxConnections": 100, "maxDocuments": 10, "maxUsersPerDoc": 5, "opsPerMinute": 600}
    assert claims["exp"] - claims["iat"] == 900
    assert claims["nbf"] == claims["iat"]


def test_each_token_has_a_fresh_jti_and_signs_with_the_active_key(world: OAuthWorld) -> None:
    first, second = world.client_credentials().body, world.client_credentials().body
    assert claims_of(first["access_token"])["jti"] != claims_of(second["access_token"])["jti"]
    _, keys = world.store.tenant_with_keys(world.demo_tenant)
    active = next(k for k in keys if k.state == "active")
    assert jwt.get_unverified_header(first["access_token"])["kid"] == active.kid


def test_offline_access_returns_a_refresh_token(world: OAuthWorld) -> None:
    body = world.client_credentials("WireSocket.API offline_access").body
    assert body["scope"] == "WireSocket.API offline_access"
    assert body["refresh_token"].startswith("wsr_")


def test_password_grants_role_scopes_with_dashboard_audience(world: OAuthWorld) -> None:
    owner = world.password(world.owner.username)
    viewer = world.password("  Viewer@Demo.Example ")
    operator = world.password(world.operator.username, scope="WireSocket.Platform offline_access")
    assert owner.body["scope"] == "WireSocket.Admin"
    assert viewer.body["scope"] == "WireSocket.Read"
    assert operator.body["scope"] == "WireSocket.Platform offline_access"
    assert "refresh_token" in operator.body
    owner_claims = claims_of(owner.body["access_token"])
    assert owner_claims["aud"] == "WireSocket.Dashboard"
    assert owner_claims["sub"] == world.owner.user_id
    assert owner_claims["tenantid"] == world.demo_tenant
    assert "appId" not in owner_claims
    op_claims = claims_of(operator.body["access_token"])
    assert op_claims["tenantid"] == PLATFORM_TENANT_ID
    assert op_claims["iss"] == f"{ISSUER_BASE}/{PLATFORM_TENANT_ID}"


def test_platform_and_demo_tenants_sign_with_their_own_keys(world: OAuthWorld) -> None:
    app_kid = jwt.get_unverified_header(world.client_credentials().body["access_token"])["kid"]
    op_kid = jwt.get_unverified_header(world.password(world.operator.username).body["access_token"])["kid"]
    _, platform_keys = world.store.tenant_with_keys(PLATFORM_TENANT_ID)
    assert op_kid in {k.kid for k in platform_keys}
    assert app_kid not in {k.kid for k in platform_keys}


def test_warm_issuance_makes_zero_kms_calls() -> None:
    world, _, wrapper, _, _ = memory_world()
    assert world.client_credentials().status == 200  # cold: unwraps the key once
    calls = wrapper.calls
    for _ in range(25):
        assert world.client_credentials().status == 200
    assert wrapper.calls == calls


def test_basic_credentials_are_form_decoded(world: OAuthWorld) -> None:
    # RFC 6749 §2.3.1: client_id and secret are form-urlencoded before Base64
    raw = f"{world.app.client_id}:{world.app_secret}".replace("-", "%2D").encode()
    header = "Basic " + base64.b64encode(raw).decode()
    response = world.post("/connect/token", {"grant_type": "client_credentials"}, headers={"Authorization": header})
    assert response.status == 200


def test_regenerated_secret_stops_the_old_secret(world: OAuthWorld) -> None:
    _, new_secret = world.entries.regenerate_secret(world.demo_tenant, world.app.app_id, SYSTEM_ACTOR)
    assert world.client_credentials().status == 401
    assert world.client_credentials(secret=new_secret).status == 200


def test_key_rotation_switches_signing_key(world: OAuthWorld) -> None:
    before = jwt.get_unverified_header(world.client_credentials().body["access_token"])["kid"]
    rotation = world.vault.rotate(world.demo_tenant, SYSTEM_ACTOR)
    after = jwt.get_unverified_header(world.client_credentials().body["access_token"])["kid"]
    assert (before, after) == (rotation.retiring_kid, rotation.active_kid)


def test_the_oauth_values_never_show_a_secret_or_token_in_their_repr() -> None:
    from wiresocket.domain.oauth import AuthMethod, ClientCredentials, OAuthRequest, TokenResponse

    # Given a request with a client secret, a password and a refresh token, and a response with both tokens
    credentials = ClientCredentials("wsc_client", "wss_the-secret", AuthMethod.POST)
    request = OAuthRequest({"password": "hunter2-password", "refresh_token": "rt-the-refresh"}, credentials, "1.2.3.4")
    response = TokenResponse("eyJ.the-access.token", 900, "WireSocket.API", refresh_token="rt-the-new-refresh")
    # When they are printed (a log line, a traceback, a debugger)
    shown = repr(credentials) + repr(request) + repr(response)
    # Then no secret or token is in the text, and what identifies the request still is
    for secret in (
        "wss_the-secret",
        "hunter2-password",
        "rt-the-refresh",
        "eyJ.the-access.token",
        "rt-the-new-refresh",
    ):
        assert secret not in shown
    assert "wsc_client" in shown and "1.2.3.4" in shown and "WireSocket.API" in shown
