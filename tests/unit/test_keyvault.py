"""Key lifecycle against in-memory ports: states, grace, revocation, fencing, concurrency, re-wrap."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import jwt
import pytest

from tests.fakes.memory import FakeClock, FakeKeyWrapper, MemoryBus, MemoryStore
from wiresocket.domain.audit import SYSTEM_ACTOR, DetailType
from wiresocket.domain.errors import Conflict, IntegrityError, InvalidInput, LeaseLost, NotFound
from wiresocket.domain.keys import KeyState, SigningKey
from wiresocket.domain.tenants import Tenant, TenantStatus
from wiresocket.ports import CheckLease, PutTenant
from wiresocket.services.keyvault import KeyPolicy, KeyVault
from wiresocket.services.locks import LockManager
from wiresocket.services.outbox import OutboxPublisher
from wiresocket.services.sealing import UnsealedKeyCache, unseal

TENANT = "0b7c6c5e-8c1f-4a57-9e5e-3f2a1b0c9d8e"
OTHER = "5f0e7d2c-1a3b-4c5d-8e9f-0a1b2c3d4e5f"


@dataclass
class World:
    store: MemoryStore
    wrapper: FakeKeyWrapper
    clock: FakeClock
    vault: KeyVault

    def key_list(self, tenant_id: str = TENANT) -> list[SigningKey]:
        return self.store.tenant_with_keys(tenant_id)[1]

    def in_state(self, state: KeyState, tenant_id: str = TENANT) -> list[SigningKey]:
        return [k for k in self.key_list(tenant_id) if k.state is state]


def make_world(min_age: int = 0, grace: int = 3600, status: TenantStatus = TenantStatus.ACTIVE) -> World:
    store, wrapper, clock = MemoryStore(), FakeKeyWrapper(), FakeClock()
    vault = KeyVault(
        store,
        wrapper,
        LockManager(store, clock),
        clock,
        region="eu-west-1",
        policy=KeyPolicy(grace_seconds=grace, next_key_min_age_seconds=min_age),
    )
    for tid in (TENANT, OTHER):
        store.commit([PutTenant(Tenant(tid, "t", status, 0, 0))])
    return World(store, wrapper, clock, vault)


def test_first_keys_are_one_active_and_one_next_each_with_an_audit_event() -> None:
    # Given an active tenant without keys / When its first keys are created
    w = make_world()
    created = w.vault.create_initial_keys(TENANT, SYSTEM_ACTOR)
    # Then it has exactly one active and one next key, and two SigningKeyCreated events
    assert [k.state for k in created] == [KeyState.ACTIVE, KeyState.NEXT]
    assert len(w.in_state(KeyState.ACTIVE)) == 1 and len(w.in_state(KeyState.NEXT)) == 1
    events = [e for e in w.store.events.values() if e.detail_type is DetailType.SIGNING_KEY_CREATED]
    assert {e.data["kid"] for e in events} == {k.kid for k in created}
    # And a second call is refused without changing anything
    with pytest.raises(Conflict):
        w.vault.create_initial_keys(TENANT, SYSTEM_ACTOR)
    assert len(w.key_list()) == 2


def test_unknown_or_malformed_tenant_is_refused() -> None:
    w = make_world()
    with pytest.raises(InvalidInput):
        w.vault.rotate("../etc/passwd", SYSTEM_ACTOR)
    with pytest.raises(NotFound):
        w.vault.create_initial_keys("11111111-2222-4333-8444-555555555555", SYSTEM_ACTOR)


def test_rotation_refused_while_next_key_is_younger_than_a_jwks_cache_lifetime() -> None:
    # Given fresh keys and a 300 s minimum publication time
    w = make_world(min_age=300)
    w.vault.create_initial_keys(TENANT, SYSTEM_ACTOR)
    before = w.key_list()
    # When rotating at once / Then it is refused and nothing changes
    with pytest.raises(Conflict):
        w.vault.rotate(TENANT, SYSTEM_ACTOR)
    assert w.key_list() == before
    # When the next key has been published long enough / Then rotation works
    w.clock.advance(300)
    rotation = w.vault.rotate(TENANT, SYSTEM_ACTOR)
    assert w.in_state(KeyState.ACTIVE)[0].kid == rotation.active_kid


def test_rotation_moves_active_to_retiring_next_to_active_and_adds_a_next() -> None:
    w = make_world(grace=3600)
    first_active, first_next = w.vault.create_initial_keys(TENANT, SYSTEM_ACTOR)
    rotation = w.vault.rotate(TENANT, SYSTEM_ACTOR)
    assert rotation.retiring_kid == first_active.kid and rotation.active_kid == first_next.kid
    retiring = w.in_state(KeyState.RETIRING)
    assert [k.kid for k in retiring] == [first_active.kid]
    assert retiring[0].retire_after == int(w.clock.now()) + 3600
    assert retiring[0].sealed is not None  # still verifies, so still published
    assert w.in_state(KeyState.NEXT)[0].kid == rotation.next_kid


def test_rotation_of_a_suspended_tenant_is_refused() -> None:
    w = make_world(status=TenantStatus.SUSPENDED)
    with pytest.raises(Conflict):
        w.vault.rotate(TENANT, SYSTEM_ACTOR)


def test_retirement_happens_only_after_the_grace_period_and_drops_private_material() -> None:
    w = make_world(grace=3600)
    w.vault.create_initial_keys(TENANT, SYSTEM_ACTOR)
    rotation = w.vault.rotate(TENANT, SYSTEM_ACTOR)
    w.clock.advance(3599)
    assert w.vault.retire_expired(TENANT, SYSTEM_ACTOR) == []
    w.clock.advance(1)
    assert w.vault.retire_expired(TENANT, SYSTEM_ACTOR) == [rotation.retiring_kid]
    retired = w.in_state(KeyState.RETIRED)
    assert [k.kid for k in retired] == [rotation.retiring_kid] and retired[0].sealed is None


def test_emergency_revoke_revokes_every_live_key_and_installs_a_fresh_pair() -> None:
    # Given a tenant with an active, a next and a retiring key
    w = make_world()
    w.vault.create_initial_keys(TENANT, SYSTEM_ACTOR)
    w.vault.rotate(TENANT, SYSTEM_ACTOR)
    live_before = {k.kid for k in w.key_list()}
    # When its keys are revoked
    revocation = w.vault.revoke_all(TENANT, SYSTEM_ACTOR)
    # Then every previously live key is revoked with no private material left, and a fresh pair exists
    assert set(revocation.revoked_kids) == live_before
    for key in w.key_list():
        if key.kid in live_before:
            assert key.state is KeyState.REVOKED and key.sealed is None
    assert w.in_state(KeyState.ACTIVE)[0].kid == revocation.active_kid
    assert w.in_state(KeyState.NEXT)[0].kid == revocation.next_kid
    revoked_events = [e for e in w.store.events.values() if e.detail_type is DetailType.SIGNING_KEY_REVOKED]
    assert len(revoked_events) == 1 and set(revoked_events[0].data["revokedKids"]) == live_before
    # And the other tenant is untouched
    assert w.key_list(OTHER) == []


def test_revoking_a_pending_tenant_is_refused() -> None:
    w = make_world(status=TenantStatus.PENDING)
    with pytest.raises(Conflict):
        w.vault.revoke_all(TENANT, SYSTEM_ACTOR)


def test_a_key_cannot_be_unsealed_under_another_tenants_or_kids_context() -> None:
    # Given keys of two tenants
    w = make_world()
    mine = w.vault.create_initial_keys(TENANT, SYSTEM_ACTOR)[0]
    theirs = w.vault.create_initial_keys(OTHER, SYSTEM_ACTOR)[0]
    assert mine.sealed is not None and theirs.sealed is not None
    # When tenant A's sealed material is presented as tenant B's, or as another kid of A
    from dataclasses import replace

    as_other_tenant = replace(mine, tenant_id=OTHER)
    as_other_kid = replace(mine, kid=theirs.kid)
    swapped_ciphertext = replace(theirs, sealed=replace(theirs.sealed, wrapped_data_key=mine.sealed.wrapped_data_key))
    # Then unsealing fails for integrity every time
    for forged in (as_other_tenant, as_other_kid, swapped_ciphertext):
        with pytest.raises(IntegrityError):
            unseal(forged, w.wrapper)


def test_a_sealed_key_whose_public_half_does_not_match_the_published_one_is_refused() -> None:
    # Given a key whose stored public modulus was swapped for another key's (the JWKS would publish a key the
    # sealed private key does not belong to)
    w = make_world()
    mine, other = w.vault.create_initial_keys(TENANT, SYSTEM_ACTOR)[:2]
    from dataclasses import replace

    mismatched = replace(mine, public_n=other.public_n)
    # Then unsealing refuses it for integrity, while the genuine record unseals
    with pytest.raises(IntegrityError):
        unseal(mismatched, w.wrapper)
    assert unseal(mine, w.wrapper).key_size == 2048


def test_a_commit_whose_lease_was_taken_over_is_refused() -> None:
    # Given a lease that expired and was taken over by another owner
    w = make_world()
    first = w.store.try_acquire("keys#x", "a", 10, w.clock.now())
    assert first is not None
    w.clock.advance(11)
    second = w.store.try_acquire("keys#x", "b", 10, w.clock.now())
    assert second is not None and second.fence == first.fence + 1
    # When the first holder tries to commit / Then it is fenced off
    with pytest.raises(LeaseLost):
        w.store.commit([CheckLease(first)])
    # And only the current owner may release
    assert w.store.release(first) is False
    assert w.store.release(second) is True


def test_twenty_concurrent_rotations_leave_one_active_one_next_and_lose_no_key() -> None:
    # Given a tenant with its first keys
    w = make_world(grace=3600)
    w.vault.create_initial_keys(TENANT, SYSTEM_ACTOR)
    successes: list[str] = []
    failures: list[BaseException] = []
    guard = threading.Lock()

    def rotate() -> None:
        try:
            result = w.vault.rotate(TENANT, SYSTEM_ACTOR)
            with guard:
                successes.append(result.retiring_kid)
        except Conflict as exc:
            with guard:
                failures.append(exc)

    # When 24 rotations run at once
    threads = [threading.Thread(target=rotate) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then exactly one active and one next key remain, every success retired a distinct key, none lost
    keys = w.key_list()
    assert len(w.in_state(KeyState.ACTIVE)) == 1 and len(w.in_state(KeyState.NEXT)) == 1
    assert len(successes) + len(failures) == 24 and len(successes) >= 1
    assert sorted(k.kid for k in w.in_state(KeyState.RETIRING)) == sorted(successes)
    assert len(keys) == 2 + len(successes)
    rotated = [e for e in w.store.events.values() if e.detail_type is DetailType.SIGNING_KEY_ROTATED]
    assert len(rotated) == len(successes)


def test_rewrap_interrupted_after_k_keys_is_finished_by_a_second_run() -> None:
    # Given 3 tenants' keys under master key "one"
    w = make_world()
    tenants = [TENANT, OTHER, "a0a0a0a0-b1b1-4c2c-8d3d-e4e4e4e4e4e4"]
    w.store.commit([PutTenant(Tenant(tenants[2], "t", TenantStatus.ACTIVE, 0, 0))])
    for tid in tenants:
        w.vault.create_initial_keys(tid, SYSTEM_ACTOR)
    total = sum(len(w.key_list(t)) for t in tenants)

    class Crash(Exception):
        pass

    calls = {"n": 0}
    original = w.wrapper.rewrap

    def crashing_rewrap(*args: object, **kwargs: object) -> tuple[bytes, str]:
        calls["n"] += 1
        if calls["n"] > 2:
            raise Crash("power cut")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    w.wrapper.rewrap = crashing_rewrap  # type: ignore[method-assign]
    # When the re-wrap crashes after 2 keys
    with pytest.raises(Crash):
        w.vault.rewrap_all("arn:fake:kms:key/two", SYSTEM_ACTOR)
    tags = [k.sealed.master_key_id for t in tenants for k in w.key_list(t) if k.sealed]
    assert tags.count("arn:fake:kms:key/two") == 2
    # And a second run (the lock was freed by the crashed run's exit) finishes the job
    w.wrapper.rewrap = original  # type: ignore[method-assign]
    report = w.vault.rewrap_all("arn:fake:kms:key/two", SYSTEM_ACTOR)
    # Then every key is under the new master key, and still unseals and signs
    assert report.rewrapped == total - 2 and report.already_current == 2
    for tid in tenants:
        for key in w.key_list(tid):
            assert key.sealed is not None and key.sealed.master_key_id == "arn:fake:kms:key/two"
            token = jwt.encode({"sub": "x"}, unseal(key, w.wrapper), algorithm="RS256")
            assert jwt.decode(token, unseal(key, w.wrapper).public_key(), algorithms=["RS256"]) == {"sub": "x"}


def test_rewrap_after_a_hard_crash_waits_for_the_lease_to_expire_then_takes_over() -> None:
    # Given a re-wrap lease left behind by a process that died (never released)
    w = make_world()
    w.vault.create_initial_keys(TENANT, SYSTEM_ACTOR)
    stale = w.store.try_acquire("master-key", "dead-process", 900, w.clock.now())
    assert stale is not None
    # When the lease has expired / Then a new run takes it over and completes
    w.clock.advance(901)
    report = w.vault.rewrap_all("arn:fake:kms:key/two", SYSTEM_ACTOR)
    assert report.rewrapped == 2


def test_warm_cache_makes_no_kms_call_and_expires() -> None:
    w = make_world()
    active = w.vault.create_initial_keys(TENANT, SYSTEM_ACTOR)[0]
    cache = UnsealedKeyCache(w.wrapper, w.clock, ttl_seconds=300)
    cache.private_key(active)
    calls = w.wrapper.calls
    for _ in range(50):
        cache.private_key(active)
    assert w.wrapper.calls == calls  # warm: zero KMS calls
    w.clock.advance(301)
    cache.private_key(active)
    assert w.wrapper.calls == calls + 1  # bounded lifetime: unwrapped again


def test_events_recorded_while_the_bus_is_down_are_delivered_later_exactly_once() -> None:
    # Given the bus is down when keys are created and rotated
    w = make_world()
    bus = MemoryBus()
    bus.down = True
    publisher = OutboxPublisher(w.store, bus, w.clock)
    w.vault.create_initial_keys(TENANT, SYSTEM_ACTOR)
    w.vault.rotate(TENANT, SYSTEM_ACTOR)
    assert publisher.publish_pending().failed > 0 and bus.received == []
    recorded = set(w.store.events)
    # When the bus is back and the publisher runs (twice)
    bus.down = False
    publisher.publish_pending()
    publisher.publish_pending()
    # Then each recorded event was delivered exactly once, none lost
    delivered = [e.event_id for e in bus.received]
    assert sorted(delivered) == sorted(recorded) and len(delivered) == len(set(delivered)) == 4


def test_a_rewrap_run_publishes_its_events_once_not_once_per_key() -> None:
    # Given a vault that publishes after its commits, and 3 tenants' keys under master key "one"
    w = make_world()
    publishes: list[int] = []
    vault = KeyVault(
        w.store,
        w.wrapper,
        LockManager(w.store, w.clock),
        w.clock,
        region="eu-west-1",
        policy=KeyPolicy(next_key_min_age_seconds=0),
        on_commit=lambda: publishes.append(len(w.store.events)),
    )
    for tid in (TENANT, OTHER):
        vault.create_initial_keys(tid, SYSTEM_ACTOR)
    publishes.clear()
    # When every key is re-wrapped under "two"
    report = vault.rewrap_all("arn:fake:kms:key/two", SYSTEM_ACTOR)
    # Then one publish ran, after the last key's MasterKeyRewrapped event was committed
    rewrapped = [e for e in w.store.events.values() if e.detail_type is DetailType.MASTER_KEY_REWRAPPED]
    assert report.rewrapped == 4 == len(rewrapped)
    assert publishes == [len(w.store.events)]


def test_a_rewrap_run_that_fails_still_publishes_what_it_committed() -> None:
    w = make_world()
    publishes: list[int] = []
    locks = LockManager(w.store, w.clock)
    vault = KeyVault(w.store, w.wrapper, locks, w.clock, region="eu-west-1", on_commit=lambda: publishes.append(1))
    vault.create_initial_keys(TENANT, SYSTEM_ACTOR)
    publishes.clear()
    w.wrapper.fail = True  # KMS down mid-run
    with pytest.raises(Exception):  # noqa: B017 - whatever the dependency error, the publish still runs
        vault.rewrap_all("arn:fake:kms:key/two", SYSTEM_ACTOR)
    assert publishes == [1]
