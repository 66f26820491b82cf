"""The token function's real handler on moto: a table of hostile requests, dependency failures, concurrent
refreshes and the warm path's KMS calls (issue 3)."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.client import BaseClient
from botocore.exceptions import EndpointConnectionError
from pynamodb.connection.base import Connection
from pynamodb.exceptions import PynamoDBConnectionError

from tests.fakes.oauth_world import ISSUER_BASE, PASSWORD, OAuthWorld, basic, rest_event
from tests.integration import rest
from tests.integration.conftest import REGION, Aws, moto_world
from wiresocket import names, wiring
from wiresocket.adapters.dynamo_ratelimit import DynamoCounterStore
from wiresocket.domain.credentials import generate_refresh_token, hash_refresh_token
from wiresocket.domain.refresh import FamilyStatus, RefreshFamily, RefreshStatus, RefreshToken, SubjectKind
from wiresocket.ports import PutRefreshFamily, PutRefreshToken

TOKEN = "/connect/token"


@dataclass
class Called:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def error(self) -> str | None:
        return self.body.get("error") if isinstance(self.body, dict) else None


def call(event: dict[str, Any]) -> Called:
    """Invoke ``functions/token/handler.py`` as Lambda would."""
    result = rest.invoke("token", event)
    body = rest.body_json(result) if result["body"] else None
    return Called(result["statusCode"], result["headers"], body)


@pytest.fixture
def world(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> OAuthWorld:
    table = aws.resources.rate_limit_table
    monkeypatch.setenv(names.ENV_RATE_LIMIT_TABLE, table)
    monkeypatch.setenv(names.ENV_ISSUER_BASE, ISSUER_BASE)
    return moto_world(aws, DynamoCounterStore(aws.dynamodb, table))


def snapshot(aws: Aws) -> list[dict[str, Any]]:
    """Every item of the directory table, in a stable order."""
    items: list[dict[str, Any]] = []
    paginator = aws.dynamodb.get_paginator("scan")
    for page in paginator.paginate(TableName=aws.resources.directory_table, ConsistentRead=True):
        items.extend(page["Items"])
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


# --- the hostile table ---------------------------------------------------------------------------------------


@dataclass
class Prepared:
    """Tokens prepared before the snapshot."""

    used_refresh: str  # used, family already revoked
    expired_refresh: str
    foreign_refresh: str  # belongs to the other tenant's app
    live_refresh: str


def prepare(world: OAuthWorld) -> Prepared:
    used = world.client_credentials("WireSocket.API offline_access").body["refresh_token"]
    assert world.refresh(used).status == 200
    assert world.refresh(used).error == "invalid_grant"  # replay: the family is revoked now
    raw = generate_refresh_token()
    family = RefreshFamily(
        "expired-family-000001", world.demo_tenant, SubjectKind.APP, world.app.app_id, world.app.client_id,
        "WireSocket.API offline_access", world.app.credential_generation, FamilyStatus.ACTIVE, 1, 2_000_000_000,
    )  # fmt: skip
    token = RefreshToken(hash_refresh_token(raw), family.family_id, world.demo_tenant, world.app.client_id,
                         RefreshStatus.ACTIVE, 1, 2)  # fmt: skip
    world.store.commit([PutRefreshFamily(family), PutRefreshToken(token)])
    foreign = world.client_credentials("WireSocket.API offline_access", app=world.other_app).body["refresh_token"]
    live = world.client_credentials("WireSocket.API offline_access").body["refresh_token"]
    return Prepared(used, raw, foreign, live)


Form = dict[str, str]
Build = Callable[[OAuthWorld, Prepared], dict[str, Any]]


def form(body: Form | str | bytes, **kwargs: Any) -> Build:
    return lambda w, p: rest_event(TOKEN, body, **kwargs)


def cc(w: OAuthWorld, **extra: str) -> Form:
    return {"grant_type": "client_credentials", "client_id": w.app.client_id, "client_secret": w.app_secret, **extra}


def pw(w: OAuthWorld, **extra: str) -> Form:
    return {"grant_type": "password", "username": w.owner.username, "password": PASSWORD, **extra}


def dash(w: OAuthWorld) -> dict[str, str]:
    return {"Authorization": basic(w.dashboard.client_id, w.dashboard_secret)}


def rt(w: OAuthWorld, token: str, **extra: str) -> Form:
    return {"grant_type": "refresh_token", "refresh_token": token, "client_id": w.app.client_id, **extra}


CASES: list[tuple[str, Build, int, str]] = [
    ("empty body", lambda w, p: rest_event(TOKEN, ""), 400, "invalid_request"),
    ("missing grant_type", lambda w, p: rest_event(TOKEN, {"client_id": w.app.client_id}), 400, "invalid_request"),
    (
        "unknown grant_type",
        lambda w, p: rest_event(TOKEN, cc(w, grant_type="authorization_code")),
        400,
        "unsupported_grant_type",
    ),
    (
        "jwt-bearer grant",
        lambda w, p: rest_event(TOKEN, cc(w, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer")),
        400,
        "unsupported_grant_type",
    ),
    ("implicit grant", lambda w, p: rest_event(TOKEN, cc(w, grant_type="implicit")), 400, "unsupported_grant_type"),
    (
        "duplicate grant_type",
        lambda w, p: rest_event(TOKEN, urlencode(cc(w)) + "&grant_type=password"),
        400,
        "invalid_request",
    ),
    (
        "duplicate client_id",
        lambda w, p: rest_event(TOKEN, urlencode(cc(w)) + f"&client_id={w.other_app.client_id}"),
        400,
        "invalid_request",
    ),
    (
        "duplicate scope",
        lambda w, p: rest_event(TOKEN, urlencode(cc(w, scope="WireSocket.API")) + "&scope=x"),
        400,
        "invalid_request",
    ),
    (
        "JSON body",
        lambda w, p: rest_event(TOKEN, '{"grant_type":"client_credentials"}', content_type="application/json"),
        400,
        "invalid_request",
    ),
    ("no Content-Type", lambda w, p: rest_event(TOKEN, cc(w), content_type=None), 400, "invalid_request"),
    ("text/plain", lambda w, p: rest_event(TOKEN, cc(w), content_type="text/plain"), 400, "invalid_request"),
    (
        "latin-1 charset",
        lambda w, p: rest_event(TOKEN, cc(w), content_type="application/x-www-form-urlencoded; charset=latin1"),
        400,
        "invalid_request",
    ),
    (
        "two Content-Types",
        lambda w, p: rest_event(TOKEN, cc(w), headers={"content-type": ["text/plain"]}),
        400,
        "invalid_request",
    ),
    ("oversized body", lambda w, p: rest_event(TOKEN, urlencode(cc(w, pad="x" * 9000))), 400, "invalid_request"),
    ("huge body", lambda w, p: rest_event(TOKEN, "a=" + "x" * 70_000), 400, "invalid_request"),
    (
        "invalid UTF-8",
        lambda w, p: rest_event(TOKEN, b"grant_type=client_credentials&x=\xff\xfe"),
        400,
        "invalid_request",
    ),
    (
        "percent-encoded invalid UTF-8",
        lambda w, p: rest_event(TOKEN, urlencode(cc(w)) + "&x=%FF"),
        400,
        "invalid_request",
    ),
    (
        "NUL in a value",
        lambda w, p: rest_event(TOKEN, urlencode(cc(w)) + "&scope=WireSocket.API%00"),
        400,
        "invalid_request",
    ),
    ("empty field", lambda w, p: rest_event(TOKEN, urlencode(cc(w)) + "&&"), 400, "invalid_request"),
    (
        "query string credentials",
        lambda w, p: rest_event(TOKEN, cc(w), query={"client_secret": w.app_secret}),
        400,
        "invalid_request",
    ),
    (
        "too many parameters",
        lambda w, p: rest_event(TOKEN, cc(w, **{f"p{i}": "1" for i in range(20)})),
        400,
        "invalid_request",
    ),
    ("GET", lambda w, p: rest_event(TOKEN, None, method="GET"), 400, "invalid_request"),
    (
        "Basic not base64",
        lambda w, p: rest_event(
            TOKEN, {"grant_type": "client_credentials"}, headers={"Authorization": "Basic !!!notbase64"}
        ),
        401,
        "invalid_client",
    ),
    (
        "Basic without colon",
        lambda w, p: rest_event(
            TOKEN,
            {"grant_type": "client_credentials"},
            headers={"Authorization": "Basic " + base64.b64encode(w.app.client_id.encode()).decode()},
        ),
        401,
        "invalid_client",
    ),
    (
        "Bearer instead of Basic",
        lambda w, p: rest_event(TOKEN, {"grant_type": "client_credentials"}, headers={"Authorization": "Bearer abc"}),
        401,
        "invalid_client",
    ),
    (
        "Basic and client_secret in body",
        lambda w, p: rest_event(TOKEN, cc(w), headers={"Authorization": basic(w.app.client_id, w.app_secret)}),
        400,
        "invalid_request",
    ),
    (
        "Basic and another client_id in body",
        lambda w, p: rest_event(
            TOKEN,
            {"grant_type": "client_credentials", "client_id": w.other_app.client_id},
            headers={"Authorization": basic(w.app.client_id, w.app_secret)},
        ),
        400,
        "invalid_request",
    ),
    (
        "client_secret without client_id",
        lambda w, p: rest_event(TOKEN, {"grant_type": "client_credentials", "client_secret": w.app_secret}),
        400,
        "invalid_request",
    ),
    (
        "no client authentication",
        lambda w, p: rest_event(TOKEN, {"grant_type": "client_credentials"}),
        401,
        "invalid_client",
    ),
    (
        "unknown client",
        lambda w, p: rest_event(TOKEN, cc(w, client_id="wsc_00000000000000000000000000000000")),
        401,
        "invalid_client",
    ),
    ("malformed client_id", lambda w, p: rest_event(TOKEN, cc(w, client_id="a b c")), 401, "invalid_client"),
    ("wrong secret (post)", lambda w, p: rest_event(TOKEN, cc(w, client_secret="wss_wrong")), 401, "invalid_client"),
    (
        "wrong secret (basic)",
        lambda w, p: rest_event(
            TOKEN, {"grant_type": "client_credentials"}, headers={"Authorization": basic(w.app.client_id, "wss_x")}
        ),
        401,
        "invalid_client",
    ),
    (
        "another tenant's secret",
        lambda w, p: rest_event(TOKEN, cc(w, client_secret=w.other_app_secret)),
        401,
        "invalid_client",
    ),
    (
        "client_credentials without secret",
        lambda w, p: rest_event(TOKEN, {"grant_type": "client_credentials", "client_id": w.app.client_id}),
        401,
        "invalid_client",
    ),
    (
        "another tenant's client with this tenant's user",
        lambda w, p: rest_event(
            TOKEN, pw(w), headers={"Authorization": basic(w.other_app.client_id, w.other_app_secret)}
        ),
        400,
        "unauthorized_client",
    ),
    (
        "dashboard client on client_credentials",
        lambda w, p: rest_event(TOKEN, {"grant_type": "client_credentials"}, headers=dash(w)),
        400,
        "unauthorized_client",
    ),
    (
        "dashboard client, wrong secret",
        lambda w, p: rest_event(TOKEN, pw(w), headers={"Authorization": basic(w.dashboard.client_id, "wss_nope")}),
        401,
        "invalid_client",
    ),
    (
        "wrong password",
        lambda w, p: rest_event(TOKEN, pw(w, password="wrong password 1"), headers=dash(w)),
        400,
        "invalid_grant",
    ),
    (
        "unknown user",
        lambda w, p: rest_event(TOKEN, pw(w, username="nobody@nowhere.example"), headers=dash(w)),
        400,
        "invalid_grant",
    ),
    (
        "oversized password",
        lambda w, p: rest_event(TOKEN, pw(w, password="p" * 300), headers=dash(w)),
        400,
        "invalid_grant",
    ),
    (
        "missing password",
        lambda w, p: rest_event(TOKEN, {"grant_type": "password", "username": w.owner.username}, headers=dash(w)),
        400,
        "invalid_request",
    ),
    (
        "missing username",
        lambda w, p: rest_event(TOKEN, {"grant_type": "password", "password": PASSWORD}, headers=dash(w)),
        400,
        "invalid_request",
    ),
    (
        "password grant asking for API",
        lambda w, p: rest_event(TOKEN, pw(w, scope="WireSocket.API"), headers=dash(w)),
        400,
        "invalid_scope",
    ),
    ("app asking for Admin", lambda w, p: rest_event(TOKEN, cc(w, scope="WireSocket.Admin")), 400, "invalid_scope"),
    (
        "app asking for Platform",
        lambda w, p: rest_event(TOKEN, cc(w, scope="WireSocket.Platform")),
        400,
        "invalid_scope",
    ),
    ("unknown scope", lambda w, p: rest_event(TOKEN, cc(w, scope="email")), 400, "invalid_scope"),
    (
        "malformed scope",
        lambda w, p: rest_event(TOKEN, cc(w, scope="WireSocket.API  offline_access")),
        400,
        "invalid_scope",
    ),
    ("offline_access alone", lambda w, p: rest_event(TOKEN, cc(w, scope="offline_access")), 400, "invalid_scope"),
    (
        "pending tenant",
        lambda w, p: rest_event(TOKEN, cc(w, client_id=w.pending_app.client_id, client_secret=w.pending_app_secret)),
        401,
        "invalid_client",
    ),
    (
        "suspended tenant",
        lambda w, p: rest_event(
            TOKEN, cc(w, client_id=w.suspended_app.client_id, client_secret=w.suspended_app_secret)
        ),
        401,
        "invalid_client",
    ),
    (
        "disabled app",
        lambda w, p: rest_event(TOKEN, cc(w, client_id=w.disabled_app.client_id, client_secret=w.disabled_app_secret)),
        401,
        "invalid_client",
    ),
    (
        "app without plan",
        lambda w, p: rest_event(
            TOKEN, cc(w, client_id=w.app_without_plan.client_id, client_secret=w.app_without_plan_secret)
        ),
        400,
        "unauthorized_client",
    ),
    (
        "refresh without refresh_token",
        lambda w, p: rest_event(TOKEN, {"grant_type": "refresh_token", "client_id": w.app.client_id}),
        400,
        "invalid_request",
    ),
    ("unknown refresh token", lambda w, p: rest_event(TOKEN, rt(w, generate_refresh_token())), 400, "invalid_grant"),
    ("oversized refresh token", lambda w, p: rest_event(TOKEN, rt(w, "r" * 1000)), 400, "invalid_grant"),
    ("used refresh token", lambda w, p: rest_event(TOKEN, rt(w, p.used_refresh)), 400, "invalid_grant"),
    ("expired refresh token", lambda w, p: rest_event(TOKEN, rt(w, p.expired_refresh)), 400, "invalid_grant"),
    ("foreign refresh token", lambda w, p: rest_event(TOKEN, rt(w, p.foreign_refresh)), 400, "invalid_grant"),
    (
        "refresh without client_id",
        lambda w, p: rest_event(TOKEN, {"grant_type": "refresh_token", "refresh_token": p.live_refresh}),
        401,
        "invalid_client",
    ),
    (
        "refresh with a wrong secret",
        lambda w, p: rest_event(TOKEN, rt(w, p.live_refresh, client_secret="wss_bad")),
        401,
        "invalid_client",
    ),
    (
        "refresh widening scope",
        lambda w, p: rest_event(TOKEN, rt(w, p.live_refresh, scope="WireSocket.Admin")),
        400,
        "invalid_scope",
    ),
]


def test_hostile_token_requests_get_their_exact_error_and_change_nothing(aws: Aws, world: OAuthWorld) -> None:
    assert len(CASES) >= 40
    prepared = prepare(world)
    before = snapshot(aws)
    failures: list[str] = []
    for number, (name, build, status, error) in enumerate(CASES):
        event = build(world, prepared)
        event["requestContext"]["identity"]["sourceIp"] = f"203.0.113.{number + 1}"
        got = call(event)
        ok = (got.status, got.error) == (status, error) and got.headers.get("Cache-Control") == "no-store"
        if status == 401 and "Authorization" in (event.get("headers") or {}):
            ok = ok and got.headers.get("WWW-Authenticate", "").startswith("Basic ")
        ok = ok and got.status < 500 and "access_token" not in (got.body or {})
        if not ok:
            failures.append(f"{name}: expected {status} {error}, got {got.status} {got.body}")
    assert not failures, "\n".join(failures)
    assert snapshot(aws) == before
    # And the live refresh token survived all of it
    assert call(rest_event(TOKEN, rt(world, prepared.live_refresh))).status == 200


# --- dependencies failing ----------------------------------------------------------------------------------


def test_kms_unavailable_is_503_with_no_state_changed(aws: Aws, world: OAuthWorld) -> None:
    assert call(rest_event(TOKEN, cc(world))).status == 200  # warms the pepper and the key
    wiring.unsealed_key_cache().forget_tenant(world.demo_tenant)  # the next request needs KMS Decrypt
    before = snapshot(aws)

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://kms.eu-west-1.amazonaws.com")

    events = wiring.kms_client(REGION).meta.events
    events.register("before-call.kms", unreachable, unique_id="kms-down")
    try:
        got = call(rest_event(TOKEN, cc(world, scope="WireSocket.API offline_access")))
    finally:
        events.unregister("before-call.kms", unique_id="kms-down")
    assert (got.status, got.error) == (503, "temporarily_unavailable")
    assert got.headers["Retry-After"] == "1"
    assert snapshot(aws) == before
    assert call(rest_event(TOKEN, cc(world))).status == 200  # and it recovers


def test_dynamodb_failing_at_commit_is_503_and_the_refresh_token_survives(
    aws: Aws, world: OAuthWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = world.client_credentials("WireSocket.API offline_access").body["refresh_token"]
    before = snapshot(aws)

    def down(*args: Any, **kwargs: Any) -> Any:
        raise PynamoDBConnectionError("transact_write_items", ConnectionResetError("connection reset"))

    with monkeypatch.context() as patch:
        patch.setattr(Connection, "transact_write_items", down)
        rotated = call(rest_event(TOKEN, rt(world, token)))
        issued = call(rest_event(TOKEN, cc(world, scope="WireSocket.API offline_access")))
    for got in (rotated, issued):
        assert (got.status, got.error) == (503, "temporarily_unavailable")
    assert snapshot(aws) == before
    assert call(rest_event(TOKEN, rt(world, token))).status == 200


def test_dynamodb_unreachable_is_503(aws: Aws, world: OAuthWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(aws)
    with monkeypatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
        from wiresocket.adapters import directory_models

        meta: Any = directory_models.DirectoryItem.Meta
        patch.setattr(meta, "host", "http://127.0.0.1:9")
        patch.setattr(meta, "max_retry_attempts", 0)
        for model in directory_models.ALL_MODELS:
            patch.setattr(model, "_connection", None)
        got = call(rest_event(TOKEN, cc(world)))
    for model in directory_models.ALL_MODELS:
        model._connection = None
    assert (got.status, got.error) == (503, "temporarily_unavailable")
    assert snapshot(aws) == before


# --- concurrency and the warm path -----------------------------------------------------------------------


def test_twenty_parallel_refreshes_one_wins_then_family_revoked(
    aws: Aws, world: OAuthWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = world.client_credentials("WireSocket.API offline_access").body["refresh_token"]
    # moto's in-process backend is not thread-safe (it deep-copies tables inside transactions), so each API
    # call runs alone, as DynamoDB serialises writes to one item. Requests still interleave between calls:
    # all 20 read the token as active before any of them commits.
    moto_lock = threading.Lock()
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def one_at_a_time(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        with moto_lock:
            return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", one_at_a_time)
    barrier = threading.Barrier(20)

    def attempt(_: int) -> int:
        barrier.wait()
        return world.refresh(token).status

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(attempt, range(20)))
    assert statuses.count(200) == 1
    assert statuses.count(400) == 19
    families = [i for i in snapshot(aws) if i["pk"]["S"].startswith("FAMILY#")]
    assert [f["status"]["S"] for f in families] == ["revoked"]
    events = [i for i in snapshot(aws) if i.get("detail_type", {}).get("S") == "RefreshTokenReuseDetected"]
    assert len(events) == 1


def test_warm_issuance_through_the_handler_makes_zero_kms_calls(aws: Aws, world: OAuthWorld) -> None:
    assert call(rest_event(TOKEN, cc(world))).status == 200  # cold: pepper + key unwrapped
    calls: list[str] = []
    client = wiring.kms_client(REGION)
    client.meta.events.register("before-call.kms", lambda model, **_: calls.append(model.name))
    for _ in range(10):
        assert call(rest_event(TOKEN, cc(world))).status == 200
    assert calls == []


def test_wrong_secrets_lock_the_client_out_through_the_handler_and_no_other_client(aws: Aws, world: OAuthWorld) -> None:
    # Given as many wrong secrets as the lock-out allows, each counted in the rate-limit table on moto
    from wiresocket.domain.ratelimit import DEFAULT_POLICIES

    wrong = {**cc(world), "client_secret": "wss_wrong"}
    for _ in range(DEFAULT_POLICIES["auth_failure"].limit):
        assert call(rest_event(TOKEN, wrong)).error == "invalid_client"
    # When the right secret comes next (its lock-out counter is read with its client_id entry, one BatchGetItem)
    locked = call(rest_event(TOKEN, cc(world)))
    # Then it is refused with Retry-After, and another app's client is not
    assert (locked.status, locked.error) == (429, "temporarily_unavailable")
    assert int(locked.headers["Retry-After"]) >= 1
    other = {**cc(world), "client_id": world.other_app.client_id, "client_secret": world.other_app_secret}
    assert call(rest_event(TOKEN, other)).status == 200
