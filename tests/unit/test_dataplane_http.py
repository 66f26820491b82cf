"""The data-plane HTTP endpoints (issue 6; public docs "API reference"): ``/discovery``, ``/usage``, ``/health``.

Negative cases first: no token, forged and foreign tokens, revoked keys, disabled apps, bad document names, a
foreign ``Origin``, wrong methods, rate limits, dependencies down; then the answers themselves.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import jwt
import pytest

from tests.fakes.memory import FakeClock, MemoryStore
from tests.fakes.oauth_world import ISSUER_BASE, OAuthWorld, memory_world, rest_event
from tests.fakes.ratelimit import MemoryCounterStore
from wiresocket.domain.apps import AppStatus
from wiresocket.domain.audit import SYSTEM_ACTOR
from wiresocket.domain.errors import DependencyUnavailable
from wiresocket.domain.limits import connections_counter_key, documents_counter_key
from wiresocket.domain.pinning import GRACE_SECONDS, DocumentPin
from wiresocket.services.authorize import SECURITY_STATE, CachedStateDirectory
from wiresocket.services.dataplane_http import (
    DATAPLANE_POLICIES,
    DataPlaneHttp,
    NodeIdentity,
    handle_dataplane_event,
    usage_entry,
)
from wiresocket.services.ratelimit import RateLimiter
from wiresocket.services.verification import TokenVerifier

NODE = NodeIdentity("eu-central-1", "wss://eu-central-1.example.test")
ORIGIN = "http://localhost:5173"


class MemoryPins:
    """An in-memory ``PinLookup``; ``fail`` makes it raise ``DependencyUnavailable``."""

    def __init__(self) -> None:
        self.pins: dict[tuple[str, str, str, str], DocumentPin] = {}
        self.fail = False

    def document_pin(self, license_region: str, tenant_id: str, app_id: str, document: str) -> DocumentPin | None:
        if self.fail:
            raise DependencyUnavailable("pins down")
        return self.pins.get((license_region, tenant_id, app_id, document))


class MemoryUsage:
    """An in-memory ``UsageReader``."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        self.fail = False

    def counters(self, license_region: str, keys: Sequence[str]) -> dict[str, int]:
        if self.fail:
            raise DependencyUnavailable("usage down")
        return {key: self.counts.get((license_region, key), 0) for key in keys}


@dataclass
class CountingProbe:
    calls: int = 0
    fail: bool = False

    def probe(self) -> None:
        self.calls += 1
        if self.fail:
            raise DependencyUnavailable("tables down")


@dataclass
class Setup:
    world: OAuthWorld
    store: MemoryStore
    clock: FakeClock
    pins: MemoryPins
    usage: MemoryUsage
    probe: CountingProbe
    counters: dict[str, MemoryCounterStore]
    service: DataPlaneHttp
    regions_counted: list[str] = field(default_factory=list)

    def token(self) -> str:
        return str(self.world.client_credentials().body["access_token"])

    def call(self, event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        result = json.loads(json.dumps(handle_dataplane_event(event, lambda: self.service).response))
        body = json.loads(result["body"]) if result["body"] else None
        return result["statusCode"], result["headers"], body


@pytest.fixture
def setup() -> Setup:
    world, store, _, clock, _ = memory_world()
    state = CachedStateDirectory(store, clock, ttl_seconds=5, always_fresh=SECURITY_STATE)
    pins, usage, probe = MemoryPins(), MemoryUsage(), CountingProbe()
    counters: dict[str, MemoryCounterStore] = {}
    limiters: dict[str, RateLimiter] = {}
    regions: list[str] = []

    def limiter_for(license_region: str) -> RateLimiter:
        regions.append(license_region)
        if license_region not in limiters:
            counters[license_region] = MemoryCounterStore()
            limiters[license_region] = RateLimiter(counters[license_region], clock, DATAPLANE_POLICIES)
        return limiters[license_region]

    service = DataPlaneHttp(
        TokenVerifier(state, clock, issuer_base=ISSUER_BASE),
        pins,
        usage,
        limiter_for,
        probe,
        clock,
        node=NODE,
        health_cache_seconds=2,
    )
    return Setup(world, store, clock, pins, usage, probe, counters, service, regions)


def get(
    path: str,
    *,
    token: str | None = None,
    query: dict[str, str] | None = None,
    origin: str | None = None,
    method: str = "GET",
    headers: dict[str, str | list[str]] | None = None,
    source_ip: str = "198.51.100.7",
) -> dict[str, Any]:
    all_headers: dict[str, str | list[str]] = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    if origin is not None:
        all_headers["Origin"] = origin
    return rest_event(
        path, None, headers=all_headers, method=method, query=query, content_type=None, source_ip=source_ip
    )


def discover(token: str | None, document: str = "doc-1", **kw: Any) -> dict[str, Any]:
    return get("/discovery", token=token, query={"documentName": document}, **kw)


# --- 401: no usable token ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/discovery", "/usage"])
def test_a_request_without_a_token_is_401_with_a_bearer_challenge(setup: Setup, path: str) -> None:
    # Given no token at all
    status, headers, body = setup.call(get(path, query={"documentName": "doc-1"}))
    # Then 401, a Bearer challenge, a problem document, never cached
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert headers["Content-Type"] == "application/problem+json"
    assert headers["Cache-Control"] == "no-store"
    assert body["status"] == 401


def forged(s: Setup) -> str:
    head, body, sig = s.token().split(".")
    return f"{head}.{body}.{sig[:-4]}AAAA"


def foreign_tenant(s: Setup) -> str:
    # A genuine token of another tenant relabelled with the demo tenant's id: the signature no longer matches.
    other = str(s.world.client_credentials(app=s.world.other_app).body["access_token"])
    claims = jwt.decode(other, options={"verify_signature": False})
    head, _, sig = other.split(".")
    claims["tenantid"] = s.world.demo_tenant
    payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    return f"{head}.{payload}.{sig}"


def dashboard_token(s: Setup) -> str:
    return str(s.world.password(s.world.owner.username).body["access_token"])


@pytest.mark.parametrize(
    "make",
    [
        lambda s: "not-a-jwt",
        forged,
        foreign_tenant,
        dashboard_token,
    ],
    ids=["garbage", "forged signature", "foreign tenant relabelled", "dashboard (human) token"],
)
def test_tokens_the_authorizer_would_refuse_are_401(setup: Setup, make: Any) -> None:
    # Given a token the $connect authorizer refuses
    token = make(setup)
    # When it asks for discovery or usage
    # Then 401 both times, and nothing is counted
    assert setup.call(discover(token))[0] == 401
    assert setup.call(get("/usage", token=token))[0] == 401
    assert setup.regions_counted == []


def test_two_tokens_that_disagree_are_401(setup: Setup) -> None:
    # Given one token in the header and another in the query
    event = get("/usage", token=setup.token(), query={"token": forged(setup)})
    # Then 401
    assert setup.call(event)[0] == 401


@pytest.mark.parametrize("change", ["revoke keys", "disable app", "suspend tenant"])
def test_current_security_state_refuses_a_token_that_was_valid(setup: Setup, change: str) -> None:
    # Given a token issued while everything was fine
    token = setup.token()
    world, store = setup.world, setup.store
    # When its keys are revoked, its app disabled or its tenant suspended
    if change == "revoke keys":
        world.vault.revoke_all(world.demo_tenant, SYSTEM_ACTOR)
    elif change == "disable app":
        key = (world.demo_tenant, world.app.app_id)
        store.apps[key] = replace(store.apps[key], status=AppStatus.DISABLED)
    else:
        from wiresocket.domain.tenants import TenantStatus

        store.tenants[world.demo_tenant] = replace(store.tenants[world.demo_tenant], status=TenantStatus.SUSPENDED)
    # Then the very next request is refused (security state is read fresh, not cached)
    assert setup.call(discover(token, origin=ORIGIN))[0] == 401
    assert setup.call(get("/usage", token=token))[0] == 401


# --- 400: bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [None, {"documentName": ""}, {"documentName": "a/b"}, {"documentName": "x" * 256}, {"documentName": "dö"}],
    ids=["missing", "empty", "slash", "too long", "non-ascii"],
)
def test_a_missing_or_invalid_document_name_is_400(setup: Setup, query: dict[str, str] | None) -> None:
    # Given a valid token but a bad documentName
    status, headers, body = setup.call(get("/discovery", token=setup.token(), query=query))
    # Then 400 problem+json, and no rate-limit counter was touched
    assert status == 400 and body["status"] == 400
    assert headers["Content-Type"] == "application/problem+json"
    assert setup.regions_counted == []


def test_two_document_names_are_400(setup: Setup) -> None:
    event = discover(setup.token())
    event["multiValueQueryStringParameters"] = {"documentName": ["a", "b"]}
    assert setup.call(event)[0] == 400


# --- 403: Origin ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://localhost:5174",
        "http://localhost:5173.evil.example",
        "null",
        "http://evil.example",
    ],
)
def test_a_foreign_origin_is_403_without_cors(setup: Setup, origin: str) -> None:
    # Given a valid token bound to localhost:5173 and 127.0.0.1:5173
    token = setup.token()
    # When a page from another origin calls discovery and usage
    for event in (discover(token, origin=origin), get("/usage", token=token, origin=origin)):
        status, headers, _ = setup.call(event)
        # Then 403 and no Access-Control-Allow-Origin (the page cannot read the answer)
        assert status == 403
        assert "Access-Control-Allow-Origin" not in headers


def test_two_origin_headers_are_403(setup: Setup) -> None:
    event = discover(setup.token(), headers={"Origin": [ORIGIN, ORIGIN]})
    assert setup.call(event)[0] == 403


# --- 405, 404 -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "HEAD"])
@pytest.mark.parametrize("path", ["/discovery", "/usage", "/health", "/"])
def test_other_methods_are_405(setup: Setup, method: str, path: str) -> None:
    status, headers, _ = setup.call(get(path, token=setup.token(), method=method, query={"documentName": "d"}))
    assert status == 405 and headers["Allow"] == "GET"


def test_an_unknown_path_is_404(setup: Setup) -> None:
    assert setup.call(get("/metrics/secret"))[0] == 404


@pytest.mark.parametrize(
    "bad", [None, [], "x", {"httpMethod": "GET", "path": "/usage", "isBase64Encoded": True, "body": "%%"}]
)
def test_malformed_events_never_5xx(setup: Setup, bad: Any) -> None:
    result = handle_dataplane_event(bad, lambda: setup.service).response
    assert 400 <= result["statusCode"] < 500


# --- 429, 503 ---------------------------------------------------------------------------------------------------


def test_discovery_allows_60_per_minute_per_app_and_client_then_429(setup: Setup) -> None:
    # Given a valid token
    token = setup.token()
    # When one client asks 60 times within a minute, every answer is 200
    assert all(setup.call(discover(token, origin=ORIGIN))[0] == 200 for _ in range(60))
    # Then the 61st is 429 with Retry-After, still readable by the allowed origin
    status, headers, _ = setup.call(discover(token, origin=ORIGIN))
    assert status == 429 and 1 <= int(headers["Retry-After"]) <= 60
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    # And another client address of the same app is not affected
    assert setup.call(discover(token, source_ip="203.0.113.9"))[0] == 200
    # And the counters were kept in the app's license region
    assert set(setup.regions_counted) == {setup.world.app.license_region}
    # And a new window admits it again
    setup.clock.advance(60)
    assert setup.call(discover(token))[0] == 200


def test_an_ipv6_client_cannot_buy_new_counters_by_rotating_addresses_inside_its_64(setup: Setup) -> None:
    # Given a client that spends the limit from one IPv6 address
    token = setup.token()
    assert all(setup.call(discover(token, source_ip="2001:db8:1:2::1"))[0] == 200 for _ in range(60))
    # When it moves to other addresses of the same /64 / Then it is still limited (one counter per /64,
    # as the $connect per-IP limit counts)
    assert setup.call(discover(token, source_ip="2001:db8:1:2::2"))[0] == 429
    assert setup.call(discover(token, source_ip="2001:db8:1:2:ffff:ffff:ffff:ffff"))[0] == 429
    # And another /64 is another client
    assert setup.call(discover(token, source_ip="2001:db8:1:3::1"))[0] == 200


def test_usage_allows_12_per_minute_then_429(setup: Setup) -> None:
    token = setup.token()
    assert all(setup.call(get("/usage", token=token))[0] == 200 for _ in range(12))
    assert setup.call(get("/usage", token=token))[0] == 429


@pytest.mark.parametrize("down", ["pins", "usage", "counters", "directory"])
def test_a_dependency_down_is_503_with_retry_after(setup: Setup, down: str) -> None:
    # Given a valid token, and then one dependency goes down
    token = setup.token()
    if down == "pins":
        setup.pins.fail = True
    elif down == "usage":
        setup.usage.fail = True
    elif down == "counters":
        setup.call(discover(token))  # creates the region's counter store
        setup.counters[setup.world.app.license_region].fail = True
    else:

        def broken(tenant_id: str) -> Any:
            raise DependencyUnavailable("directory down")

        setup.store.tenant_with_keys = broken  # type: ignore[method-assign]
    # When discovery and usage are asked
    statuses = {setup.call(discover(token))[0], setup.call(get("/usage", token=token))[0]}
    # Then the affected endpoint says 503 with Retry-After (never 401, never 500)
    assert 503 in statuses and statuses <= {200, 503}
    for event in (discover(token), get("/usage", token=token)):
        status, headers, _ = setup.call(event)
        if status == 503:
            assert int(headers["Retry-After"]) >= 1


# --- discovery --------------------------------------------------------------------------------------------------


def test_an_unpinned_document_is_new_here(setup: Setup) -> None:
    # Given no pin for the document
    status, headers, body = setup.call(discover(setup.token(), "fresh-doc", origin=ORIGIN))
    # Then this node's region and URL, isNew, readable by the allowed origin, never cached
    assert status == 200
    assert body == {"region": "eu-central-1", "url": "wss://eu-central-1.example.test/?doc=fresh-doc", "isNew": True}
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert headers["Cache-Control"] == "no-store"


def test_a_pinned_document_is_sent_to_its_region(setup: Setup) -> None:
    # Given the document is pinned to us-east-1 with a user connected
    w = setup.world
    key = (w.app.license_region, w.demo_tenant, w.app.app_id, "shared")
    setup.pins.pins[key] = DocumentPin("us-east-1", "wss://us-east-1.example.test", users=2)
    # Then discovery points there, isNew false
    _, _, body = setup.call(discover(setup.token(), "shared"))
    assert body == {"region": "us-east-1", "url": "wss://us-east-1.example.test/?doc=shared", "isNew": False}


def test_a_pin_binds_through_the_grace_period_and_then_releases(setup: Setup) -> None:
    # Given the last user left the pinned document just now
    w = setup.world
    key = (w.app.license_region, w.demo_tenant, w.app.app_id, "idle")
    setup.pins.pins[key] = DocumentPin("us-east-1", "wss://us-east-1.example.test", 0, int(setup.clock.now()))
    token = setup.token()
    # Then during the grace period it is still pinned
    assert setup.call(discover(token, "idle"))[2]["isNew"] is False
    # And after it, the document is new here
    setup.clock.advance(GRACE_SECONDS + 1)
    assert setup.call(discover(token, "idle"))[2] == {
        "region": "eu-central-1",
        "url": "wss://eu-central-1.example.test/?doc=idle",
        "isNew": True,
    }


def test_another_tenants_pin_of_the_same_name_is_not_seen(setup: Setup) -> None:
    # Given another tenant's app pinned a document of the same name elsewhere
    o = setup.world.other_app
    setup.pins.pins[(o.license_region, setup.world.other_tenant, o.app_id, "same")] = DocumentPin(
        "us-east-1", "wss://us-east-1.example.test", users=1
    )
    # Then the demo app's discovery of that name is unaffected
    assert setup.call(discover(setup.token(), "same"))[2]["isNew"] is True


def test_a_token_by_query_and_no_origin_is_served_without_cors(setup: Setup) -> None:
    # Given a server-side caller (no Origin) passing ?token=
    event = get("/discovery", query={"documentName": "d", "token": setup.token()})
    status, headers, _ = setup.call(event)
    # Then 200, and no CORS grant
    assert status == 200 and "Access-Control-Allow-Origin" not in headers


def test_stage_variables_name_the_node(setup: Setup) -> None:
    # Given the stage says this node is us-east-1 (the second local WebSocket region does this)
    event = discover(setup.token(), "d")
    event["stageVariables"] = {"wsRegion": "us-east-1", "wsUrl": "ws://127.0.0.1:8082"}
    assert setup.call(event)[2] == {"region": "us-east-1", "url": "ws://127.0.0.1:8082/?doc=d", "isNew": True}
    # And malformed stage variables fall back to the settings
    event["stageVariables"] = {"wsRegion": "us-east-1", "wsUrl": "javascript:alert(1)"}
    assert setup.call(event)[2]["region"] == "eu-central-1"


def test_a_preflight_lets_the_browser_send_the_authorization_header(setup: Setup) -> None:
    status, headers, _ = setup.call(get("/usage", method="OPTIONS", origin=ORIGIN))
    assert status == 204
    assert headers["Access-Control-Allow-Headers"] == "Authorization"
    assert headers["Access-Control-Allow-Methods"] == "GET"


# --- usage --------------------------------------------------------------------------------------------------------


def test_usage_reports_the_apps_counters_against_the_token_limits(setup: Setup) -> None:
    # Given 80 live connections and 1 active document of the demo app (limits 100 / 10), and noise elsewhere
    w = setup.world
    region = w.app.license_region
    setup.usage.counts[(region, connections_counter_key(w.demo_tenant, w.app.app_id))] = 80
    setup.usage.counts[(region, documents_counter_key(w.demo_tenant, w.app.app_id))] = 1
    setup.usage.counts[("aws-us-west-2", connections_counter_key(w.other_tenant, w.other_app.app_id))] = 99
    # When usage is asked
    status, headers, body = setup.call(get("/usage", token=setup.token(), origin=ORIGIN))
    # Then the app's own figures
    assert status == 200 and headers["Access-Control-Allow-Origin"] == ORIGIN
    assert body["tenantId"] == w.demo_tenant and body["appId"] == w.app.app_id
    assert body["usage"]["connections"] == {"current": 80, "limit": 100, "percent": 80.0, "status": "warning"}
    assert body["usage"]["documents"] == {"current": 1, "limit": 10, "percent": 10.0, "status": "healthy"}
    assert body["timestamp"].endswith("Z")


@pytest.mark.parametrize(
    ("current", "limit", "status"),
    [
        (0, 100, "healthy"),
        (74, 100, "healthy"),
        (75, 100, "warning"),
        (89, 100, "warning"),
        (90, 100, "critical"),
        (100, 100, "critical"),
        (3, 4, "warning"),
        (2, 3, "healthy"),
        (0, 0, "critical"),
        (-1, 10, "healthy"),
    ],
)
def test_usage_status_thresholds(current: int, limit: int, status: str) -> None:
    assert usage_entry(current, limit)["status"] == status


# --- health -------------------------------------------------------------------------------------------------------


def test_health_is_503_degraded_when_the_tables_do_not_answer(setup: Setup) -> None:
    setup.probe.fail = True
    status, headers, body = setup.call(get("/health"))
    assert status == 503 and body["status"] == "degraded" and int(headers["Retry-After"]) >= 1


@pytest.mark.parametrize("path", ["/health", "/"])
def test_health_is_200_and_probes_at_most_once_per_cache_period(setup: Setup, path: str) -> None:
    # Given many health checks within the cache period
    results = [setup.call(get(path)) for _ in range(20)]
    # Then all are healthy, with one probe only
    assert all(r[0] == 200 and r[2]["status"] == "healthy" for r in results)
    assert results[0][1]["Cache-Control"] == "no-store"
    assert setup.probe.calls == 1
    # And after the period the next check probes again
    setup.clock.advance(2)
    setup.call(get(path))
    assert setup.probe.calls == 2
