"""Envelope encryption of tenant private keys (SPEC §5), and the warm cache of unsealed keys.

Per key: a fresh 256-bit data key from KMS ``GenerateDataKey`` (EncryptionContext ``{tenantId, kid}``),
AES-256-GCM over the DER PKCS#8 private key with the same binding as AAD. Only the wrapped data key, the
nonce, the ciphertext and the master-key version tag are stored. Loading an RSA private key costs ~45 ms with
OpenSSL's key check (~9 ms without it: see ``unseal``) and unwrapping costs a KMS call, so a warm container
keeps loaded keys for a bounded time.

``cryptography`` is imported where it is used, not with this module: loading it costs ~12 ms, which the token
function's cold start spends on a background thread while its request waits for DynamoDB (``preload``, run
by ``wiring`` after the pepper's prefetch) instead of before the request's first read.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, NamedTuple

from wiresocket.domain.errors import IntegrityError, KeyUnavailable
from wiresocket.domain.keys import EncryptedPrivateKey, KeyState, SigningKey, aad, encryption_context

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from wiresocket.ports import Clock, KeyWrapper

RSA_BITS = 2048
RSA_PUBLIC_EXPONENT = 65537


def preload() -> None:
    """Import the ``cryptography`` modules that unsealing and signing use (for a background thread)."""
    import cryptography.exceptions
    import cryptography.hazmat.primitives.asymmetric.padding
    import cryptography.hazmat.primitives.asymmetric.rsa
    import cryptography.hazmat.primitives.ciphers.aead
    import cryptography.hazmat.primitives.hashes
    import cryptography.hazmat.primitives.serialization  # noqa: F401


def _b64url_uint(value: int) -> str:
    import base64

    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def seal(private_der: bytes, tenant_id: str, kid: str, wrapper: KeyWrapper) -> EncryptedPrivateKey:
    """Encrypt a DER PKCS#8 private key under a fresh data key bound to ``{tenantId, kid}``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    data_key = wrapper.generate_data_key(encryption_context(tenant_id, kid))
    nonce = os.urandom(12)
    ciphertext = AESGCM(data_key.plaintext).encrypt(nonce, private_der, aad(tenant_id, kid))
    return EncryptedPrivateKey(
        wrapped_data_key=data_key.wrapped,
        nonce=nonce,
        ciphertext=ciphertext,
        master_key_id=data_key.master_key_id,
    )


def unseal(key: SigningKey, wrapper: KeyWrapper) -> rsa.RSAPrivateKey:
    """Decrypt and load ``key``'s private key. Raises ``IntegrityError`` on any binding mismatch."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if key.sealed is None:
        raise KeyUnavailable(f"key {key.kid} holds no private material (state {key.state})")
    data_key = wrapper.unwrap(key.sealed.wrapped_data_key, encryption_context(key.tenant_id, key.kid))
    try:
        der = AESGCM(data_key).decrypt(key.sealed.nonce, key.sealed.ciphertext, aad(key.tenant_id, key.kid))
    except InvalidTag as exc:
        raise IntegrityError("private key ciphertext failed authentication") from exc
    # OpenSSL's RSA key check (~36 ms of the ~45 ms load) guards against malformed or hostile key material.
    # This DER just passed AES-256-GCM authentication bound to {tenantId, kid} under a data key only KMS can
    # unwrap: only ``generate_signing_key`` (cryptography's own generator) can have produced it. So the check
    # is skipped (cryptography documents the flag for keys from a trusted source), and what matters for us is
    # checked instead, for nothing: the key is RSA and is the private half of the key the JWKS publishes.
    private = serialization.load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise IntegrityError("sealed key is not an RSA private key")
    numbers = private.public_key().public_numbers()
    if (_b64url_uint(numbers.n), _b64url_uint(numbers.e)) != (key.public_n, key.public_e):
        raise IntegrityError("sealed key does not match its published public key")
    return private


def generate_signing_key(tenant_id: str, kid: str, state: KeyState, now: int, wrapper: KeyWrapper) -> SigningKey:
    """A fresh RSA-2048 key for ``tenant_id``, sealed; the plaintext never leaves this function."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=RSA_PUBLIC_EXPONENT, key_size=RSA_BITS)
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    numbers = private.public_key().public_numbers()
    return SigningKey(
        tenant_id=tenant_id,
        kid=kid,
        state=state,
        created_at=now,
        public_n=_b64url_uint(numbers.n),
        public_e=_b64url_uint(numbers.e),
        sealed=seal(der, tenant_id, kid, wrapper),
        activated_at=now if state is KeyState.ACTIVE else None,
    )


class _Entry(NamedTuple):
    private_key: rsa.RSAPrivateKey
    loaded_at: float


class UnsealedKeyCache:
    """Loaded private keys of a warm container, keyed by (tenant, kid, master-key tag), for ≤ ``ttl``.

    The caller always passes the key record it just read (so key *state* is re-checked on every use); this
    cache only saves the KMS call and the key load. Bounded in size (LRU) and in time.

    ``prefetch`` starts a load on a background thread (the token service's KMS unwrap then overlaps its plan
    read); ``private_key`` waits for a load in flight instead of starting a second one. A failed prefetch
    caches nothing: the request that waited for it raises its failure, and the next one loads again.
    """

    PREFETCH_WAIT_SECONDS = 3.0
    """How long ``private_key`` waits for a prefetch in flight (far longer than a healthy KMS unwrap) before
    loading the key itself: a load stuck longer (a container frozen mid-call after an early answer, then thawed)
    is not waited for."""

    def __init__(self, wrapper: KeyWrapper, clock: Clock, ttl_seconds: float = 300, max_entries: int = 256):
        self._wrapper = wrapper
        self._clock = clock
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, str, str], _Entry] = OrderedDict()
        self._loading: dict[tuple[str, str, str], threading.Event] = {}
        self._failed: dict[tuple[str, str, str], Exception] = {}
        self._lock = threading.Lock()

    def _cached(self, cache_key: tuple[str, str, str], now: float) -> rsa.RSAPrivateKey | None:
        """The fresh cached key (caller holds the lock)."""
        entry = self._entries.get(cache_key)
        if entry is not None and now - entry.loaded_at < self._ttl:
            self._entries.move_to_end(cache_key)
            return entry.private_key
        return None

    def _store(self, cache_key: tuple[str, str, str], private: rsa.RSAPrivateKey, now: float) -> None:
        with self._lock:
            self._entries[cache_key] = _Entry(private, now)
            self._entries.move_to_end(cache_key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def private_key(self, key: SigningKey) -> rsa.RSAPrivateKey:
        """The loaded private key for ``key`` (which must still hold sealed material)."""
        if key.sealed is None:
            raise KeyUnavailable(f"key {key.kid} holds no private material (state {key.state})")
        cache_key = (key.tenant_id, key.kid, key.sealed.master_key_id)
        now = self._clock.now()
        with self._lock:
            cached = self._cached(cache_key, now)
            pending = self._loading.get(cache_key)
        if cached is not None:
            return cached
        if pending is not None and pending.wait(self.PREFETCH_WAIT_SECONDS):
            with self._lock:
                cached = self._cached(cache_key, now)
                failure = self._failed.pop(cache_key, None)
            if cached is not None:
                return cached
            if failure is not None:
                # The load this request waited for failed: its error (fail closed), not a second round of
                # retries against the same outage. The next request loads again.
                raise failure
        private = unseal(key, self._wrapper)
        self._store(cache_key, private, now)
        return private

    def prefetch(self, key: SigningKey) -> None:
        """Start loading ``key`` on a background thread, unless it is cached, already loading or unsealed."""
        if key.sealed is None:
            return
        cache_key = (key.tenant_id, key.kid, key.sealed.master_key_id)
        now = self._clock.now()
        with self._lock:
            if self._cached(cache_key, now) is not None or cache_key in self._loading:
                return
            done = self._loading[cache_key] = threading.Event()
            self._failed.pop(cache_key, None)
        threading.Thread(
            target=self._prefetch, args=(key, cache_key, now, done), name="key-prefetch", daemon=True
        ).start()

    def _prefetch(self, key: SigningKey, cache_key: tuple[str, str, str], now: float, done: threading.Event) -> None:
        failure: Exception | None = None
        try:
            self._store(cache_key, unseal(key, self._wrapper), now)
        except Exception as exc:  # handed to the request waiting for this load (fail closed)
            failure = exc
        finally:
            with self._lock:
                self._loading.pop(cache_key, None)
                if failure is not None:
                    self._failed[cache_key] = failure
            done.set()

    def forget_tenant(self, tenant_id: str) -> None:
        """Drop every cached key of ``tenant_id`` (after a revocation in this container)."""
        with self._lock:
            for cache_key in [k for k in self._entries if k[0] == tenant_id]:
                del self._entries[cache_key]

    def __len__(self) -> int:
        return len(self._entries)
