"""Rate limits and brute-force lock-out (SPEC §7) over the in-memory counter store."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes.memory import FakeClock
from tests.fakes.ratelimit import MemoryCounterStore
from wiresocket.domain.errors import DependencyUnavailable
from wiresocket.domain.ratelimit import (
    ACCOUNT_MANAGEMENT,
    AUTH_FAILURE,
    DEFAULT_POLICIES,
    JWKS_IP,
    PASSWORD_ATTEMPTS,
    SIGNUP_IP,
    TOKEN_IP,
    WS_CONNECT_IP,
    Decision,
    RatePolicy,
    with_overrides,
)
from wiresocket.services.ratelimit import CounterStore, RateLimiter

WINDOW_START = 1_800_000_000  # a multiple of 60 and of 300


def _limiter(
    start: float = WINDOW_START, policies: dict[str, RatePolicy] | None = None
) -> tuple[RateLimiter, MemoryCounterStore, FakeClock]:
    store, clock = MemoryCounterStore(), FakeClock(start)
    return RateLimiter(store, clock, policies if policies is not None else DEFAULT_POLICIES), store, clock


def test_memory_store_is_a_counter_store() -> None:
    store: CounterStore = MemoryCounterStore()
    assert store.increment("k", 0, 1) == 1


# --- the settings table -------------------------------------------------------------------------------------


def test_default_policy_table() -> None:
    # Then every SPEC §7 policy is in the one table, filed under its own name
    assert {name: (p.limit, p.window_seconds) for name, p in DEFAULT_POLICIES.items()} == {
        TOKEN_IP: (60, 60),
        AUTH_FAILURE: (10, 300),
        PASSWORD_ATTEMPTS: (20, 300),
        SIGNUP_IP: (12, 60),
        ACCOUNT_MANAGEMENT: (12, 60),
        JWKS_IP: (600, 60),
        WS_CONNECT_IP: (60, 60),
    }
    assert all(name == policy.name for name, policy in DEFAULT_POLICIES.items())


def test_default_policy_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        DEFAULT_POLICIES[TOKEN_IP] = RatePolicy(TOKEN_IP, 1, 1)  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "limit", "window"), [("", 1, 1), ("a#b", 1, 1), ("x", 0, 60), ("x", -1, 60), ("x", 5, 0)]
)
def test_invalid_policy_is_refused(name: str, limit: int, window: int) -> None:
    with pytest.raises(ValueError, match="rate policy"):
        RatePolicy(name, limit, window)


def test_overrides_refuse_typos_and_misfiled_policies() -> None:
    with pytest.raises(ValueError, match="unknown"):
        with_overrides({"token_ipp": RatePolicy("token_ipp", 5, 60)})
    with pytest.raises(ValueError, match="named"):
        with_overrides({TOKEN_IP: RatePolicy(SIGNUP_IP, 5, 60)})


def test_overrides_replace_only_their_entry() -> None:
    # Given settings that tighten the token endpoint
    policies = with_overrides({TOKEN_IP: RatePolicy(TOKEN_IP, 5, 10)})
    # Then that entry changes, the rest stay defaults, and the defaults table itself is untouched
    assert policies[TOKEN_IP] == RatePolicy(TOKEN_IP, 5, 10)
    assert policies[JWKS_IP] == DEFAULT_POLICIES[JWKS_IP]
    assert DEFAULT_POLICIES[TOKEN_IP].limit == 60


def test_unknown_policy_name_is_a_programming_error() -> None:
    limiter, _, _ = _limiter()
    with pytest.raises(ValueError, match="unknown rate policy"):
        limiter.hit("no_such_policy", "ip:1.2.3.4")


# --- window arithmetic ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "start", "retry_after"),
    [
        (WINDOW_START, WINDOW_START, 60),  # first instant of a window: a full window to wait
        (WINDOW_START + 0.5, WINDOW_START, 60),  # fractions round up
        (WINDOW_START + 30, WINDOW_START, 30),
        (WINDOW_START + 59.9, WINDOW_START, 1),  # never 0
        (WINDOW_START + 60, WINDOW_START + 60, 60),  # the next window
    ],
)
def test_window_math(now: float, start: int, retry_after: int) -> None:
    policy = RatePolicy("p", 3, 60)
    assert policy.window_start(now) == start
    assert policy.window_end(now) == start + 60
    assert policy.retry_after(now) == retry_after
    assert policy.expires_at(now) >= policy.window_end(now)


def test_counter_key_and_ttl() -> None:
    # Given a hit
    limiter, store, _ = _limiter(WINDOW_START + 10)
    limiter.hit(TOKEN_IP, "ip:203.0.113.7")
    # Then the counter is keyed policy#hash#window_start and expires after its window
    [(key, _)] = store.counts.items()
    policy, digest, start = key.split("#")
    assert (policy, start) == (TOKEN_IP, str(WINDOW_START))
    assert digest == limiter.subject_digest("ip:203.0.113.7")
    assert store.expires[key] >= WINDOW_START + 60


def test_subjects_are_not_stored_in_the_clear() -> None:
    # Given hits for an IP and failures for a username
    limiter, store, _ = _limiter()
    limiter.hit(TOKEN_IP, "ip:203.0.113.7")
    limiter.record_failure("user:tenant-1:alice@example.com")
    # Then no counter key contains them
    keys = " ".join(store.counts)
    assert "203.0.113.7" not in keys
    assert "alice" not in keys


def test_keyed_subject_hash_differs_from_plain() -> None:
    store, clock = MemoryCounterStore(), FakeClock()
    plain = RateLimiter(store, clock).subject_digest("ip:10.0.0.1")
    keyed = RateLimiter(store, clock, subject_key=b"k" * 32).subject_digest("ip:10.0.0.1")
    assert plain != keyed
    assert len(plain) == len(keyed) == 32


# --- hit: negative cases first --------------------------------------------------------------------------------


def test_over_the_limit_is_denied_with_retry_after() -> None:
    # Given an IP that used all 60 token requests of the current minute
    limiter, _, clock = _limiter(WINDOW_START + 15)
    for _ in range(60):
        assert limiter.hit(TOKEN_IP, "ip:1.2.3.4").allowed
    # When it sends the 61st
    decision = limiter.hit(TOKEN_IP, "ip:1.2.3.4")
    # Then it is denied until the window ends
    assert decision == Decision(allowed=False, remaining=0, retry_after=45)
    clock.advance(44.5)
    assert limiter.hit(TOKEN_IP, "ip:1.2.3.4").retry_after == 1


def test_denied_hits_stay_denied_for_the_window_then_reset() -> None:
    limiter, _, clock = _limiter()
    for _ in range(60):
        limiter.hit(TOKEN_IP, "ip:1.2.3.4")
    assert not limiter.hit(TOKEN_IP, "ip:1.2.3.4").allowed
    assert not limiter.check(TOKEN_IP, "ip:1.2.3.4").allowed
    # When the next window starts / Then the IP is allowed again, with a fresh budget
    clock.advance(60)
    assert limiter.hit(TOKEN_IP, "ip:1.2.3.4") == Decision(allowed=True, remaining=59, retry_after=0)


def test_store_down_fails_closed() -> None:
    # Given the counter store is unreachable
    limiter, store, _ = _limiter()
    store.fail = True
    # When a request is counted or checked / Then DependencyUnavailable (503), never an implicit "allowed"
    with pytest.raises(DependencyUnavailable):
        limiter.hit(TOKEN_IP, "ip:1.2.3.4")
    with pytest.raises(DependencyUnavailable):
        limiter.is_locked("client:abc")
    with pytest.raises(DependencyUnavailable):
        limiter.record_failure("client:abc")


def test_hits_count_down_remaining() -> None:
    limiter, _, _ = _limiter()
    assert [limiter.hit(SIGNUP_IP, "ip:9.9.9.9").remaining for _ in range(3)] == [11, 10, 9]


def test_check_counts_nothing() -> None:
    limiter, store, _ = _limiter()
    for _ in range(5):
        assert limiter.check(SIGNUP_IP, "ip:9.9.9.9") == Decision(allowed=True, remaining=12, retry_after=0)
    assert store.counts == {}


def test_policies_count_separately() -> None:
    # Given an IP that exhausted the signup policy
    limiter, _, _ = _limiter()
    for _ in range(13):
        limiter.hit(SIGNUP_IP, "ip:9.9.9.9")
    # Then the same IP still has its JWKS budget
    assert limiter.hit(JWKS_IP, "ip:9.9.9.9").allowed


# --- lock-out --------------------------------------------------------------------------------------------------


def test_locking_alice_never_locks_bob() -> None:
    # Given alice failed 10 times in 5 minutes
    limiter, _, _ = _limiter()
    decisions = [limiter.record_failure("user:t1:alice") for _ in range(10)]
    # Then the 10th failure locked her, for the rest of the window
    assert all(d.allowed for d in decisions[:9])
    assert decisions[9] == Decision(allowed=False, remaining=0, retry_after=300)
    assert not limiter.is_locked("user:t1:alice").allowed
    # And bob, another user (and alice in another tenant), are not locked
    assert limiter.is_locked("user:t1:bob") == Decision(allowed=True, remaining=10, retry_after=0)
    assert limiter.is_locked("user:t2:alice").allowed


def test_failures_below_the_limit_do_not_lock() -> None:
    limiter, _, _ = _limiter()
    for _ in range(9):
        limiter.record_failure("client:abc")
    assert limiter.is_locked("client:abc") == Decision(allowed=True, remaining=1, retry_after=0)


def test_lock_out_lasts_for_the_rest_of_the_window_only() -> None:
    # Given a client locked 100 s into a 300 s window
    limiter, _, clock = _limiter(WINDOW_START + 100)
    for _ in range(10):
        limiter.record_failure("client:abc")
    # Then it is told to come back when the window ends
    assert limiter.is_locked("client:abc").retry_after == 200
    clock.advance(199)
    assert not limiter.is_locked("client:abc").allowed
    # When the window has ended / Then the lock is gone
    clock.advance(1)
    assert limiter.is_locked("client:abc").allowed


def test_lock_out_policy_follows_overrides() -> None:
    limiter, _, _ = _limiter(policies=dict(with_overrides({AUTH_FAILURE: RatePolicy(AUTH_FAILURE, 3, 60)})))
    assert [limiter.record_failure("client:abc").allowed for _ in range(3)] == [True, True, False]


# --- property: never more than `limit` per window --------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=8),
    window=st.integers(min_value=1, max_value=120),
    start=st.floats(min_value=1_700_000_000, max_value=1_900_000_000, allow_nan=False),
    steps=st.lists(
        st.tuples(st.floats(min_value=0, max_value=30, allow_nan=False), st.sampled_from(["a", "b", "c"])),
        max_size=80,
    ),
)
def test_limiter_never_allows_more_than_limit_per_window(
    limit: int, window: int, start: float, steps: list[tuple[float, str]]
) -> None:
    # Given a policy and any sequence of (pause, subject) requests
    policy = RatePolicy("p", limit, window)
    limiter, _, clock = _limiter(start, {"p": policy})
    allowed: Counter[tuple[str, int]] = Counter()
    seen: Counter[tuple[str, int]] = Counter()
    for pause, subject in steps:
        clock.advance(pause)
        window_start = policy.window_start(clock.now())
        decision = limiter.hit("p", subject)
        seen[subject, window_start] += 1
        # Then a denial always says when to come back, within the window
        if decision.allowed:
            allowed[subject, window_start] += 1
            assert decision.retry_after == 0
        else:
            assert 1 <= decision.retry_after <= window
    # And each subject got exactly min(requests, limit) per window: never more, and no one else's budget
    for bucket, count in seen.items():
        assert allowed[bucket] == min(count, limit)
