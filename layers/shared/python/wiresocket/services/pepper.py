"""The client-secret hashing key ("pepper"), envelope-encrypted like tenant keys (SPEC §2, §5).

Client secrets are stored as HMAC-SHA256 under this key (``domain.credentials``). The key itself is a KMS
data key: the directory holds only its wrapped form, so a copy of the directory alone cannot even test a
guessed secret. A warm container unwraps it once and keeps it; the token path makes no KMS call after that.
"""

from __future__ import annotations

import contextlib
import threading

from wiresocket.domain.errors import Conflict, KeyUnavailable
from wiresocket.domain.keys import encryption_context
from wiresocket.names import PLATFORM_TENANT_ID
from wiresocket.ports import IdentityDirectory, KeyWrapper, PutSecretPepper

# The same {tenantId, kid} context shape as every tenant key: the master key's policy admits no other shape,
# and the pepper belongs to the reserved platform tenant.
PEPPER_KID = "client-secret-pepper"
PEPPER_CONTEXT = encryption_context(PLATFORM_TENANT_ID, PEPPER_KID)


class SecretPepper:
    """Loads (and, at bootstrap, creates) the pepper; caches it for the life of the container."""

    def __init__(self, directory: IdentityDirectory, wrapper: KeyWrapper) -> None:
        self._directory = directory
        self._wrapper = wrapper
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def key(self) -> bytes:
        """The 256-bit pepper. ``KeyUnavailable`` if none was created; ``DependencyUnavailable`` if KMS or the
        directory is down (nothing is cached then)."""
        cached = self._key
        if cached is not None:
            return cached
        with self._lock:
            if self._key is None:
                stored = self._directory.secret_pepper()
                if stored is None:
                    raise KeyUnavailable("the client-secret pepper has not been created")
                self._key = self._wrapper.unwrap(stored[0], PEPPER_CONTEXT)
            return self._key

    def ensure(self) -> bytes:
        """Create the pepper if there is none (idempotent, first writer wins), then return it.

        Called by whatever *creates* client secrets (the admin API, the seeder), which may generate data keys;
        the token function only ever reads it (``key``) and needs no ``GenerateDataKey`` permission.
        """
        if self._key is not None:
            return self._key
        if self._directory.secret_pepper() is None:
            data_key = self._wrapper.generate_data_key(PEPPER_CONTEXT)
            # Someone else may have created it first (Conflict): then use theirs.
            with contextlib.suppress(Conflict):
                self._directory.commit([PutSecretPepper(data_key.wrapped, data_key.master_key_id)])
        return self.key()
