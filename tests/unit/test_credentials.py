"""Client secrets (keyed hash, constant-time), passwords (Argon2id, no enumeration oracle), refresh tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable

import pytest
from argon2 import PasswordHasher

from wiresocket.domain import credentials
from wiresocket.domain.credentials import (
    MAX_PASSWORD_LENGTH,
    dummy_password_hash,
    generate_client_id,
    generate_client_secret,
    generate_refresh_token,
    hash_client_secret,
    hash_password,
    hash_refresh_token,
    needs_rehash,
    secret_fingerprint,
    validate_new_password,
    verify_client_secret,
    verify_password,
    verify_password_or_dummy,
)
from wiresocket.domain.errors import InvalidInput

PEPPER = b"p" * 32
OTHER_PEPPER = b"q" * 32
PASSWORD = "correct horse battery staple"


def _random_part(value: str, prefix: str) -> bytes:
    assert value.startswith(prefix)
    body = value.removeprefix(prefix)
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


@pytest.fixture(scope="module")
def stored_password() -> str:
    # One Argon2id hash (~0.17 s) shared by the password tests.
    return hash_password(PASSWORD)


# --- client secrets: negative cases first ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "garbage",
        "hmac-sha256$v1$",
        "hmac-sha256$v1$not base64!!",
        "hmac-sha256$v2$" + base64.b64encode(b"x" * 32).decode(),  # unknown version
        "hmac-sha512$v1$" + base64.b64encode(b"x" * 32).decode(),  # foreign scheme
        "hmac-sha256$v1$" + base64.b64encode(b"x" * 31).decode(),  # truncated digest
        "hmac-sha256$v1$" + base64.b64encode(b"x" * 32).decode() + "$extra",
        "hmac-sha256$v1$\uff21\uff21\uff21\uff21",  # non-ASCII (full-width "A")
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaA",  # a password hash is not a secret hash
    ],
)
def test_malformed_stored_secret_hash_is_false_and_never_raises(stored: str) -> None:
    # Given a stored value that is not a well-formed v1 client-secret hash
    secret = generate_client_secret()
    # When a secret is verified against it / Then the answer is False (no exception)
    assert verify_client_secret(secret, stored, PEPPER) is False


def test_non_string_stored_value_is_false() -> None:
    # Given a corrupted directory item whose hash attribute is not a string
    stored: object = 12345
    # When verified / Then False
    assert verify_client_secret(generate_client_secret(), stored, PEPPER) is False  # type: ignore[arg-type]


def test_wrong_secret_is_rejected() -> None:
    # Given the stored hash of one secret
    stored = hash_client_secret(generate_client_secret(), PEPPER)
    # When another secret is presented / Then it is rejected
    assert verify_client_secret(generate_client_secret(), stored, PEPPER) is False


def test_pepper_matters() -> None:
    # Given a secret hashed under one pepper
    secret = generate_client_secret()
    stored = hash_client_secret(secret, PEPPER)
    # When verified under another pepper / Then it is rejected, and the two hashes differ
    assert verify_client_secret(secret, stored, OTHER_PEPPER) is False
    assert hash_client_secret(secret, OTHER_PEPPER) != stored


def test_short_pepper_is_a_configuration_error() -> None:
    # Given a pepper shorter than 256 bits / When used / Then refused outright
    with pytest.raises(ValueError, match="pepper"):
        hash_client_secret(generate_client_secret(), b"short")
    with pytest.raises(ValueError, match="pepper"):
        verify_client_secret(generate_client_secret(), "hmac-sha256$v1$", b"")


def test_secret_with_lone_surrogate_is_rejected_not_raised() -> None:
    # Given a hostile secret that is not encodable as UTF-8 (e.g. from a JSON "\ud800")
    stored = hash_client_secret(generate_client_secret(), PEPPER)
    # When verified / Then simply False
    assert verify_client_secret("wss_\ud800", stored, PEPPER) is False


def test_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a spy on hmac.compare_digest
    calls: list[tuple[bytes, bytes]] = []
    real: Callable[[bytes, bytes], bool] = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    secret = generate_client_secret()
    stored = hash_client_secret(secret, PEPPER)
    # When a right and a wrong secret are verified
    assert verify_client_secret(secret, stored, PEPPER) is True
    assert verify_client_secret(secret + "x", stored, PEPPER) is False
    # Then each comparison went through compare_digest, on full 32-byte digests
    assert len(calls) == 2
    assert all(len(a) == len(b) == 32 for a, b in calls)


def test_stored_hash_format_and_round_trip() -> None:
    # Given a fresh secret
    secret = generate_client_secret()
    # When hashed
    stored = hash_client_secret(secret, PEPPER)
    # Then the stored form is versioned HMAC-SHA256 of the secret, and does not contain the secret
    scheme, version, body = stored.split("$")
    assert (scheme, version) == ("hmac-sha256", "v1")
    assert base64.b64decode(body) == hmac.new(PEPPER, secret.encode(), hashlib.sha256).digest()
    assert secret not in stored
    assert hash_client_secret(secret, PEPPER) == stored  # deterministic
    assert verify_client_secret(secret, stored, PEPPER) is True


def test_client_secret_entropy_and_shape() -> None:
    # When many secrets are generated
    secrets_ = {generate_client_secret() for _ in range(200)}
    # Then each carries ≥ 256 random bits behind a recognisable prefix, and none repeats
    assert len(secrets_) == 200
    for secret in secrets_:
        assert re.fullmatch(r"wss_[A-Za-z0-9_-]{43}", secret)
        assert len(_random_part(secret, "wss_")) * 8 >= 256


def test_client_id_shape() -> None:
    ids = {generate_client_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"wsc_[0-9a-f]{32}", i) for i in ids)


def test_fingerprint_is_short_and_reveals_no_secret() -> None:
    # Given a secret
    secret = generate_client_secret()
    # When fingerprinted
    fingerprint = secret_fingerprint(secret)
    # Then it is 8 hex chars of its SHA-256, stable, and no part of the secret or of its stored hash
    assert re.fullmatch(r"[0-9a-f]{8}", fingerprint)
    assert fingerprint == hashlib.sha256(secret.encode()).hexdigest()[:8]
    assert fingerprint == secret_fingerprint(secret)
    assert fingerprint not in secret
    assert secret_fingerprint(generate_client_secret()) != fingerprint


# --- passwords: policy --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "",
        "a" * 11,  # too short
        "a" * 257,  # too long
        " " * 20,  # only whitespace
        "\t\n \u3000" * 4,  # only (Unicode) whitespace
        "valid-looking-\ud800",  # lone surrogate: not text
        "e\u0301" * 150,  # 300 characters as typed, 150 after NFKC: a login (bounded as sent) could never match
    ],
)
def test_password_policy_rejects(password: str) -> None:
    # Given a password outside the policy / When validated / Then InvalidInput (maps to 400)
    with pytest.raises(InvalidInput):
        validate_new_password(password)


@pytest.mark.parametrize("password", ["a" * 12, "a" * 256, "  spaces around ok  ", "pässwörd-ünïcode"])
def test_password_policy_accepts(password: str) -> None:
    assert validate_new_password(password) == password


def test_every_password_the_policy_accepts_is_one_a_login_can_present_whole() -> None:
    # Given the longest decomposed password the policy accepts (128 base letters + 128 combining accents)
    password = "e\u0301" * 128
    stored = hash_password(validate_new_password(password))
    # When a login bounds what it was sent as the token service does (to MAX_PASSWORD_LENGTH characters)
    presented = password[:MAX_PASSWORD_LENGTH]
    # Then nothing was cut, and it verifies
    assert presented == password and verify_password(presented, stored)


# --- passwords: Argon2id ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not a hash",
        "$argon2id$",
        "$argon2id$v=19$m=65536,t=3,p=4$!!!$???",
        "$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",  # not argon2id
        "hmac-sha256$v1$" + base64.b64encode(b"x" * 32).decode(),
    ],
)
def test_malformed_password_hash_is_false_and_never_raises(stored: str) -> None:
    assert verify_password(PASSWORD, stored) is False
    assert needs_rehash(stored) is True


def test_truncated_password_hash_is_false(stored_password: str) -> None:
    assert verify_password(PASSWORD, stored_password[:-5]) is False


def test_wrong_password_is_rejected(stored_password: str) -> None:
    assert verify_password(PASSWORD + "!", stored_password) is False
    assert verify_password("\ud800", stored_password) is False  # hostile input: False, not an exception


def test_password_hash_is_argon2id_with_rfc9106_low_memory_params(stored_password: str) -> None:
    # Then the PHC string names Argon2id and the RFC 9106 low-memory parameters, and a fresh salt per hash
    assert stored_password.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in stored_password
    assert needs_rehash(stored_password) is False


def test_right_password_verifies(stored_password: str) -> None:
    assert verify_password(PASSWORD, stored_password) is True


def test_unicode_forms_verify_alike() -> None:
    # Given a password set with a composed "é"
    stored = hash_password("caf\u00e9-au-lait-2024")
    # When typed with a decomposed "e + ◌́" / Then it verifies (NFKC on both sides)
    assert verify_password("cafe\u0301-au-lait-2024", stored) is True


def test_weaker_parameters_need_rehash() -> None:
    # Given a hash made with cheaper parameters than ours
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    # Then it still verifies, and is flagged for re-hashing
    assert verify_password(PASSWORD, weak) is True
    assert needs_rehash(weak) is True


# --- passwords: no user-enumeration timing oracle -------------------------------------------------------------


def test_unknown_user_spends_a_full_argon2_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a spy on the Argon2 verification
    verified: list[str] = []
    real_verify = PasswordHasher.verify

    def spy(self: PasswordHasher, hash: str, password: str | bytes) -> bool:
        verified.append(hash)
        return bool(real_verify(self, hash, password))

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    # When a login names a user that does not exist, or one with a broken stored hash
    assert verify_password_or_dummy(PASSWORD, None) is False
    assert verify_password_or_dummy(PASSWORD, "corrupt") is False
    # Then each still ran one Argon2id verification, against the dummy hash
    assert verified == [dummy_password_hash(), dummy_password_hash()]


def test_dummy_hash_costs_the_same_as_a_real_one() -> None:
    # Then the dummy hash is Argon2id with the current parameters (same work as a real verification),
    # computed once, and reachable as the module attribute too
    dummy = dummy_password_hash()
    assert dummy.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert needs_rehash(dummy) is False
    assert credentials.DUMMY_PASSWORD_HASH is dummy


def test_the_dummy_hash_is_the_precomputed_one_so_no_login_pays_for_making_it() -> None:
    # Then the shipped constant has the current parameters (regenerate it with hash_password if this fails),
    # and it is what unknown-user logins verify against: nothing is hashed on a container's first such login
    assert needs_rehash(credentials.PRECOMPUTED_DUMMY_HASH) is False
    assert dummy_password_hash() == credentials.PRECOMPUTED_DUMMY_HASH
    assert verify_password("", credentials.PRECOMPUTED_DUMMY_HASH) is False


def test_existing_user_is_verified_normally(stored_password: str) -> None:
    assert verify_password_or_dummy(PASSWORD, stored_password) is True
    assert verify_password_or_dummy("wrong password!", stored_password) is False


# --- refresh tokens ----------------------------------------------------------------------------------------


def test_refresh_token_hash_reveals_no_token() -> None:
    # Given a token
    token = generate_refresh_token()
    # When hashed
    stored = hash_refresh_token(token)
    # Then the stored form is its SHA-256 hex, deterministic (it is the lookup key), without the token
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", stored)
    assert token not in stored
    assert hash_refresh_token(token) == stored
    assert hash_refresh_token(generate_refresh_token()) != stored


def test_refresh_token_hash_never_raises() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", hash_refresh_token("\ud800"))
    assert re.fullmatch(r"[0-9a-f]{64}", hash_refresh_token(""))


def test_refresh_token_entropy_and_shape() -> None:
    tokens = {generate_refresh_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert re.fullmatch(r"wsr_[A-Za-z0-9_-]{43}", token)
        assert len(_random_part(token, "wsr_")) * 8 >= 256
