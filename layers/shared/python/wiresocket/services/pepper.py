"""The client-secret hashing key ("pepper"), envelope-encrypted like tenant keys (SPEC §2, §5).

Client secrets are stored as HMAC-SHA256 under this key (``domain.credentials``). The key itself is a KMS
data key: the directory holds only its wrapped form, so a copy of the directory alone cannot even test a
guessed secret. A warm container unwraps it once and keeps it; the token path makes no KMS call after that.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from wiresocket.domain.errors import Conflict, DependencyUnavailable, KeyUnavailable
from wiresocket.domain.keys import encryption_context
from wiresocket.names import PLATFORM_TENANT_ID

if TYPE_CHECKING:
    from wiresocket.ports import IdentityDirectory, KeyWrapper

# The same {tenantId, kid} context shape as every tenant key: the master key's policy admits no other shape,
# and the pepper belongs to the reserved platform tenant.
PEPPER_KID = "client-secret-pepper"
PEPPER_CONTEXT = encryption_context(PLATFORM_TENANT_ID, PEPPER_KID)


PREFETCH_WAIT_SECONDS = 3.0
"""How long ``key()`` waits for a load in flight: far longer than a healthy directory read and KMS unwrap. A load
stuck longer (a container frozen mid-call after an early answer, then thawed) is not waited for: the request
answers 503 rather than running into the function's time limit."""


class SecretPepper:
    """Loads (and, at bootstrap, creates) the pepper; caches it for the life of the container."""

    def __init__(self, directory: IdentityDirectory, wrapper: KeyWrapper) -> None:
        self._directory = directory
        self._wrapper = wrapper
        self._key: bytes | None = None
        self._lock = threading.Lock()
        self._prefetching = False
        self._prefetch_failure: tuple[Exception, float] | None = None

    def key(self) -> bytes:
        """The 256-bit pepper. ``KeyUnavailable`` if none was created; ``DependencyUnavailable`` if KMS or the
        directory is down, or a load in flight takes too long (nothing is cached then)."""
        cached = self._key
        if cached is not None:
            return cached
        if not self._lock.acquire(timeout=PREFETCH_WAIT_SECONDS):
            raise DependencyUnavailable("the client-secret pepper is still loading")
        try:
            if self._key is None:
                failure, self._prefetch_failure = self._prefetch_failure, None
                if failure is not None and time.monotonic() - failure[1] <= PREFETCH_WAIT_SECONDS:
                    # The prefetch this request was waiting for just failed: its error, not a second round of
                    # retries against the same outage. A later request loads again.
                    raise failure[0]
                stored = self._directory.secret_pepper()
                if stored is None:
                    raise KeyUnavailable("the client-secret pepper has not been created")
                self._key = self._wrapper.unwrap(stored[0], PEPPER_CONTEXT)
            return self._key
        finally:
            self._lock.release()

    def prefetch(self, then: Callable[[], None] | None = None) -> None:
        """Start loading the pepper on a background thread (once per container) so that its directory read and
        KMS unwrap overlap the caller's own reads: the token function's first request looks the client up
        meanwhile. ``key()`` waits for that load (it holds the lock). If it failed, nothing is cached: a request
        that was waiting raises that failure (fail closed), and later requests load again themselves.

        ``then`` runs on the same thread once the load has ended (loaded or not): more cold-start work that can
        overlap the request's remaining reads. Whatever it raises is dropped; it must be work the request would
        redo itself if it were missing (``wiring`` preloads the cryptography modules signing needs)."""
        if self._key is not None or self._prefetching:
            return
        self._prefetching = True
        threading.Thread(target=self._prefetch, args=(then,), name="pepper-prefetch", daemon=True).start()

    def _prefetch(self, then: Callable[[], None] | None = None) -> None:
        try:
            self.key()
        except Exception as exc:  # key() on the request's own thread reports it (fail closed)
            self._prefetch_failure = (exc, time.monotonic())
        if then is not None:
            with contextlib.suppress(Exception):  # the request does the same work itself if this failed
                then()

    def ensure(self) -> bytes:
        """Create the pepper if there is none (idempotent, first writer wins), then return it.

        Called by whatever *creates* client secrets (the admin API, the seeder), which may generate data keys;
        the token function only ever reads it (``key``) and needs no ``GenerateDataKey`` permission.
        """
        if self._key is not None:
            return self._key
        if self._directory.secret_pepper() is None:
            data_key = self._wrapper.generate_data_key(PEPPER_CONTEXT)
            from wiresocket.ports import PutSecretPepper  # bootstrap only: not on the token path

            # Someone else may have created it first (Conflict): then use theirs.
            with contextlib.suppress(Conflict):
                self._directory.commit([PutSecretPepper(data_key.wrapped, data_key.master_key_id)])
        return self.key()
