"""Distributed lease locks (SPEC §7) on top of the ``LockStore`` port.

A holder gets a lease with an expiry and a fencing token; the changes it makes carry a ``CheckLease`` in the
same transaction, so a holder whose lease expired and was taken over cannot commit. A crashed holder's
lease simply expires.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from wiresocket.domain.errors import LockBusy
from wiresocket.ports import Clock, Lease, LockStore


class LockManager:
    """Acquire-with-wait and release-by-owner over a ``LockStore``."""

    def __init__(
        self,
        store: LockStore,
        clock: Clock,
        *,
        lease_seconds: float = 30.0,
        wait_seconds: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store = store
        self._clock = clock
        self._lease_seconds = lease_seconds
        self._wait_seconds = wait_seconds
        self._sleep = sleep

    @contextmanager
    def hold(self, name: str, *, lease_seconds: float | None = None) -> Iterator[Lease]:
        """Hold lock ``name`` for the block; waits up to ``wait_seconds`` (jittered backoff) for it.

        Raises ``LockBusy`` if it does not come free in time.
        """
        owner = uuid.uuid4().hex
        lease_for = lease_seconds or self._lease_seconds
        deadline = time.monotonic() + self._wait_seconds
        delay = 0.01
        while True:
            lease = self._store.try_acquire(name, owner, lease_for, self._clock.now())
            if lease is not None:
                break
            if time.monotonic() >= deadline:
                raise LockBusy(f"lock {name!r} is held by another operation; try again shortly")
            self._sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not security
            delay = min(delay * 2, 0.5)
        try:
            yield lease
        finally:
            self._store.release(lease)
