"""The per-IP WebSocket connect limit (SPEC §7: 60 per minute per source IP) in the ``$connect`` authorizer: counted
before any token parsing or directory read, a 403 Deny beyond it, one shared subject for unknown sources, and a
deny when the counters are down (fail closed)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fakes.memory import FakeClock
from tests.fakes.oauth_world import ISSUER_BASE, OAuthWorld, memory_world
from tests.fakes.ratelimit import MemoryCounterStore
from wiresocket import names
from wiresocket.config import WS_CONNECT_PER_IP_MAX, SettingsError, WsConnectSettings
from wiresocket.domain.ratelimit import DEFAULT_POLICIES, WS_CONNECT_IP
from wiresocket.services.authorize import (
    UNKNOWN_SOURCE,
    AuthorizerOutcome,
    CachedStateDirectory,
    ConnectionAuthorizer,
    authorize_event,
    connect_subject,
)
from wiresocket.services.ratelimit import RateLimiter
from wiresocket.services.verification import TokenVerifier, VerifiedToken

METHOD_ARN = "arn:aws:execute-api:eu-west-1:000000000000:wiresockws/local/$connect"
ORIGIN = "http://localhost:5173"
LIMIT = DEFAULT_POLICIES[WS_CONNECT_IP].limit
WINDOW = DEFAULT_POLICIES[WS_CONNECT_IP].window_seconds
IP = "203.0.113.7"


class SpyVerifier(TokenVerifier):
    """The real verifier, counting how often it is asked."""

    calls = 0

    def verify(self, token: object, audiences: Collection[str], *, required_scope: str | None = None) -> VerifiedToken:
        self.calls += 1
        return super().verify(token, audiences, required_scope=required_scope)


@dataclass
class Setup:
    world: OAuthWorld
    clock: FakeClock
    counters: MemoryCounterStore
    verifier: SpyVerifier
    authorizer: ConnectionAuthorizer

    def token(self) -> str:
        return str(self.world.client_credentials().body["access_token"])

    def run(self, event: dict[str, Any]) -> AuthorizerOutcome:
        return authorize_event(event, lambda: self.authorizer)


@pytest.fixture
def setup() -> Setup:
    world, store, _, clock, _ = memory_world()
    verifier = SpyVerifier(CachedStateDirectory(store, clock, ttl_seconds=5), clock, issuer_base=ISSUER_BASE)
    counters = MemoryCounterStore()
    limiter = RateLimiter(counters, clock)
    return Setup(world, clock, counters, verifier, ConnectionAuthorizer(verifier, limiter=lambda: limiter))


def handshake(token: str | None, source: Any = IP, *, identity: Any = None) -> dict[str, Any]:
    """A REQUEST authorizer event from ``source`` (``requestContext.identity.sourceIp``, as API Gateway sends)."""
    headers = {"Host": "127.0.0.1:8081", "Origin": ORIGIN}
    if token is not None:
        headers["Sec-WebSocket-Protocol"] = f"access_token, {token}"
    context: dict[str, Any] = {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "abc="}
    context["identity"] = {"sourceIp": source, "userAgent": "test"} if identity is None else identity
    return {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {"doc": "demo"},
        "multiValueQueryStringParameters": {"doc": ["demo"]},
        "stageVariables": {},
        "requestContext": context,
    }


def exhaust(setup: Setup, source: Any = IP) -> None:
    """``LIMIT`` token-less handshakes from ``source`` (each a 401: counted, cheap)."""
    for _ in range(LIMIT):
        assert setup.run(handshake(None, source)).decision == "unauthorized"


def assert_rate_limited(outcome: AuthorizerOutcome) -> None:
    assert (outcome.decision, outcome.reason) == ("deny", "rate limited")
    assert outcome.policy is not None
    [statement] = outcome.policy["policyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"  # an explicit Deny: API Gateway answers 403 (an authorizer has no 429)
    assert outcome.result() is outcome.policy  # no "Unauthorized" (401) raised


# --- Denials first ---------------------------------------------------------------------------------------------


def test_the_61st_connect_from_one_ip_within_a_minute_is_denied_with_nothing_verified(setup: Setup) -> None:
    # Given LIMIT genuine handshakes from one IP within the minute, all allowed
    token = setup.token()
    for _ in range(LIMIT):
        assert setup.run(handshake(token)).decision == "allow"
    assert setup.verifier.calls == LIMIT
    # When the next one arrives, with the same genuine token, 59 s into the window
    setup.clock.advance(WINDOW - 1)
    outcome = setup.run(handshake(token))
    # Then it is an explicit Deny (403), and its token was never looked at
    assert_rate_limited(outcome)
    assert setup.verifier.calls == LIMIT


def test_a_handshake_without_a_token_beyond_the_limit_is_still_403_not_401(setup: Setup) -> None:
    # Given an IP that used up its minute
    exhaust(setup)
    # When it sends a handshake that would otherwise be a 401 / Then the limit answers first
    assert_rate_limited(setup.run(handshake(None)))
    assert setup.verifier.calls == 0


@pytest.mark.parametrize(
    "identity",
    [
        {},
        None,
        "1.2.3.4",
        {"sourceIp": None},
        {"sourceIp": ""},
        {"sourceIp": 1234},
        {"sourceIp": "not-an-ip"},
        {"sourceIp": "1.2.3.4.5"},
        {"sourceIp": "1.2.3.4, 5.6.7.8"},
        {"sourceIp": "1" * 200},
    ],
)
def test_a_missing_or_malformed_source_ip_counts_under_one_shared_unknown_subject(setup: Setup, identity: Any) -> None:
    # Given LIMIT handshakes without any source IP
    for _ in range(LIMIT):
        assert setup.run(handshake(None, identity={})).decision == "unauthorized"
    event = handshake(setup.token(), identity={"marker": True})
    event["requestContext"]["identity"] = identity
    if identity is None:
        del event["requestContext"]["identity"]
    # When one more arrives with a missing or malformed source IP
    outcome = setup.run(event)
    # Then it shares the exhausted "unknown" counter (never skipped) and is denied unverified
    assert connect_subject(event) == UNKNOWN_SOURCE
    assert_rate_limited(outcome)
    assert setup.verifier.calls == 0


def test_an_event_without_request_context_counts_as_unknown() -> None:
    assert connect_subject({"type": "REQUEST"}) == UNKNOWN_SOURCE
    assert connect_subject({"requestContext": "x"}) == UNKNOWN_SOURCE


def test_a_limiter_failure_is_a_deny_with_nothing_verified(setup: Setup) -> None:
    # Given counters that cannot be reached
    setup.counters.fail = True
    # When a genuine handshake arrives
    outcome = setup.run(handshake(setup.token()))
    # Then it is denied (fail closed, 403), and the token was never looked at
    assert outcome.decision == "deny" and outcome.policy is not None
    assert outcome.policy["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert setup.verifier.calls == 0


@pytest.mark.parametrize("value", ["0", "-1", "abc", str(WS_CONNECT_PER_IP_MAX + 1)])
def test_an_out_of_range_limit_setting_is_refused(value: str) -> None:
    with pytest.raises(SettingsError):
        WsConnectSettings.from_env({names.ENV_REGION: "eu-west-1", names.ENV_WS_CONNECT_PER_IP_LIMIT: value})


# --- Allowed ---------------------------------------------------------------------------------------------------


def test_another_ip_is_unaffected(setup: Setup) -> None:
    # Given one IP over its limit
    exhaust(setup)
    assert_rate_limited(setup.run(handshake(None)))
    # When another IP connects with a genuine token / Then it is allowed
    assert setup.run(handshake(setup.token(), "198.51.100.1")).decision == "allow"


def test_the_window_resets(setup: Setup) -> None:
    # Given an IP over its limit
    exhaust(setup)
    assert_rate_limited(setup.run(handshake(None)))
    # When the next minute starts / Then it connects again
    setup.clock.advance(WINDOW)
    assert setup.run(handshake(setup.token())).decision == "allow"


@pytest.mark.parametrize(
    ("source", "subject"),
    [
        ("203.0.113.7", "ip:203.0.113.7"),
        ("::ffff:203.0.113.7", "ip:203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "ip:2001:db8:1:2::/64"),
        ("2001:DB8:1:2:bbbb:0:0:9", "ip:2001:db8:1:2::/64"),
    ],
)
def test_subjects_are_ipv4_addresses_or_ipv6_slash_64s(source: str, subject: str) -> None:
    assert connect_subject(handshake(None, source)) == subject


def test_the_limit_defaults_to_sixty_and_can_be_raised() -> None:
    base = {names.ENV_REGION: "eu-west-1"}
    assert WsConnectSettings.from_env(base).ws_connect_per_ip_limit == LIMIT == 60
    raised = WsConnectSettings.from_env({**base, names.ENV_WS_CONNECT_PER_IP_LIMIT: "5000"})
    assert raised.ws_connect_per_ip_limit == 5000
