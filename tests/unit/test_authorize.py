"""The ``$connect`` authorizer (SPEC §4, §8): a forged-token table (all denied), current-state denials, the
Origin and document checks, the cache bound, and the three token locations (allowed, with the right context)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.fakes.memory import FakeClock, MemoryStore
from tests.fakes.oauth_world import ISSUER_BASE, OAuthWorld, memory_world
from wiresocket.domain.apps import AppStatus
from wiresocket.domain.audit import SYSTEM_ACTOR
from wiresocket.domain.connections import INVALID_DOCUMENT, AuthorizedConnection, is_document_name
from wiresocket.domain.errors import DependencyUnavailable, InvalidInput
from wiresocket.domain.keys import select_active
from wiresocket.domain.plans import PlanStatus
from wiresocket.domain.tenants import TenantStatus
from wiresocket.names import AUDIENCE_DASHBOARD
from wiresocket.services.authorize import (
    AuthorizerOutcome,
    CachedStateDirectory,
    ConnectionAuthorizer,
    authorize_event,
)
from wiresocket.services.verification import TokenVerifier

METHOD_ARN = "arn:aws:execute-api:eu-west-1:000000000000:wiresockws/local/$connect"
ORIGIN = "http://localhost:5173"


@dataclass
class Setup:
    world: OAuthWorld
    store: MemoryStore
    clock: FakeClock
    cached: CachedStateDirectory
    authorizer: ConnectionAuthorizer

    def token(self) -> str:
        return str(self.world.client_credentials().body["access_token"])

    def run(self, event: dict[str, Any]) -> AuthorizerOutcome:
        return authorize_event(event, lambda: self.authorizer)


@pytest.fixture
def setup() -> Setup:
    # A fresh world per test: several tests change state (revoke, suspend, disable).
    world, store, _, clock, _ = memory_world()
    cached = CachedStateDirectory(store, clock, ttl_seconds=5)
    authorizer = ConnectionAuthorizer(TokenVerifier(cached, clock, issuer_base=ISSUER_BASE))
    return Setup(world, store, clock, cached, authorizer)


def event(
    headers: list[tuple[str, str]] | None = None,
    query: list[tuple[str, str]] | None = None,
    *,
    origin: str | None = ORIGIN,
    doc: str | None = "demo",
) -> dict[str, Any]:
    """A WebSocket REQUEST authorizer event (multi-value maps hold every value, as the emulator and AWS send)."""
    all_headers = [("Host", "127.0.0.1:8081"), *(headers or [])]
    if origin is not None:
        all_headers.append(("Origin", origin))
    all_query = [*(query or [])]
    if doc is not None:
        all_query.append(("doc", doc))
    multi_h: dict[str, list[str]] = {}
    for name, value in all_headers:
        multi_h.setdefault(name, []).append(value)
    multi_q: dict[str, list[str]] = {}
    for name, value in all_query:
        multi_q.setdefault(name, []).append(value)
    return {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "headers": {k: v[-1] for k, v in multi_h.items()},
        "multiValueHeaders": multi_h,
        "queryStringParameters": {k: v[-1] for k, v in multi_q.items()},
        "multiValueQueryStringParameters": multi_q,
        "stageVariables": {},
        "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "abc="},
    }


def by_subprotocol(token: str, marker: str = "access_token", **kw: Any) -> dict[str, Any]:
    return event([("Sec-WebSocket-Protocol", f"{marker}, {token}")], **kw)


def by_query(token: str, name: str = "token", **kw: Any) -> dict[str, Any]:
    return event(query=[(name, token)], **kw)


def by_header(token: str, **kw: Any) -> dict[str, Any]:
    return event([("Authorization", f"Bearer {token}")], **kw)


# --- forging helpers ------------------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def sign_as(s: Setup, tenant_id: str, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
    """Sign with ``tenant_id``'s real active key (the attacker who stole a key, or a bug in the issuer)."""
    _, keys = s.store.tenant_with_keys(tenant_id)
    key = select_active(keys)
    assert key is not None
    private = s.world.cache.private_key(key)
    return jwt.encode(claims, private, algorithm="RS256", headers={"kid": key.kid, **(headers or {})})


def claims_changed(change: Callable[[Setup, dict[str, Any]], None]) -> Callable[[Setup], str]:
    def build(s: Setup) -> str:
        _, claims = parts(s.token())
        change(s, claims)
        return sign_as(s, s.world.demo_tenant, claims)

    return build


def header_added(extra: dict[str, Any]) -> Callable[[Setup], str]:
    def build(s: Setup) -> str:
        _, claims = parts(s.token())
        return sign_as(s, s.world.demo_tenant, claims, extra)

    return build


def set_claim(name: str, value: Any) -> Callable[[Setup, dict[str, Any]], None]:
    return lambda s, c: c.__setitem__(name, value)


def drop_claim(name: str) -> Callable[[Setup, dict[str, Any]], None]:
    return lambda s, c: c.pop(name)


def shift(seconds: int, *names: str) -> Callable[[Setup, dict[str, Any]], None]:
    def change(s: Setup, c: dict[str, Any]) -> None:
        for name in names or ("iat", "nbf", "exp"):
            c[name] += seconds

    return change


def alg_none(s: Setup) -> str:
    header, claims = parts(s.token())
    return f"{b64(json.dumps({'alg': 'none', 'kid': header['kid']}).encode())}.{b64(json.dumps(claims).encode())}."


def hs256_with_public_key(s: Setup) -> str:
    header, claims = parts(s.token())
    _, keys = s.store.tenant_with_keys(s.world.demo_tenant)
    key = select_active(keys)
    assert key is not None
    pem = (
        s.world.cache.private_key(key)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": header["kid"]}).encode())
    body = b64(json.dumps(claims).encode())
    return f"{head}.{body}.{b64(hmac.new(pem, f'{head}.{body}'.encode(), hashlib.sha256).digest())}"


def other_tenant_signs_with_demo_tenantid(s: Setup) -> str:
    _, claims = parts(s.token())
    return sign_as(s, s.world.other_tenant, claims)


def other_tenants_kid_with_demo_key(s: Setup) -> str:
    _, claims = parts(s.token())
    _, other_keys = s.store.tenant_with_keys(s.world.other_tenant)
    other = select_active(other_keys)
    assert other is not None
    _, keys = s.store.tenant_with_keys(s.world.demo_tenant)
    demo = select_active(keys)
    assert demo is not None
    return jwt.encode(claims, s.world.cache.private_key(demo), algorithm="RS256", headers={"kid": other.kid})


def other_tenants_own_token_relabelled(s: Setup) -> str:
    # The other tenant's genuine token, with tenantid/iss/appId rewritten to the demo tenant's, re-signed by
    # the other tenant's key.
    token = str(s.world.client_credentials(app=s.world.other_app).body["access_token"])
    _, claims = parts(token)
    claims["tenantid"] = s.world.demo_tenant
    claims["iss"] = f"{ISSUER_BASE}/{s.world.demo_tenant}"
    claims["appId"] = s.world.app.app_id
    return sign_as(s, s.world.other_tenant, claims)


def tampered_payload(s: Setup) -> str:
    head, body, sig = s.token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["allowed_domain_1"] = "evil.example"
    return f"{head}.{b64(json.dumps(claims).encode())}.{sig}"


def segment(index: int, value: str) -> Callable[[Setup], str]:
    def build(s: Setup) -> str:
        pieces = s.token().split(".")
        pieces[index] = value
        return ".".join(pieces)

    return build


def huge(s: Setup) -> str:
    _, claims = parts(s.token())
    claims["padding"] = "x" * 16_500
    return sign_as(s, s.world.demo_tenant, claims)


def dashboard_token(s: Setup) -> str:
    return str(s.world.password(s.world.owner.username).body["access_token"])


def operator_token(s: Setup) -> str:
    return str(s.world.password(s.world.operator.username).body["access_token"])


def human_token_with_api_audience(s: Setup) -> str:
    _, claims = parts(dashboard_token(s))
    claims["aud"] = "WireSocket.API"
    claims["scope"] = "WireSocket.API"
    return sign_as(s, s.world.demo_tenant, claims)


def suspended_tenants_own_token(s: Setup) -> str:
    # A well-formed token of the suspended tenant, signed with its (still stored) key.
    _, claims = parts(s.token())
    tenant = s.world.suspended_tenant
    claims.update(tenantid=tenant, iss=f"{ISSUER_BASE}/{tenant}", appId=s.world.suspended_app.app_id)
    claims["sub"] = s.world.suspended_app.client_id
    return sign_as(s, tenant, claims)


def disabled_apps_token(s: Setup) -> str:
    _, claims = parts(s.token())
    claims.update(appId=s.world.disabled_app.app_id, sub=s.world.disabled_app.client_id)
    claims.update(licenseRegionCode="aws-us-east-1", dbCode="aws-us-east-1")
    return sign_as(s, s.world.demo_tenant, claims)


FORGED: dict[str, Callable[[Setup], str]] = {
    "alg none": alg_none,
    "HS256 signed with the tenant's public key": hs256_with_public_key,
    "RS256 by another tenant with this tenant's tenantid": other_tenant_signs_with_demo_tenantid,
    "kid of another tenant, signed with this tenant's key": other_tenants_kid_with_demo_key,
    "another tenant's genuine token relabelled": other_tenants_own_token_relabelled,
    "tampered payload, original signature": tampered_payload,
    "jku header": header_added({"jku": "https://evil.example/jwks"}),
    "jwk header": header_added({"jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}}),
    "x5u header": header_added({"x5u": "https://evil.example/cert.pem"}),
    "x5c header": header_added({"x5c": ["MIIB"]}),
    "crit header": header_added({"crit": ["exp"]}),
    "typ JOSE": header_added({"typ": "JOSE"}),
    "iss mismatch": claims_changed(set_claim("iss", "https://evil.example/x")),
    "iss of another tenant": claims_changed(lambda s, c: c.__setitem__("iss", f"{ISSUER_BASE}/{s.world.other_tenant}")),
    "iss with trailing slash": claims_changed(lambda s, c: c.__setitem__("iss", c["iss"] + "/")),
    "wrong aud": claims_changed(set_claim("aud", "Something.Else")),
    "dashboard aud on an app token": claims_changed(set_claim("aud", AUDIENCE_DASHBOARD)),
    "aud as a list": claims_changed(set_claim("aud", ["WireSocket.API"])),
    "missing WireSocket.API scope": claims_changed(set_claim("scope", "offline_access")),
    "scope claim absent": claims_changed(drop_claim("scope")),
    "scope spelled in lower case": claims_changed(set_claim("scope", "wiresocket.api")),
    "expired": claims_changed(shift(-3600)),
    "nbf in the future": claims_changed(shift(3600, "nbf")),
    "iat in the future": claims_changed(shift(3600, "iat")),
    "string exp": claims_changed(set_claim("exp", "9999999999")),
    "missing jti": claims_changed(drop_claim("jti")),
    "tenantid not a uuid": claims_changed(set_claim("tenantid", "demo")),
    "tenantid absent": claims_changed(drop_claim("tenantid")),
    "appId absent": claims_changed(drop_claim("appId")),
    "appId of another tenant's app": claims_changed(lambda s, c: c.__setitem__("appId", s.world.other_app.app_id)),
    "sub of another client": claims_changed(lambda s, c: c.__setitem__("sub", s.world.other_app.client_id)),
    "license region not the app's": claims_changed(set_claim("licenseRegionCode", "aws-us-east-1")),
    "license region unknown": claims_changed(set_claim("licenseRegionCode", "aws-mars-1")),
    "limits absent": claims_changed(drop_claim("limits")),
    "limits malformed": claims_changed(set_claim("limits", {"maxConnections": -1})),
    "truncated signature": lambda s: s.token()[:-12],
    "truncated to two segments": lambda s: s.token().rsplit(".", 1)[0],
    "extra segment": lambda s: s.token() + ".e30",
    "five segments (JWE shape)": lambda s: s.token() + ".e30.e30",
    "bad base64 header": segment(0, "!!!notbase64"),
    "bad base64 payload": segment(1, "%%%"),
    "bad base64 signature": segment(2, "*not*a*signature*"),
    "empty signature": segment(2, ""),
    "16 KB+ token": huge,
    "dashboard (human) token": dashboard_token,
    "operator token": operator_token,
    "human token relabelled for the API": human_token_with_api_audience,
    "suspended tenant's token": suspended_tenants_own_token,
    "disabled app's token": disabled_apps_token,
    "garbage": lambda s: "not-a-jwt",
}


@pytest.mark.parametrize("name", sorted(FORGED))
def test_forged_tokens_are_denied_with_401(setup: Setup, name: str) -> None:
    # Given a hostile token
    token = FORGED[name](setup)
    # When it is presented the usual way, from the allowed origin
    outcome = setup.run(by_subprotocol(token))
    # Then the authorizer refuses it as unauthenticated: no policy, the Lambda raises "Unauthorized" (401)
    assert outcome.decision == "unauthorized" and outcome.policy is None
    with pytest.raises(Exception, match=r"\AUnauthorized\Z"):
        outcome.result()


def test_the_forged_table_is_big_enough() -> None:
    assert len(FORGED) >= 40


PLACEMENT: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "no token anywhere": lambda t, other: event(),
    "subprotocol and query disagree": lambda t, o: event(
        [("Sec-WebSocket-Protocol", f"access_token, {t}")], [("token", o)]
    ),
    "query and Authorization disagree": lambda t, o: event([("Authorization", f"Bearer {o}")], [("token", t)]),
    "token= and access_token= disagree": lambda t, o: event(query=[("token", t), ("access_token", o)]),
    "two token= values disagree": lambda t, o: event(query=[("token", t), ("token", o)]),
    "two Authorization headers disagree": lambda t, o: event(
        [("Authorization", f"Bearer {t}"), ("authorization", f"Bearer {o}")]
    ),
    "subprotocol marker without a token": lambda t, o: event([("Sec-WebSocket-Protocol", "access_token")]),
    "two subprotocol markers": lambda t, o: event([("Sec-WebSocket-Protocol", f"access_token, {t}, Bearer, {t}")]),
    "marker followed by a marker": lambda t, o: event([("Sec-WebSocket-Protocol", f"Bearer, access_token, {t}")]),
    "empty item in the subprotocol list": lambda t, o: event([("Sec-WebSocket-Protocol", f"access_token,, {t}")]),
    "marker is case-sensitive": lambda t, o: event([("Sec-WebSocket-Protocol", f"ACCESS_TOKEN, {t}")]),
    "empty ?token=": lambda t, o: event(query=[("token", "")]),
    "Authorization Basic": lambda t, o: event([("Authorization", "Basic dXNlcjpwYXNz")]),
    "Authorization Bearer without token": lambda t, o: event([("Authorization", "Bearer ")]),
    "Authorization with two tokens": lambda t, o: event([("Authorization", f"Bearer {t} {o}")]),
}


@pytest.mark.parametrize("name", sorted(PLACEMENT))
def test_missing_ambiguous_or_malformed_placements_are_denied_with_401(setup: Setup, name: str) -> None:
    # Given two genuine tokens of the same app
    token, other = setup.token(), setup.token()
    assert token != other
    # When they are placed ambiguously (or not at all)
    outcome = setup.run(PLACEMENT[name](token, other))
    # Then the handshake is unauthenticated
    assert outcome.decision == "unauthorized"


@pytest.mark.parametrize("change", ["revoke keys", "suspend tenant", "disable app", "retire plan"])
def test_current_state_denies_a_token_that_was_valid(setup: Setup, change: str) -> None:
    # Given a token issued while everything was fine
    token = setup.token()
    s, world = setup.store, setup.world
    # When the state changes before the first connection
    if change == "revoke keys":
        world.vault.revoke_all(world.demo_tenant, SYSTEM_ACTOR)
    elif change == "suspend tenant":
        s.tenants[world.demo_tenant] = replace(s.tenants[world.demo_tenant], status=TenantStatus.SUSPENDED)
    elif change == "disable app":
        key = (world.demo_tenant, world.app.app_id)
        s.apps[key] = replace(s.apps[key], status=AppStatus.DISABLED)
    else:
        s.plans["standard"] = replace(s.plans["standard"], status=PlanStatus.RETIRED)
    # Then it is refused
    assert setup.run(by_subprotocol(token)).decision == "unauthorized"


def test_cached_state_is_at_most_five_seconds_old(setup: Setup) -> None:
    # Given a connection that was allowed (state now cached)
    token = setup.token()
    assert setup.run(by_subprotocol(token)).decision == "allow"
    # When the tenant's keys are revoked
    setup.world.vault.revoke_all(setup.world.demo_tenant, SYSTEM_ACTOR)
    # Then within the cache lifetime the cached state still answers, and after it never again
    setup.clock.advance(4)
    assert setup.run(by_subprotocol(token)).decision == "allow"
    setup.clock.advance(1.01)
    assert setup.run(by_subprotocol(token)).decision == "unauthorized"


def test_a_tenant_cache_entry_never_serves_another_tenant(setup: Setup) -> None:
    # Given the demo tenant's keys are cached
    assert setup.run(by_subprotocol(setup.token())).decision == "allow"
    # When a token signed by the other tenant claims the demo tenant
    forged = other_tenant_signs_with_demo_tenantid(setup)
    # Then the cached demo keys do not verify it
    assert setup.run(by_subprotocol(forged)).decision == "unauthorized"


# --- 403: a valid token, refused by Origin -----------------------------------------------------------------------

BAD_ORIGINS = ["https://evil.example", None, "null", "http://localhost:5173.evil.example"]
BAD_DOCUMENTS = [None, "", "a/b", "x" * 256, "doc name", "dóc", "no.dots", INVALID_DOCUMENT]


def deny_policy(setup: Setup) -> dict[str, Any]:
    return {
        "principalId": f"{setup.world.demo_tenant}/{setup.world.app.app_id}",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Deny",
                    "Resource": ["arn:aws:execute-api:eu-west-1:000000000000:wiresockws/local/*"],
                }
            ],
        },
    }


@pytest.mark.parametrize("origin", BAD_ORIGINS)
@pytest.mark.parametrize("doc", ["demo", "bad.name"])
def test_a_valid_token_from_a_wrong_origin_gets_an_explicit_deny_whatever_the_document(
    setup: Setup, origin: str | None, doc: str
) -> None:
    # Given a genuine token
    token = setup.token()
    # When the handshake comes from a foreign origin (for a valid or an invalid document name)
    outcome = setup.run(by_subprotocol(token, origin=origin, doc=doc))
    # Then an explicit Deny policy comes back (403), with no context: an invalid name never softens the Origin check
    assert outcome.decision == "deny"
    assert outcome.policy == deny_policy(setup)


# --- an invalid document name: allowed, then 4007 after the upgrade ------------------------------------------------


@pytest.mark.parametrize("name", ["expired", "garbage", "alg none", "wrong aud", "disabled app's token"])
@pytest.mark.parametrize("doc", [None, "bad.name"])
def test_a_bad_token_with_a_bad_document_name_is_still_401(setup: Setup, name: str, doc: str | None) -> None:
    # Given a hostile token
    token = FORGED[name](setup)
    # When it names no valid document
    outcome = setup.run(by_subprotocol(token, doc=doc))
    # Then it is unauthenticated (401), exactly as with a valid name
    assert outcome.decision == "unauthorized" and outcome.policy is None


@pytest.mark.parametrize("doc", BAD_DOCUMENTS)
def test_a_valid_token_for_a_bad_document_name_is_allowed_with_the_invalid_document_sentinel(
    setup: Setup, doc: str | None
) -> None:
    # Given a genuine token from its allowed origin
    token = setup.token()
    # When the handshake names no valid document (missing, empty, too long, a character outside the set, or the
    # sentinel itself)
    outcome = setup.run(by_subprotocol(token, doc=doc))
    # Then it is allowed for $connect with the sentinel as its document, never the request's value
    assert outcome.decision == "allow" and outcome.policy is not None
    assert outcome.policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    context = outcome.policy["context"]
    assert context["document"] == INVALID_DOCUMENT
    assert not is_document_name(context["document"])
    if doc and doc != INVALID_DOCUMENT:
        assert doc not in json.dumps(outcome.policy) and doc not in outcome.reason
    # And the integrations parse that context back (so $connect can register it as refused)
    parsed = AuthorizedConnection.from_context(context)
    assert parsed.document == INVALID_DOCUMENT and not parsed.names_a_document


def test_two_document_parameters_are_allowed_with_the_invalid_document_sentinel(setup: Setup) -> None:
    # Given a genuine token
    # When the handshake names two documents (both valid)
    outcome = setup.run(event([("Authorization", f"Bearer {setup.token()}")], [("doc", "other")]))
    # Then neither is chosen: the sentinel is
    assert outcome.decision == "allow" and outcome.policy is not None
    assert outcome.policy["context"]["document"] == INVALID_DOCUMENT


def test_a_context_naming_any_other_invalid_document_is_rejected(setup: Setup) -> None:
    # Given the context of a genuine connection
    outcome = setup.run(by_subprotocol(setup.token()))
    assert outcome.policy is not None
    context = dict(outcome.policy["context"])
    for bad in ("bad.name", "~other", INVALID_DOCUMENT + "x", ""):
        # When its document is anything but a valid name or exactly the sentinel
        context["document"] = bad
        # Then the integrations refuse the context
        with pytest.raises(InvalidInput):
            AuthorizedConnection.from_context(context)


def test_a_dependency_failure_is_a_deny_never_an_allow(setup: Setup) -> None:
    # Given a directory that is down
    class Down(MemoryStore):
        def tenant_with_keys(self, tenant_id: str) -> Any:
            raise DependencyUnavailable("down")

    token = setup.token()
    verifier = TokenVerifier(Down(), setup.clock, issuer_base=ISSUER_BASE)
    # When a genuine token arrives
    outcome = authorize_event(by_subprotocol(token), lambda: ConnectionAuthorizer(verifier))
    # Then it is denied
    assert outcome.decision == "deny" and outcome.policy is not None
    assert outcome.policy["policyDocument"]["Statement"][0]["Effect"] == "Deny"


@pytest.mark.parametrize("bad", [None, [], "x", {"type": "REQUEST"}, {"type": "REQUEST", "methodArn": 7}])
def test_malformed_events_are_unauthorized(setup: Setup, bad: Any) -> None:
    assert authorize_event(bad, lambda: setup.authorizer).decision == "unauthorized"


# --- Allowed: each of the three locations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "subprotocol"),
    [
        ("subprotocol access_token", "access_token"),
        ("subprotocol Bearer", "Bearer"),
        ("query token", ""),
        ("query access_token", ""),
        ("authorization header", ""),
        ("all three agreeing", "access_token"),
    ],
)
def test_a_genuine_token_is_allowed_from_each_location_with_the_right_context(
    setup: Setup, where: str, subprotocol: str
) -> None:
    # Given a genuine app token
    token = setup.token()
    _, claims = parts(token)
    # When it is presented in one (or all) of the accepted places, from an allowed origin
    if where == "subprotocol access_token":
        e = by_subprotocol(token)
    elif where == "subprotocol Bearer":
        e = by_subprotocol(token, "Bearer")
    elif where == "query token":
        e = by_query(token)
    elif where == "query access_token":
        e = by_query(token, "access_token")
    elif where == "authorization header":
        e = by_header(token)
    else:
        e = event(
            [("Sec-WebSocket-Protocol", f"access_token, {token}"), ("Authorization", f"Bearer {token}")],
            [("token", token)],
        )
    outcome = setup.run(e)
    # Then an Allow policy for $connect carries the connection's context
    world = setup.world
    assert outcome.decision == "allow"
    assert outcome.policy == {
        "principalId": f"{world.demo_tenant}/{world.app.app_id}",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [METHOD_ARN]}],
        },
        "context": {
            "tenantId": world.demo_tenant,
            "appId": world.app.app_id,
            "kid": parts(token)[0]["kid"],
            "licenseRegion": "aws-eu-west-1",
            "limits": '{"maxConnections":100,"maxDocuments":10,"maxUsersPerDoc":5,"opsPerMinute":600}',
            "domains": '["localhost:5173","127.0.0.1:5173"]',
            "document": "demo",
            "subprotocol": subprotocol,
            "exp": claims["exp"],
        },
    }
    assert token not in json.dumps(outcome.policy)  # the token itself never travels on


def test_other_offered_subprotocols_are_ignored(setup: Setup) -> None:
    token = setup.token()
    outcome = setup.run(event([("Sec-WebSocket-Protocol", f"y-websocket, access_token, {token}")]))
    assert outcome.decision == "allow"
    assert outcome.policy is not None and outcome.policy["context"]["subprotocol"] == "access_token"


def test_a_token_without_domain_claims_connects_without_origin(setup: Setup) -> None:
    # Given an app token with no allowed domains (server-to-server)
    _, claims = parts(setup.token())
    for name in ("allowed_domain_1", "allowed_domain_2"):
        claims.pop(name)
    token = sign_as(setup, setup.world.demo_tenant, claims)
    # Then it connects with no Origin at all
    outcome = setup.run(by_query(token, origin=None))
    assert outcome.decision == "allow"
    assert outcome.policy is not None and outcome.policy["context"]["domains"] == "[]"
