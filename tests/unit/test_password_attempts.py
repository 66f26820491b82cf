"""The password grant counts each ATTEMPT atomically before Argon2 (``password_attempts``), so concurrent
guesses for one username cannot slip past the read-only failure lock-out (docs/oauth.md)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fakes.oauth_world import OAuthWorld, Response, memory_world
from wiresocket.domain.credentials import verify_password_or_dummy
from wiresocket.domain.ratelimit import DEFAULT_POLICIES, PASSWORD_ATTEMPTS
from wiresocket.services import token as token_module

GUESSES = 30


def _world() -> OAuthWorld:
    """A world with the production ``password_attempts`` policy (the fixture worlds relax it)."""
    return memory_world(policies=DEFAULT_POLICIES)[0]


class GatedVerifier:
    """Counts password verifications; each waits at the gate until released, like a slow Argon2 would."""

    def __init__(self, real: Callable[[str, str | None], bool]) -> None:
        self.real = real
        self.calls = 0
        self.release = threading.Event()
        self._mutex = threading.Lock()

    def __call__(self, password: str, stored: str | None) -> bool:
        with self._mutex:
            self.calls += 1
        assert self.release.wait(timeout=10), "the gate was never opened"
        return self.real(password, stored)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> GatedVerifier:
    verifier = GatedVerifier(verify_password_or_dummy)
    monkeypatch.setattr(token_module, "verify_password_or_dummy", verifier)
    return verifier


def _until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_policy_bounds_guesses_above_the_failure_lockout() -> None:
    # Given the settings table / Then attempts are limited per 5 min, above the 10-failure lock-out
    attempts, failures = DEFAULT_POLICIES[PASSWORD_ATTEMPTS], DEFAULT_POLICIES["auth_failure"]
    assert attempts.window_seconds == failures.window_seconds
    assert failures.limit < attempts.limit <= 2 * failures.limit


def test_concurrent_wrong_passwords_run_argon2_at_most_limit_times(gate: GatedVerifier) -> None:
    # Given one username and 30 concurrent password grants with wrong passwords, all held inside the
    # verification until every request has either reached it or been refused
    world = _world()
    limit = DEFAULT_POLICIES[PASSWORD_ATTEMPTS].limit
    refused: list[Response] = []

    def guess(i: int) -> Response:
        response = world.password(world.owner.username, password=f"wrong guess {i}!")
        if response.status == 429:
            refused.append(response)
        return response

    # When they run at once
    with ThreadPoolExecutor(max_workers=GUESSES) as pool:
        futures = [pool.submit(guess, i) for i in range(GUESSES)]
        _until(lambda: gate.calls + len(refused) >= GUESSES)
        gate.release.set()
        responses = [f.result() for f in futures]

    # Then Argon2 ran at most `limit` times and the rest were refused with 429 + Retry-After
    assert gate.calls <= limit
    statuses = sorted(r.status for r in responses)
    assert statuses == [400] * gate.calls + [429] * (GUESSES - gate.calls)
    assert all(r.error == "temporarily_unavailable" for r in refused)
    assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
    # And another username is unaffected
    assert world.password(world.viewer.username).status == 200


def test_refused_attempt_gets_the_lockout_answer_and_never_verifies(gate: GatedVerifier) -> None:
    # Given a username that used up its attempts (correct passwords, no failures at all)
    world = _world()
    gate.release.set()
    limit = DEFAULT_POLICIES[PASSWORD_ATTEMPTS].limit
    for _ in range(limit):
        assert world.password(world.owner.username).status == 200
    calls = gate.calls

    # When it tries once more, with the right password
    refused = world.password(world.owner.username)

    # Then it is the lock-out's 429 with Retry-After, and no verification ran
    assert refused.status == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= DEFAULT_POLICIES[PASSWORD_ATTEMPTS].window_seconds
    assert gate.calls == calls


def test_correct_logins_below_the_limit_are_unaffected() -> None:
    # Given the failure lock-out's budget minus one of wrong passwords
    world = _world()
    for _ in range(DEFAULT_POLICIES["auth_failure"].limit - 1):
        assert world.password(world.owner.username, password="wrong password!").status == 400

    # When the user then logs in correctly, several times
    statuses = [world.password(world.owner.username).status for _ in range(5)]

    # Then every login succeeds
    assert statuses == [200] * 5
