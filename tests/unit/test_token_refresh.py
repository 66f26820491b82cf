"""Rotating refresh tokens, families, reuse detection, revocation and introspection (SPEC §3, RFC 7009/7662)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from tests.fakes.memory import MemoryStore
from tests.fakes.oauth_world import OAuthWorld, Response, basic, memory_world
from wiresocket.domain.apps import AppStatus
from wiresocket.domain.audit import SYSTEM_ACTOR, DetailType
from wiresocket.domain.refresh import FamilyStatus
from wiresocket.domain.tenants import TenantStatus
from wiresocket.domain.users import UserStatus
from wiresocket.ports import ReplaceApp, ReplaceTenant

OFFLINE = "WireSocket.API offline_access"


@pytest.fixture
def setup() -> tuple[OAuthWorld, MemoryStore]:
    world, store, *_ = memory_world()
    return world, store


def reuse_events(store: MemoryStore) -> list[str]:
    return [e.event_id for e in store.events.values() if e.detail_type is DetailType.REFRESH_TOKEN_REUSE_DETECTED]


def introspect(world: OAuthWorld, token: str, *, app: str = "app", hint: str | None = None) -> Response:
    client = getattr(world, app)
    form = {"token": token, "client_id": client.client_id, "client_secret": world._secret_of(client)}
    if hint:
        form["token_type_hint"] = hint
    return world.post("/connect/introspect", form)


# --- Negative cases first ---------------------------------------------------------------------------------


def test_replayed_refresh_token_revokes_the_family_and_is_audited(setup: tuple[OAuthWorld, MemoryStore]) -> None:
    world, store = setup
    first = world.client_credentials(OFFLINE).body["refresh_token"]
    second = world.refresh(first).body["refresh_token"]
    # When the used token comes back
    replay = world.refresh(first)
    assert (replay.status, replay.error) == (400, "invalid_grant")
    # Then the whole family is dead, including the newest token
    assert world.refresh(second).error == "invalid_grant"
    assert len(reuse_events(store)) == 1
    event = next(e for e in store.events.values() if e.detail_type is DetailType.REFRESH_TOKEN_REUSE_DETECTED)
    assert event.tenant_id == world.demo_tenant
    assert event.app_id == world.app.app_id
    assert "refresh_token" not in event.detail()
    # And replaying again adds no second event
    world.refresh(first)
    assert len(reuse_events(store)) == 1


def test_twenty_parallel_refreshes_exactly_one_wins_then_family_revoked(
    setup: tuple[OAuthWorld, MemoryStore],
) -> None:
    world, store = setup
    token = world.client_credentials(OFFLINE).body["refresh_token"]
    barrier = threading.Barrier(20)

    def attempt(_: int) -> Response:
        barrier.wait()
        return world.refresh(token)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(attempt, range(20)))
    winners = [r for r in results if r.status == 200]
    assert len(winners) == 1
    assert all((r.status, r.error) == (400, "invalid_grant") for r in results if r.status != 200)
    assert [f.status for f in store.families.values()] == [FamilyStatus.REVOKED]
    assert world.refresh(winners[0].body["refresh_token"]).error == "invalid_grant"
    assert len(reuse_events(store)) == 1


def test_refresh_token_of_another_client_is_invalid_grant_and_changes_nothing(
    setup: tuple[OAuthWorld, MemoryStore],
) -> None:
    world, store = setup
    token = world.client_credentials(OFFLINE).body["refresh_token"]
    before = (dict(store.families), dict(store.refresh_tokens))
    foreign = world.refresh(token, client_id=world.other_app.client_id)
    assert (foreign.status, foreign.error) == (400, "invalid_grant")
    assert (dict(store.families), dict(store.refresh_tokens)) == before
    assert world.refresh(token).status == 200


def test_refresh_with_a_wrong_secret_is_invalid_client(setup: tuple[OAuthWorld, MemoryStore]) -> None:
    world, _ = setup
    token = world.client_credentials(OFFLINE).body["refresh_token"]
    response = world.refresh(token, client_secret="wss_wrong")
    assert (response.status, response.error) == (401, "invalid_client")
    assert world.refresh(token, client_secret=world.app_secret).status == 200


def test_expired_refresh_token_is_invalid_grant(setup: tuple[OAuthWorld, MemoryStore]) -> None:
    world, _ = setup
    token = world.client_credentials(OFFLINE).body["refresh_token"]
    world.clock.advance(7 * 24 * 3600 + 1)  # type: ignore[attr-defined]
    assert world.refresh(token).error == "invalid_grant"


def test_regenerating_the_secret_kills_every_family(setup: tuple[OAuthWorld, MemoryStore]) -> None:
    world, _ = setup
    tokens = [world.client_credentials(OFFLINE).body["refresh_token"] for _ in range(3)]
    _, secret = world.entries.regenerate_secret(world.demo_tenant, world.app.app_id, SYSTEM_ACTOR)
    for token in tokens:
        assert world.refresh(token).error == "invalid_grant"
        assert introspect(world, token, hint="refresh_token").status == 401  # old secret is dead too
    fresh = world.client_credentials(OFFLINE, secret=secret).body["refresh_token"]
    assert world.refresh(fresh).status == 200


def test_refresh_cannot_widen_scope(setup: tuple[OAuthWorld, MemoryStore]) -> None:
    world, _ = setup
    token = world.password(world.viewer.username, scope="WireSocket.Read offline_access").body["refresh_token"]
    widened = world.refresh(token, client_id=world.dashboard.client_id, scope="WireSocket.Admin offline_access")
    assert widened.error == "invalid_scope"
    narrowed = world.refresh(token, client_id=world.dashboard.client_id, scope="WireSocket.Read")
    assert narrowed.body["scope"] == "WireSocket.Read"
    assert "refresh_token" in narrowed.body


def test_disabled_user_cannot_refresh_and_is_inactive(setup: tuple[OAuthWorld, MemoryStore]) -> None:
    world, store = setup
    body = world.password(world.owner.username, scope="WireSocket.Admin offline_access").body
    key = (world.owner.tenant_id, world.owner.user_id)
    store.users[key] = replace(store.users[key], status=UserStatus.DISABLED)
    assert world.refresh(body["refresh_token"], client_id=world.dashboard.client_id).error == "invalid_grant"


def test_suspended_tenant_and_disabled_app_end_refresh(setup: tuple[OAuthWorld, MemoryStore]) -> None:
    world, store = setup
    token = world.client_credentials(OFFLINE).body["refresh_token"]
    app = store.apps[(world.demo_tenant, world.app.app_id)]
    store.commit([ReplaceApp(replace(app, status=AppStatus.DISABLED), expected_generation=app.credential_generation)])
    assert world.refresh(token).error == "invalid_client"
    store.commit([ReplaceApp(app, expected_generation=app.credential_generation)])
    tenant = store.tenants[world.demo_tenant]
    store.commit([ReplaceTenant(replace(tenant, status=TenantStatus.SUSPENDED), expected_status="active")])
    assert world.refresh(token).error == "invalid_client"


# --- Revocation (RFC 7009) ----------------------------------------------------------------------------------


def test_revocation_kills_the_family_and_answers_200_for_unknown_tokens(
    setup: tuple[OAuthWorld, MemoryStore],
) -> None:
    world, _ = setup
    body = world.client_credentials(OFFLINE).body
    form = {"token": body["refresh_token"], "client_id": world.app.client_id, "client_secret": world.app_secret}
    assert world.post("/connect/revocation", form).status == 200
    assert world.refresh(body["refresh_token"]).error == "invalid_grant"
    unknown = dict(form, token="wsr_unknown")
    assert world.post("/connect/revocation", unknown).status == 200
    jwt_token = dict(form, token=body["access_token"])
    assert world.post("/connect/revocation", jwt_token).error == "unsupported_token_type"


def test_revocation_by_another_client_is_a_silent_no_op(setup: tuple[OAuthWorld, MemoryStore]) -> None:
    world, _ = setup
    token = world.client_credentials(OFFLINE).body["refresh_token"]
    form = {"token": token, "client_id": world.other_app.client_id, "client_secret": world.other_app_secret}
    assert world.post("/connect/revocation", form).status == 200
    assert world.refresh(token).status == 200


# --- Introspection (RFC 7662) -------------------------------------------------------------------------------


def test_introspection_reports_live_tokens_of_the_same_tenant(setup: tuple[OAuthWorld, MemoryStore]) -> None:
    world, _ = setup
    body = world.client_credentials(OFFLINE).body
    access = introspect(world, body["access_token"]).body
    assert access["active"] is True
    assert access["client_id"] == world.app.client_id
    assert access["scope"] == OFFLINE
    refresh = introspect(world, body["refresh_token"]).body
    assert refresh["active"] is True
    assert refresh["token_type"] == "refresh_token"
    # Another tenant's app learns nothing
    assert introspect(world, body["access_token"], app="other_app").body == {"active": False}
    assert introspect(world, body["refresh_token"], app="other_app").body == {"active": False}


def test_introspection_follows_current_state(setup: tuple[OAuthWorld, MemoryStore]) -> None:
    world, _ = setup
    body = world.client_credentials(OFFLINE).body
    human = world.password(world.owner.username).body["access_token"]
    assert introspect(world, human).body["active"] is True
    # key revoked → the access token is no longer honoured
    world.vault.revoke_all(world.demo_tenant, SYSTEM_ACTOR)
    assert introspect(world, body["access_token"]).body == {"active": False}
    assert introspect(world, human).body == {"active": False}
    # used refresh token → inactive
    world.refresh(body["refresh_token"])
    assert introspect(world, body["refresh_token"]).body == {"active": False}
    # garbage → inactive, never an error
    assert introspect(world, "not-a-token").body == {"active": False}
    assert introspect(world, "a.b.c").body == {"active": False}


def test_introspection_requires_an_authenticated_app(setup: tuple[OAuthWorld, MemoryStore]) -> None:
    world, _ = setup
    token = world.client_credentials().body["access_token"]
    no_secret = world.post("/connect/introspect", {"token": token, "client_id": world.app.client_id})
    assert (no_secret.status, no_secret.error) == (401, "invalid_client")
    dashboard = world.post(
        "/connect/introspect",
        {"token": token},
        headers={"Authorization": basic(world.dashboard.client_id, world.dashboard_secret)},
    )
    assert dashboard.error == "unauthorized_client"
