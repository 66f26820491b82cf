"""Rate-limit policies and fixed-window arithmetic (SPEC §7). Pure: no I/O, no clock of its own.

Every policy lives in ONE table, ``DEFAULT_POLICIES``: the settings table of rate limits. Deployments
override entries (never add ad-hoc limits elsewhere) with ``with_overrides``, and the result is handed to
``wiresocket.services.ratelimit.RateLimiter``.

Fixed windows: a window of ``window_seconds`` starts at every multiple of ``window_seconds`` since the epoch,
so every instance of every function agrees on the window (and on the counter key) without coordination.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, NamedTuple

# Policy names: the identifiers callers pass to the limiter.
TOKEN_IP: Final = "token_ip"  # noqa: S105 - a policy name, not a secret
AUTH_FAILURE: Final = "auth_failure"
PASSWORD_ATTEMPTS: Final = "password_attempts"  # noqa: S105 - a policy name, not a secret
SIGNUP_IP: Final = "signup_ip"
ACCOUNT_MANAGEMENT: Final = "account_management"
JWKS_IP: Final = "jwks_ip"
WS_CONNECT_IP: Final = "ws_connect_ip"


@dataclass(frozen=True)
class RatePolicy:
    """At most ``limit`` events per subject in each fixed window of ``window_seconds``."""

    name: str
    limit: int
    window_seconds: int

    def __post_init__(self) -> None:
        if not self.name or "#" in self.name:
            raise ValueError("a rate policy name must be non-empty and must not contain '#'")
        if self.limit < 1:
            raise ValueError(f"rate policy {self.name!r}: limit must be at least 1")
        if self.window_seconds < 1:
            raise ValueError(f"rate policy {self.name!r}: window must be at least 1 second")

    def window_start(self, now: float) -> int:
        """Start (epoch seconds) of the window that contains ``now``."""
        second = math.floor(now)
        return second - second % self.window_seconds

    def window_end(self, now: float) -> int:
        """End (exclusive, epoch seconds) of the window that contains ``now``."""
        return self.window_start(now) + self.window_seconds

    def retry_after(self, now: float) -> int:
        """Whole seconds until the current window ends: at least 1, at most ``window_seconds``."""
        return max(1, min(self.window_seconds, math.ceil(self.window_end(now) - now)))

    def expires_at(self, now: float) -> int:
        """When a counter of the current window may be deleted (TTL): one full window after it ends, so a
        counter is never reaped while it still counts even if clocks drift a little."""
        return self.window_end(now) + self.window_seconds


DEFAULT_POLICIES: Final[Mapping[str, RatePolicy]] = MappingProxyType(
    {
        policy.name: policy
        for policy in (
            # Per client IP on POST /connect/token.
            RatePolicy(TOKEN_IP, limit=60, window_seconds=60),
            # Per client_id / username: failed authentications. Reaching the limit locks the subject out
            # for the rest of the window; other subjects are unaffected.
            RatePolicy(AUTH_FAILURE, limit=10, window_seconds=300),
            # Per username: password-grant ATTEMPTS, counted atomically before Argon2 runs. The failure count
            # above is only written after a ~0.16 s verification, so concurrent guesses would all pass its
            # read; this bounds guesses per username to 20 / 5 min however they are timed. 20 = the 10
            # failures that lock out + 10 successful logins of a legitimate user in one window (several
            # devices or tabs; the dashboard renews sessions with refresh tokens, not passwords).
            RatePolicy(PASSWORD_ATTEMPTS, limit=20, window_seconds=300),
            # Per client IP on /signup.
            RatePolicy(SIGNUP_IP, limit=12, window_seconds=60),
            # Per caller on the account-management (admin) API.
            RatePolicy(ACCOUNT_MANAGEMENT, limit=12, window_seconds=60),
            # Per client IP on JWKS/discovery: generous, Cache-Control does the real work.
            RatePolicy(JWKS_IP, limit=600, window_seconds=60),
            # Per client IP on WebSocket $connect.
            RatePolicy(WS_CONNECT_IP, limit=60, window_seconds=60),
        )
    }
)
"""The one settings table of rate limits, by policy name."""


def with_overrides(
    overrides: Mapping[str, RatePolicy], base: Mapping[str, RatePolicy] = DEFAULT_POLICIES
) -> Mapping[str, RatePolicy]:
    """``base`` with the entries of ``overrides`` replaced (read-only). Each override must be filed under its
    own name; unknown names are refused so a typo in settings cannot silently leave a default in force."""
    merged = dict(base)
    for name, policy in overrides.items():
        if name != policy.name:
            raise ValueError(f"rate policy filed as {name!r} is named {policy.name!r}")
        if name not in base:
            raise ValueError(f"unknown rate policy {name!r}")
        merged[name] = policy
    return MappingProxyType(merged)


class Decision(NamedTuple):
    """The limiter's answer. When ``allowed`` is False, answer 429 with ``Retry-After: retry_after``.

    ``remaining`` is how many more events the window admits (0 when exhausted); ``retry_after`` is 0 when
    allowed, else whole seconds (≥ 1) until the window ends.
    """

    allowed: bool
    remaining: int
    retry_after: int


def decide_hit(policy: RatePolicy, count: int, now: float) -> Decision:
    """The decision for an event that made the window's counter ``count`` (this event included)."""
    if count <= policy.limit:
        return _allowed(policy.limit - count)
    return Decision(allowed=False, remaining=0, retry_after=policy.retry_after(now))


def decide_next(policy: RatePolicy, count: int, now: float) -> Decision:
    """The decision for the *next* event, given ``count`` events already in the window (read-only check).

    Also the lock-out rule: after ``limit`` failures the subject is locked for the rest of the window.
    """
    if count < policy.limit:
        return _allowed(policy.limit - count)
    return Decision(allowed=False, remaining=0, retry_after=policy.retry_after(now))


@functools.lru_cache(maxsize=1024)
def _allowed(remaining: int) -> Decision:
    # Decisions are immutable values: the common "allowed" ones are shared instead of rebuilt per request.
    return Decision(allowed=True, remaining=remaining, retry_after=0)
