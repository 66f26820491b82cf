"""Credentials: generation, storage form and verification of client secrets, passwords and refresh tokens.

What is stored, and why (SPEC §2, §3):

- **Client secrets** carry ≥ 256 bits of randomness, so no dictionary or brute-force attack applies to them;
  a slow password hash would only cost us CPU on every token request. They are stored as a *keyed* hash
  (HMAC-SHA256 under a server-side pepper that lives outside the directory, e.g. in Secrets Manager/KMS), so
  a leaked directory alone does not even allow an offline check of a guessed secret. Compared in constant
  time (``hmac.compare_digest``).
- **Passwords** are low-entropy and human-chosen: Argon2id (RFC 9106), memory-hard and salted per hash.
- **Refresh tokens** are opaque, random (≥ 256 bits) and stored as their plain SHA-256. With that much
  entropy a pre-image search is infeasible, so the stored value is useless to a thief; a key would add
  nothing but a rotation problem. The hash doubles as the lookup key, which an HMAC with a salt could not.

Pure: no boto3, no ``os.environ``. The pepper is passed in by the caller (from settings).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
import unicodedata
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from argon2 import PasswordHasher

from wiresocket.domain.errors import InvalidInput

# --- Client ids and secrets -----------------------------------------------------------------------------------

CLIENT_ID_PREFIX: Final = "wsc_"
# Prefixes make our credentials recognisable to secret scanners (and to humans pasting them somewhere).
CLIENT_SECRET_PREFIX: Final = "wss_"  # noqa: S105 - a prefix, not a secret
REFRESH_TOKEN_PREFIX: Final = "wsr_"  # noqa: S105 - a prefix, not a secret
SECRET_RANDOM_BYTES: Final = 32  # 256 bits (SPEC §2)
MIN_PEPPER_BYTES: Final = 32

CLIENT_SECRET_SCHEME: Final = "hmac-sha256"  # noqa: S105 - a format tag, not a secret
CLIENT_SECRET_VERSION: Final = "v1"  # noqa: S105 - a format tag, not a secret
_DIGEST_BYTES: Final = hashlib.sha256().digest_size


def _utf8(value: str) -> bytes:
    # ``surrogatepass`` so that no ``str`` (not even one with a lone surrogate from a JSON ``\\ud800``) can make
    # hashing raise: a hostile input must yield a non-matching hash, never an exception.
    return value.encode("utf-8", "surrogatepass")


def generate_client_id() -> str:
    """A fresh, public ``client_id``: ``wsc_`` + 128 random bits in lower-case hex (case-insensitive safe)."""
    return CLIENT_ID_PREFIX + secrets.token_hex(16)


def generate_client_secret() -> str:
    """A fresh client secret: ``wss_`` + 256 random bits from ``secrets`` (URL-safe base64, 43 chars).

    Shown to the caller once; only ``hash_client_secret`` of it is ever stored.
    """
    return CLIENT_SECRET_PREFIX + secrets.token_urlsafe(SECRET_RANDOM_BYTES)


@functools.lru_cache(maxsize=4)
def _keyed_hmac(pepper: bytes) -> hmac.HMAC:
    """An HMAC-SHA256 already keyed with ``pepper`` (copied per use): keying costs as much as hashing."""
    if len(pepper) < MIN_PEPPER_BYTES:
        # A configuration error, not bad input: refuse rather than store a hash keyed with a weak pepper.
        raise ValueError(f"client-secret pepper must be at least {MIN_PEPPER_BYTES} bytes")
    return hmac.new(pepper, digestmod=hashlib.sha256)


def _client_secret_digest(secret: str, pepper: bytes) -> bytes:
    mac = _keyed_hmac(pepper).copy()
    mac.update(_utf8(secret))
    return mac.digest()


def hash_client_secret(secret: str, pepper: bytes) -> str:
    """The stored form of a client secret: ``hmac-sha256$v1$<base64 of HMAC-SHA256(pepper, secret)>``.

    Deterministic (no salt is needed for 256-bit random secrets). The ``v1`` tag names the format, so the
    scheme can change later without guessing what a stored value is. Raises ``ValueError`` if ``pepper`` is
    shorter than ``MIN_PEPPER_BYTES``.
    """
    digest = _client_secret_digest(secret, pepper)
    return f"{CLIENT_SECRET_SCHEME}${CLIENT_SECRET_VERSION}${base64.b64encode(digest).decode('ascii')}"


def _parse_client_secret_hash(stored: object) -> bytes | None:
    if not isinstance(stored, str):
        return None
    return _parse_stored_client_secret_hash(stored)


@functools.lru_cache(maxsize=1024)
def _parse_stored_client_secret_hash(stored: str) -> bytes | None:
    """The digest inside a stored hash (None if malformed). Memoised by the stored string: a warm container
    verifies the same few clients again and again, and parsing costs as much as the HMAC itself."""
    parts = stored.split("$")
    if len(parts) != 3 or parts[0] != CLIENT_SECRET_SCHEME or parts[1] != CLIENT_SECRET_VERSION:
        return None
    try:
        digest = base64.b64decode(parts[2].encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
    return digest if len(digest) == _DIGEST_BYTES else None


def verify_client_secret(secret: str, stored: str, pepper: bytes) -> bool:
    """True iff ``secret`` matches the stored ``hash_client_secret`` value, compared in constant time.

    A malformed or foreign ``stored`` value yields False, never an exception. The HMAC is computed even
    then, so the time taken does not depend on whether the stored value was well-formed. Raises
    ``ValueError`` only for a too-short ``pepper`` (a configuration error: fail closed).
    """
    presented = _client_secret_digest(secret, pepper)
    expected = _parse_client_secret_hash(stored)
    if expected is None:
        hmac.compare_digest(presented, presented)  # same work as a real comparison
        return False
    return hmac.compare_digest(presented, expected)


def secret_fingerprint(secret: str) -> str:
    """A short id of a secret that is safe to log: the first 8 hex chars (32 bits) of its SHA-256.

    32 bits tell two secrets apart in logs and support tickets but reveal nothing usable about a 256-bit
    secret. Never log the secret itself, nor its stored hash.
    """
    return hashlib.sha256(_utf8(secret)).hexdigest()[:8]


# --- Passwords (Argon2id) ------------------------------------------------------------------------------------

MIN_PASSWORD_LENGTH: Final = 12
MAX_PASSWORD_LENGTH: Final = 256

PASSWORD_PROFILE: Final = "RFC_9106_LOW_MEMORY"  # noqa: S105 - the name of an argon2.profiles entry
"""The ``argon2.profiles`` entry every password hash uses: Argon2id, RFC 9106 §4 second recommended option
("low memory"): t=3 passes, m=64 MiB, p=4 lanes, 16-byte salt, 32-byte tag.

Why this profile: it is the RFC's recommendation for environments that cannot spend 2 GiB per hash (a
Lambda cannot), it is argon2-cffi's own default, and it sits well above OWASP's floor (m=19 MiB, t=2, p=1).
Measured on the build machine (2 vCPU, argon2-cffi 25.1): **~0.17 s per hash, ~0.16 s per verify**. On
Lambda, CPU scales with memory: give the token function ≥ 1024 MB (the 64 MiB of the hash plus headroom, and
enough CPU that a login stays well under a second). Stored hashes carry their parameters, so raising them
later only needs ``needs_rehash`` on the next successful login.

argon2 is imported on first use, not with this module: a client_credentials request (the token function's
hot path) checks an HMAC and never hashes a password, so its cold start does not load argon2.
"""


@functools.cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher, profiles

    return PasswordHasher.from_parameters(getattr(profiles, PASSWORD_PROFILE))


def _password_bytes(password: str) -> bytes:
    # NFKC so that the same password typed on two keyboards (composed vs decomposed accents, full-width
    # digits) verifies (NIST SP 800-63B §5.1.1.2). Applied identically when hashing and verifying.
    return _utf8(unicodedata.normalize("NFKC", password))


def validate_new_password(password: str) -> str:
    """Return ``password`` if it meets the policy, else raise ``InvalidInput``.

    Policy: 12 to 256 characters both as typed and after NFKC normalisation, not only whitespace, valid Unicode
    text. No composition rules (NIST SP 800-63B); the upper bound only caps the work an attacker can make us do.
    The bound applies to the typed form too because a login bounds what it is sent before normalising it
    (``services.token``): a password of 300 decomposed characters that normalises to 150 could otherwise be set
    and never used.
    """
    normalised = unicodedata.normalize("NFKC", password)
    if len(password) > MAX_PASSWORD_LENGTH or not MIN_PASSWORD_LENGTH <= len(normalised) <= MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long")
    if normalised.strip() == "":
        raise InvalidInput("password must not be only whitespace")
    try:
        normalised.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("password must be valid Unicode text") from None
    return password


def hash_password(password: str) -> str:
    """The stored form of a password: an Argon2id PHC string (``$argon2id$v=19$m=65536,t=3,p=4$...``).

    Does not apply the password policy; call ``validate_new_password`` first when a password is set.
    """
    return str(_hasher().hash(_password_bytes(password)))


def _is_argon2id(stored: object) -> bool:
    return isinstance(stored, str) and stored.startswith("$argon2id$")


def verify_password(password: str, stored: str) -> bool:
    """True iff ``password`` matches the stored Argon2id hash.

    False on a mismatch and on any malformed, truncated or non-Argon2id stored value; never raises for bad
    input.
    """
    if not _is_argon2id(stored):
        return False
    hasher = _hasher()
    from argon2.exceptions import InvalidHashError, VerificationError  # loaded by _hasher() already

    try:
        return bool(hasher.verify(stored, _password_bytes(password)))
    except (VerificationError, InvalidHashError, ValueError, TypeError):
        return False


def needs_rehash(stored: str) -> bool:
    """True if ``stored`` was made with other parameters than ``PASSWORD_PROFILE`` (or is not a valid
    Argon2id hash): re-hash the password, which the caller just verified, and store the new hash."""
    if not _is_argon2id(stored):
        return True
    hasher = _hasher()
    from argon2.exceptions import InvalidHashError

    try:
        return bool(hasher.check_needs_rehash(stored))
    except (InvalidHashError, ValueError, TypeError):
        return True


PRECOMPUTED_DUMMY_HASH: Final = (
    "$argon2id$v=19$m=65536,t=3,p=4$4/E2aa0jJ/PguWLjbVNXYA$Cbe7nwvE3ElBT2FB7uZ8M9956bN5+DC2Ub6kspinpcM"
)
"""An Argon2id hash, with ``PASSWORD_PROFILE``'s parameters, of a random password generated once and discarded
(nobody knows it, and ``verify_password_or_dummy`` returns False after verifying against it anyway).

A constant rather than computed on first use: computing it (~0.17 s) inside a container's first unknown-user
login made that one login take twice as long as a known user's (a user-enumeration timing hint), and computing
it at every cold start would cost every container 0.17 s. If the parameters ever change, ``dummy_password_hash``
computes one with the new parameters instead (and tests/unit/test_credentials.py fails until this is redone)."""


@functools.cache
def dummy_password_hash() -> str:
    """An Argon2id hash with the current parameters of a password nobody knows: ``PRECOMPUTED_DUMMY_HASH``
    while its parameters are current, else one computed once."""
    if not needs_rehash(PRECOMPUTED_DUMMY_HASH):
        return PRECOMPUTED_DUMMY_HASH
    return hash_password(secrets.token_urlsafe(32))


if TYPE_CHECKING:
    DUMMY_PASSWORD_HASH: str
    """``dummy_password_hash()`` as a module attribute, resolved on first access (PEP 562)."""
else:
    # Hidden from the type checker, which would otherwise accept *any* attribute of this module as a str.
    def __getattr__(name: str) -> str:
        if name == "DUMMY_PASSWORD_HASH":
            return dummy_password_hash()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def verify_password_or_dummy(password: str, stored: str | None) -> bool:
    """``verify_password``, spending the same Argon2id work when there is no (usable) stored hash.

    Use for every password login: whether the user exists, or has no password, must not show in the
    response time (no user-enumeration timing oracle). Returns False whenever ``stored`` is None.
    """
    if stored is None or not _is_argon2id(stored):
        verify_password(password, dummy_password_hash())
        return False
    return verify_password(password, stored)


# --- Refresh tokens ------------------------------------------------------------------------------------------


def generate_refresh_token() -> str:
    """A fresh opaque refresh token: ``wsr_`` + 256 random bits (URL-safe base64)."""
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(SECRET_RANDOM_BYTES)


def hash_refresh_token(token: str) -> str:
    """The stored (and looked-up) form of a refresh token: its SHA-256, lower-case hex (64 chars).

    Unkeyed on purpose: the token has 256 bits of entropy, so nobody can find a token for a stored hash, and
    the hash is deterministic, so it serves as the directory key. Any ``str`` hashes; none raises.
    """
    return hashlib.sha256(_utf8(token)).hexdigest()
