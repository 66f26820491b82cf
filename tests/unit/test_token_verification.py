"""The shared verifier (SPEC §4): forged, foreign and stale tokens are rejected; live ones pass."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.fakes.memory import MemoryStore
from tests.fakes.oauth_world import OAuthWorld, memory_world
from wiresocket.domain.apps import AppStatus
from wiresocket.domain.audit import SYSTEM_ACTOR
from wiresocket.domain.keys import select_active
from wiresocket.domain.plans import PlanStatus
from wiresocket.names import AUDIENCE_API, AUDIENCE_DASHBOARD
from wiresocket.services.verification import TokenRejected, TokenVerifier


@pytest.fixture
def setup() -> tuple[OAuthWorld, MemoryStore]:
    world, store, *_ = memory_world()
    return world, store


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def resign(world: OAuthWorld, tenant_id: str, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
    """Sign ``claims`` with ``tenant_id``'s real active key (for building hostile variants)."""
    _, keys = world.store.tenant_with_keys(tenant_id)
    key = select_active(keys)
    assert key is not None
    private = world.cache.private_key(key)
    return jwt.encode(claims, private, algorithm="RS256", headers={"kid": key.kid, **(headers or {})})


def good(world: OAuthWorld) -> str:
    return str(world.client_credentials().body["access_token"])


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def forge_none(world: OAuthWorld) -> str:
    header, claims = parts(good(world))
    return f"{b64(json.dumps({'alg': 'none', 'kid': header['kid']}).encode())}.{b64(json.dumps(claims).encode())}."


def forge_hs256_with_public_key(world: OAuthWorld) -> str:
    header, claims = parts(good(world))
    _, keys = world.store.tenant_with_keys(world.demo_tenant)
    key = select_active(keys)
    assert key is not None
    pem = (
        world.cache.private_key(key)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    head = b64(json.dumps({"alg": "HS256", "kid": header["kid"], "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    import hashlib
    import hmac

    sig = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def with_header(extra: dict[str, Any]) -> Callable[[OAuthWorld], str]:
    def build(world: OAuthWorld) -> str:
        _, claims = parts(good(world))
        return resign(world, world.demo_tenant, claims, extra)

    return build


def with_claims(change: Callable[[OAuthWorld, dict[str, Any]], None]) -> Callable[[OAuthWorld], str]:
    def build(world: OAuthWorld) -> str:
        _, claims = parts(good(world))
        change(world, claims)
        return resign(world, world.demo_tenant, claims)

    return build


def other_tenant_key_claiming_demo(world: OAuthWorld) -> str:
    # Signed by the other tenant's key, but claims to be the demo tenant: the kid is not in demo's key set.
    _, claims = parts(good(world))
    return resign(world, world.other_tenant, claims)


def tampered(world: OAuthWorld) -> str:
    token = good(world)
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["scope"] = "WireSocket.API WireSocket.Admin"
    return f"{head}.{b64(json.dumps(claims).encode())}.{sig}"


def set_claim(name: str, value: Any) -> Callable[[OAuthWorld, dict[str, Any]], None]:
    def change(world: OAuthWorld, claims: dict[str, Any]) -> None:
        claims[name] = value

    return change


def drop_claim(name: str) -> Callable[[OAuthWorld, dict[str, Any]], None]:
    def change(world: OAuthWorld, claims: dict[str, Any]) -> None:
        del claims[name]

    return change


def shift_times(seconds: int) -> Callable[[OAuthWorld, dict[str, Any]], None]:
    def change(world: OAuthWorld, claims: dict[str, Any]) -> None:
        for name in ("iat", "nbf", "exp"):
            claims[name] += seconds

    return change


HOSTILE: dict[str, Callable[[OAuthWorld], str]] = {
    "alg none": forge_none,
    "HS256 keyed with the public key": forge_hs256_with_public_key,
    "jku header": with_header({"jku": "https://evil.example/jwks"}),
    "x5u header": with_header({"x5u": "https://evil.example/cert"}),
    "jwk header": with_header({"jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}}),
    "crit header": with_header({"crit": ["exp"]}),
    "typ not JWT": with_header({"typ": "JOSE+JSON"}),
    "other tenant's key, demo tenantid": other_tenant_key_claiming_demo,
    "tampered payload": tampered,
    "wrong issuer": with_claims(set_claim("iss", "https://evil.example/x")),
    "issuer of another tenant": with_claims(lambda w, c: c.update(iss=c["iss"].replace(w.demo_tenant, w.other_tenant))),
    "wrong audience": with_claims(set_claim("aud", "Something.Else")),
    "audience list": with_claims(set_claim("aud", [AUDIENCE_API, "x"])),
    "expired beyond leeway": with_claims(shift_times(-901 - 60)),
    "not yet valid beyond leeway": with_claims(shift_times(120)),
    "missing jti": with_claims(drop_claim("jti")),
    "string exp": with_claims(set_claim("exp", "9999999999")),
    "app of another client": with_claims(lambda w, c: c.update(appId=w.app_without_plan.app_id)),
    "no tenantid": with_claims(drop_claim("tenantid")),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_tokens_are_rejected(setup: tuple[OAuthWorld, MemoryStore], name: str) -> None:
    world, _ = setup
    token = HOSTILE[name](world)
    with pytest.raises(TokenRejected):
        world.verifier.verify(token, [AUDIENCE_API])


@pytest.mark.parametrize("token", ["", "x", "a.b", "a.b.c", "." * 2, "e30.e30.e30", "x" * 9000, 42])
def test_garbage_is_rejected(setup: tuple[OAuthWorld, MemoryStore], token: object) -> None:
    world, _ = setup
    with pytest.raises(TokenRejected):
        world.verifier.verify(token, [AUDIENCE_API])


def test_a_live_token_verifies_within_leeway(setup: tuple[OAuthWorld, MemoryStore]) -> None:
    world, _ = setup
    token = good(world)
    world.clock.advance(900 + 20)  # type: ignore[attr-defined]
    verified = world.verifier.verify(token, [AUDIENCE_API], required_scope="WireSocket.API")
    assert verified.tenant.tenant_id == world.demo_tenant
    assert verified.app is not None and verified.app.app_id == world.app.app_id
    world.clock.advance(60)  # type: ignore[attr-defined]
    with pytest.raises(TokenRejected):
        world.verifier.verify(token, [AUDIENCE_API])


def test_human_tokens_need_the_dashboard_audience(setup: tuple[OAuthWorld, MemoryStore]) -> None:
    world, _ = setup
    token = world.password(world.owner.username).body["access_token"]
    assert world.verifier.verify(token, [AUDIENCE_DASHBOARD]).user is not None
    with pytest.raises(TokenRejected):
        world.verifier.verify(token, [AUDIENCE_API])


@pytest.mark.parametrize("change", ["revoke keys", "suspend", "disable app", "retire plan", "rotate past grace"])
def test_current_state_ends_a_valid_token(setup: tuple[OAuthWorld, MemoryStore], change: str) -> None:
    world, store = setup
    token = good(world)
    world.verifier.verify(token, [AUDIENCE_API])
    if change == "revoke keys":
        world.vault.revoke_all(world.demo_tenant, SYSTEM_ACTOR)
    elif change == "suspend":
        store.tenants[world.demo_tenant] = replace(store.tenants[world.demo_tenant], status="suspended")  # type: ignore[arg-type]
    elif change == "disable app":
        key = (world.demo_tenant, world.app.app_id)
        store.apps[key] = replace(store.apps[key], status=AppStatus.DISABLED)
    elif change == "retire plan":
        store.plans["standard"] = replace(store.plans["standard"], status=PlanStatus.RETIRED)
    else:
        world.vault.rotate(world.demo_tenant, SYSTEM_ACTOR)
        world.verifier.verify(token, [AUDIENCE_API])  # retiring keys still verify in their grace period
        world.clock.advance(24 * 3600 + 1)  # type: ignore[attr-defined]
    with pytest.raises(TokenRejected):
        world.verifier.verify(token, [AUDIENCE_API])


def test_leeway_is_capped_at_sixty_seconds(setup: tuple[OAuthWorld, MemoryStore]) -> None:
    world, store = setup
    with pytest.raises(ValueError, match="leeway"):
        TokenVerifier(store, world.clock, issuer_base="x", leeway_seconds=61)


CLAIM_LEVEL = [
    "wrong issuer",
    "issuer of another tenant",
    "wrong audience",
    "audience list",
    "expired beyond leeway",
    "not yet valid beyond leeway",
    "missing jti",
    "string exp",
]


@pytest.mark.parametrize("name", CLAIM_LEVEL)
def test_a_token_its_own_claims_condemn_costs_no_directory_read(
    setup: tuple[OAuthWorld, MemoryStore], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, store = setup
    token, forged = HOSTILE[name](world), HOSTILE["tampered payload"](world)
    reads: list[str] = []
    real = store.tenant_with_keys

    def counted(tenant_id: str) -> Any:
        reads.append(tenant_id)
        return real(tenant_id)

    monkeypatch.setattr(store, "tenant_with_keys", counted)
    # When a token whose claims can never pass is presented (a handshake flood of such tokens, say)
    with pytest.raises(TokenRejected):
        world.verifier.verify(token, [AUDIENCE_API])
    # Then it was refused before the tenant partition was read; a forged signature still needs that read
    assert reads == []
    with pytest.raises(TokenRejected, match="signature"):
        world.verifier.verify(forged, [AUDIENCE_API])
    assert reads == [world.demo_tenant]
