"""In-memory ``CounterStore`` with the DynamoDB adapter's semantics: atomic add, first TTL kept, and a switch
that makes it fail with ``DependencyUnavailable``."""

from __future__ import annotations

import threading

from wiresocket.domain.errors import DependencyUnavailable


class MemoryCounterStore:
    """Thread-safe counters in a dict; ``fail = True`` makes every call raise ``DependencyUnavailable``."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.expires: dict[str, int] = {}
        self.fail = False
        self._mutex = threading.Lock()

    def _check(self) -> None:
        if self.fail:
            raise DependencyUnavailable("fake counter store down")

    def increment(self, key: str, window_start: int, ttl_at: int) -> int:
        self._check()
        with self._mutex:
            self.counts[key] = self.counts.get(key, 0) + 1
            self.expires.setdefault(key, ttl_at)  # like `SET ttl = if_not_exists(ttl, :ttl)`
            return self.counts[key]

    def peek(self, key: str, window_start: int) -> int:
        self._check()
        with self._mutex:
            return self.counts.get(key, 0)
