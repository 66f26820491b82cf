"""Rate limiting and brute-force lock-out (SPEC §7) over atomic counters with TTL.

Fixed windows (see ``wiresocket.domain.ratelimit``): one counter per (policy, subject, window), keyed
``{policy}#{subject hash}#{window_start}`` and incremented atomically by the ``CounterStore``; it expires by
TTL after its window. Policies come from the one settings table (``DEFAULT_POLICIES``, or that table with
deployment overrides from ``with_overrides``).

Subjects (client IPs, client_ids, usernames) are hashed before they become keys, so the counters table holds
no IP address or username in the clear. Callers namespace their subjects (``client:<client_id>``,
``user:<tenant_id>:<username>``, ``ip:<address>``) so that two kinds of subject can never share a counter.
Because the key is derived from the subject, one subject's lock-out cannot lock out any other.

Failure policy: the limiter FAILS CLOSED. If the counter store is down it raises ``DependencyUnavailable``
(the token endpoint answers 503 ``temporarily_unavailable``, changing nothing). This is a security product:
an attacker who can overload the counters table must not thereby switch off brute-force protection. (The
public docs' fail-open behaviour is about the data plane's Redis limiter and is not copied here.)
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple, Protocol

from wiresocket.domain.ratelimit import AUTH_FAILURE, DEFAULT_POLICIES, Decision, RatePolicy, decide_hit, decide_next

if TYPE_CHECKING:
    from wiresocket.ports import Clock

SUBJECT_HASH_HEX_CHARS = 32  # 128 bits: collisions between subjects are out of reach


def _window(policy: RatePolicy, now: float) -> tuple[int, int]:
    """(``policy.window_start(now)``, ``policy.expires_at(now)``) with one floor instead of three."""
    start = policy.window_start(now)
    return start, start + 2 * policy.window_seconds


class CounterStore(Protocol):
    """Atomic counters with expiry. Raises ``DependencyUnavailable`` when the store cannot be reached."""

    def increment(self, key: str, window_start: int, ttl_at: int) -> int:
        """Atomically add 1 to the counter ``key`` (creating it at 0, to expire at ``ttl_at``); the new count."""
        ...

    def peek(self, key: str, window_start: int) -> int:
        """The current count of ``key`` (0 if absent), strongly consistent, without changing it."""
        ...


class CounterRead(NamedTuple):
    """The counter a read-only check looks at: its ``key`` and ``window_start`` under ``policy`` at ``now`` (the
    decision on its value is then the one ``RateLimiter.check`` makes: ``RateLimiter.decide_read``)."""

    policy: RatePolicy
    key: str
    window_start: int
    now: float


class RateLimiter:
    """Fixed-window rate limits and failed-authentication lock-out over a ``CounterStore``."""

    def __init__(
        self,
        store: CounterStore,
        clock: Clock,
        policies: Mapping[str, RatePolicy] = DEFAULT_POLICIES,
        *,
        subject_key: bytes = b"",
    ) -> None:
        """``policies``: the settings table (name → policy). ``subject_key``: when given, subjects are hashed
        with HMAC-SHA256 under it instead of plain SHA-256, so that even the small IPv4 space cannot be
        enumerated back from the counter keys."""
        self._store = store
        self._clock = clock
        self._policies = dict(policies)
        self._subject_key = subject_key
        self._digests = functools.lru_cache(maxsize=4096)(self._digest_uncached)

    def policy(self, name: str) -> RatePolicy:
        """The policy called ``name``. Raises ``ValueError`` for an unknown name (a programming error)."""
        try:
            return self._policies[name]
        except KeyError:
            raise ValueError(f"unknown rate policy {name!r}") from None

    def subject_digest(self, subject: str) -> str:
        """The hashed form of ``subject`` used in counter keys (truncated SHA-256 / HMAC-SHA256, hex).

        Memoised per limiter (bounded LRU): a token request hashes the same subjects for its IP limit and
        its lock-out check, and a warm container sees the same clients again and again.
        """
        return self._digests(subject)

    def _digest_uncached(self, subject: str) -> str:
        data = subject.encode("utf-8", "surrogatepass")
        if self._subject_key:
            digest = hmac.new(self._subject_key, data, hashlib.sha256).hexdigest()
        else:
            digest = hashlib.sha256(data).hexdigest()
        return digest[:SUBJECT_HASH_HEX_CHARS]

    def counter_key(self, policy: RatePolicy, subject: str, window_start: int) -> str:
        """``{policy}#{subject hash}#{window_start}``: the counter of one subject in one window."""
        return f"{policy.name}#{self.subject_digest(subject)}#{window_start}"

    def hit(self, policy_name: str, subject: str) -> Decision:
        """Count one event of ``subject`` under the policy and decide on it.

        Allowed while the window's count (this event included) is ≤ limit; beyond that denied, with
        ``retry_after`` = seconds to the window's end (≥ 1). Raises ``DependencyUnavailable`` if the store is
        down (fail closed).
        """
        policy = self._policies.get(policy_name) or self.policy(policy_name)
        now = self._clock.now()
        start, expires_at = _window(policy, now)
        key = f"{policy.name}#{self._digests(subject)}#{start}"
        return decide_hit(policy, self._store.increment(key, start, expires_at), now)

    def check(self, policy_name: str, subject: str) -> Decision:
        """Would one more event of ``subject`` be allowed now? Read-only: counts nothing.

        For lock-out checks *before* verifying a credential (so a locked subject costs no hash).
        """
        read = self.counter_read(policy_name, subject)
        return self.decide_read(read, self.peek(read))

    def counter_read(self, policy_name: str, subject: str) -> CounterRead:
        """The counter ``check`` would read for ``subject`` now: for a caller whose store reads it in one round
        trip with something else (the token function reads a client's lock-out counter with its registry entry)."""
        policy = self._policies.get(policy_name) or self.policy(policy_name)
        now = self._clock.now()
        start = policy.window_start(now)
        return CounterRead(policy, f"{policy.name}#{self._digests(subject)}#{start}", start, now)

    def peek(self, read: CounterRead) -> int:
        """The value of ``read``'s counter (0 if absent), strongly consistent."""
        return self._store.peek(read.key, read.window_start)

    @staticmethod
    def decide_read(read: CounterRead, count: int) -> Decision:
        """``check``'s decision, given ``count``, the value of ``read``'s counter."""
        return decide_next(read.policy, count, read.now)

    def record_failure(self, subject: str) -> Decision:
        """Record one failed authentication of ``subject`` (a client_id or username) on ``auth_failure``.

        Returns whether the subject may still try: ``allowed`` is False from the failure that reaches the
        limit on (it is now locked for the rest of the window, ``retry_after`` seconds). The first such
        answer is the moment to emit ``AuthenticationLockedOut``.
        """
        policy = self.policy(AUTH_FAILURE)
        now = self._clock.now()
        start = policy.window_start(now)
        count = self._store.increment(self.counter_key(policy, subject, start), start, policy.expires_at(now))
        return decide_next(policy, count, now)

    def is_locked(self, subject: str) -> Decision:
        """Whether ``subject`` is locked out on ``auth_failure``: ``allowed`` False means locked (refuse
        before checking the credential, 429 with ``Retry-After``). Read-only."""
        return self.check(AUTH_FAILURE, subject)
