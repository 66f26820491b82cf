"""``services.signing.compact_rs256``: our assembly of the compact JWS around PyJWT's RS256 is byte-identical
to ``PyJWS.encode`` (RSASSA-PKCS1-v1_5 signatures are deterministic, so any difference in header, payload
segment or signature would show), and verifies with plain ``jwt.decode``."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from wiresocket.services.signing import compact_rs256, header_segment


@pytest.fixture(scope="module")
def private() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(
    "payload",
    [
        b"{}",
        json.dumps({"sub": "app", "scope": "WireSocket.API", "exp": 1_900_000_000}, separators=(",", ":")).encode(),
        json.dumps({"name": "Zoë ✓", "pad": "x" * 1001}).encode(),  # non-ASCII and a length that needs padding
    ],
)
def test_compact_rs256_is_byte_identical_to_pyjws(private: rsa.RSAPrivateKey, payload: bytes) -> None:
    # Given a payload and a kid
    kid = "k-2026-11-29-abcdef"
    # When both sign it
    ours = compact_rs256(payload, private, kid)
    theirs = jwt.PyJWS().encode(payload, private, algorithm="RS256", headers={"kid": kid, "typ": "JWT"})
    # Then the tokens are the same bytes
    assert ours == theirs


def test_compact_rs256_verifies_with_pyjwt_and_names_its_kid(private: rsa.RSAPrivateKey) -> None:
    # Given a token signed by our path
    token = compact_rs256(b'{"sub":"app","exp":4102444800}', private, "kid-1")
    # Then PyJWT verifies it with the public key, and the header carries exactly alg, kid and typ
    assert jwt.decode(token, private.public_key(), algorithms=["RS256"]) == {"sub": "app", "exp": 4102444800}
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": "kid-1", "typ": "JWT"}


def test_header_segment_depends_on_the_kid() -> None:
    # A cached header must never be reused for another key
    assert header_segment("a") != header_segment("b")


def test_signing_a_claims_dict_is_byte_identical_to_jwt_encode(private: rsa.RSAPrivateKey) -> None:
    # Given the claims of a user token (the password and refresh grants sign a dict)
    from tests.fakes.memory import FakeClock, FakeKeyWrapper
    from wiresocket.domain.keys import KeyState
    from wiresocket.services.sealing import UnsealedKeyCache, generate_signing_key
    from wiresocket.services.signing import TokenSigner

    wrapper = FakeKeyWrapper()
    key = generate_signing_key("t", "kid-u", KeyState.ACTIVE, 1, wrapper)
    cache = UnsealedKeyCache(wrapper, FakeClock())
    claims = {"sub": "user-1", "scope": "WireSocket.Admin", "name": "Zoë", "exp": 4102444800, "roles": ["owner"]}
    # When our signer and jwt.encode sign it with the same key
    ours = TokenSigner(cache).sign(claims, [key])
    theirs = jwt.encode(claims, cache.private_key(key), algorithm="RS256", headers={"kid": key.kid, "typ": "JWT"})
    # Then the tokens are the same bytes
    assert ours == theirs
