"""Background prefetch of the token function's cold secrets: the client-secret pepper and a tenant's signing key
load on a thread while the request goes on, the foreground waits for that load instead of repeating it, and a
failed prefetch decides nothing (the foreground loads again and raises its own error)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping

import pytest

from tests.fakes.memory import FakeClock, FakeKeyWrapper, MemoryStore
from wiresocket.adapters.kms import KmsKeyWrapper
from wiresocket.domain.errors import DependencyUnavailable
from wiresocket.domain.keys import KeyState, SigningKey
from wiresocket.services.pepper import SecretPepper
from wiresocket.services.sealing import UnsealedKeyCache, generate_signing_key

TENANT = "9f0c6c5e-8c1f-4a57-9e5e-3f2a1b0c9d8e"


class GatedWrapper(FakeKeyWrapper):
    """A fake KMS whose ``unwrap`` blocks until the test opens the gate, counting the calls that started."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.started = threading.Event()
        self.unwraps = 0

    def unwrap(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        self.unwraps += 1
        self.started.set()
        assert self.gate.wait(10), "the test never opened the gate"
        return super().unwrap(wrapped, context)


def waiting_for(call: Callable[[], object]) -> tuple[threading.Thread, list[Exception]]:
    """``call`` on a request thread that is left waiting (0.2 s given to reach its wait); the dependency errors
    it raised are collected."""
    errors: list[Exception] = []

    def request() -> None:
        try:
            call()
        except DependencyUnavailable as exc:
            errors.append(exc)

    thread = threading.Thread(target=request)
    thread.start()
    thread.join(0.2)
    return thread, errors


def signing_key(wrapper: FakeKeyWrapper) -> SigningKey:
    return generate_signing_key(TENANT, "kid-1", KeyState.ACTIVE, 1_800_000_000, wrapper)


def gated_pepper() -> tuple[GatedWrapper, bytes, SecretPepper]:
    """A pepper created in a fresh directory, and a pepper service over it whose KMS unwraps wait for the gate
    (closed, no unwrap counted yet): the KMS, the pepper's value and the service."""
    store, wrapper = MemoryStore(), GatedWrapper()
    wrapper.gate.set()
    expected = SecretPepper(store, wrapper).ensure()
    wrapper.gate.clear()
    wrapper.unwraps = 0
    return wrapper, expected, SecretPepper(store, wrapper)


def test_a_prefetched_signing_key_is_unwrapped_once_and_the_foreground_waits_for_it() -> None:
    # Given a cache whose KMS holds every unwrap until released
    wrapper = GatedWrapper()
    wrapper.gate.set()
    key = signing_key(wrapper)  # generating seals: no unwrap
    wrapper.gate.clear()
    cache = UnsealedKeyCache(wrapper, FakeClock())
    # When the key is prefetched, and the foreground asks for it while the unwrap is still in flight
    cache.prefetch(key)
    assert wrapper.started.wait(5)
    result: list[object] = []
    foreground = threading.Thread(target=lambda: result.append(cache.private_key(key)))
    foreground.start()
    foreground.join(0.2)
    assert foreground.is_alive()  # it waits for the prefetch instead of unwrapping a second time
    wrapper.gate.set()
    foreground.join(5)
    # Then it got the key the prefetch loaded: one KMS call in all
    assert len(result) == 1 and wrapper.unwraps == 1
    assert cache.private_key(key) is result[0] and wrapper.unwraps == 1


def test_a_failed_prefetch_caches_nothing_and_the_foreground_raises_its_own_error() -> None:
    # Given KMS down while the key is prefetched
    wrapper = FakeKeyWrapper()
    key = signing_key(wrapper)
    cache = UnsealedKeyCache(wrapper, FakeClock())
    wrapper.fail = True
    calls_before = wrapper.calls
    cache.prefetch(key)
    # When the foreground asks for the key (after the prefetch finished)
    for _ in range(200):
        if not cache._loading:
            break
        threading.Event().wait(0.01)
    # Then it tries KMS itself and fails closed with the dependency error; nothing was cached
    with pytest.raises(DependencyUnavailable):
        cache.private_key(key)
    assert wrapper.calls == calls_before + 2 and len(cache) == 0
    # And once KMS is back, the key loads
    wrapper.fail = False
    assert cache.private_key(key) is not None and len(cache) == 1


def test_prefetching_a_cached_or_unsealed_key_starts_nothing() -> None:
    wrapper = FakeKeyWrapper()
    key = signing_key(wrapper)
    cache = UnsealedKeyCache(wrapper, FakeClock())
    cache.private_key(key)
    calls = wrapper.calls
    # When / Then: cached already, or holding no private material: no thread, no KMS call
    cache.prefetch(key)
    cache.prefetch(dataclasses.replace(key, sealed=None))
    assert wrapper.calls == calls and not cache._loading


def test_the_pepper_prefetch_loads_it_once_and_key_waits_for_that_load() -> None:
    # Given a pepper created in the directory, and a KMS that holds the unwrap
    wrapper, expected, pepper = gated_pepper()
    # When it is prefetched, prefetched again, and asked for while the unwrap is in flight
    pepper.prefetch()
    pepper.prefetch()
    assert wrapper.started.wait(5)
    result: list[bytes] = []
    foreground = threading.Thread(target=lambda: result.append(pepper.key()))
    foreground.start()
    foreground.join(0.2)
    assert foreground.is_alive()
    wrapper.gate.set()
    foreground.join(5)
    # Then one unwrap served both
    assert result == [expected] and wrapper.unwraps == 1


def test_a_failed_pepper_prefetch_leaves_key_to_fail_closed_and_retry() -> None:
    store, wrapper = MemoryStore(), FakeKeyWrapper()
    expected = SecretPepper(store, wrapper).ensure()
    pepper = SecretPepper(store, wrapper)
    wrapper.fail = True
    pepper._prefetch()  # the thread's body, run here: it swallows the error and caches nothing
    with pytest.raises(DependencyUnavailable):
        pepper.key()
    wrapper.fail = False
    assert pepper.key() == expected


def test_the_kms_wrapper_builds_its_client_from_a_factory_on_first_use_only() -> None:
    class Client:
        def decrypt(self, **kwargs: object) -> dict[str, bytes]:
            return {"Plaintext": b"k" * 32}

    built: list[Client] = []

    def factory() -> Client:
        built.append(Client())
        return built[-1]

    wrapper = KmsKeyWrapper(factory, "alias/m")  # type: ignore[arg-type]
    assert built == []  # nothing at construction
    assert wrapper.unwrap(b"blob", {"tenantId": "t", "kid": "k"}) == b"k" * 32
    wrapper.unwrap(b"blob", {"tenantId": "t", "kid": "k"})
    assert len(built) == 1


def test_a_request_waiting_for_a_failing_key_prefetch_gets_its_error_without_a_second_kms_round() -> None:
    # Given a key prefetch whose KMS unwrap is in flight and about to fail
    wrapper = GatedWrapper()
    wrapper.gate.set()
    key = signing_key(wrapper)
    wrapper.gate.clear()
    cache = UnsealedKeyCache(wrapper, FakeClock())
    wrapper.fail = True
    cache.prefetch(key)
    assert wrapper.started.wait(5)
    waiting, errors = waiting_for(lambda: cache.private_key(key))
    # When the unwrap fails
    wrapper.gate.set()
    waiting.join(5)
    # Then the waiting request failed closed with that error, after one KMS call in all; the next one retries
    assert len(errors) == 1 and wrapper.unwraps == 1 and len(cache) == 0
    wrapper.fail = False
    assert cache.private_key(key) is not None and wrapper.unwraps == 2


def test_a_request_waiting_for_a_failing_pepper_prefetch_gets_its_error_and_the_next_loads_again() -> None:
    wrapper, expected, pepper = gated_pepper()
    wrapper.fail = True
    pepper.prefetch()
    assert wrapper.started.wait(5)
    waiting, errors = waiting_for(pepper.key)
    wrapper.gate.set()
    waiting.join(5)
    assert len(errors) == 1 and wrapper.unwraps == 1
    wrapper.fail = False
    assert pepper.key() == expected and wrapper.unwraps == 2


def test_a_pepper_load_stuck_in_flight_is_a_503_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a prefetch stuck in its KMS call (a container frozen mid-call after an early answer, then thawed)
    from wiresocket.services import pepper as pepper_module

    monkeypatch.setattr(pepper_module, "PREFETCH_WAIT_SECONDS", 0.2)
    wrapper, _, pepper = gated_pepper()
    pepper.prefetch()
    assert wrapper.started.wait(5)
    # When a request needs the pepper / Then it fails closed as unavailable after the bounded wait
    with pytest.raises(DependencyUnavailable, match="still loading"):
        pepper.key()
    wrapper.gate.set()


def test_the_pepper_thread_runs_its_follow_up_after_the_load_ended_either_way_and_drops_its_error() -> None:
    store, wrapper = MemoryStore(), FakeKeyWrapper()
    expected = SecretPepper(store, wrapper).ensure()
    ran: list[tuple[str, bool]] = []
    done = threading.Event()

    def follow_up(pepper: SecretPepper) -> Callable[[], None]:
        def run() -> None:
            ran.append((threading.current_thread().name, pepper._key is not None))
            done.set()
            raise RuntimeError("dropped: the request does this work itself if it is missing")

        return run

    # Given a prefetch with a follow-up / When the pepper loads
    loaded = SecretPepper(store, wrapper)
    loaded.prefetch(then=follow_up(loaded))
    assert done.wait(5)
    # Then the follow-up ran on the prefetch thread, after the load, and its error went nowhere
    assert ran == [("pepper-prefetch", True)] and loaded.key() == expected
    # And when the load fails, the follow-up still runs, and the pepper still fails closed
    wrapper.fail = True
    failing = SecretPepper(store, wrapper)
    failing._prefetch(then=follow_up(failing))  # the thread's body, run here
    assert ran[-1] == (threading.current_thread().name, False)
    with pytest.raises(DependencyUnavailable):
        failing.key()
