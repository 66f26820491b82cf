"""The admin service on moto (issue 4): races on the Free-plan slot and on secret regeneration, the exact audit
detail-types of every mutating operation, tenant scoping, audit cursors and master-key rotation."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.fakes.oauth_world import PLAN_LIMITS, OAuthWorld, build_admin, build_world, fast_keys_and_hashes
from tests.fakes.ratelimit import MemoryCounterStore
from tests.fakes.termination import RecordingTerminator
from tests.integration.conftest import REGION, Aws
from wiresocket.adapters.clock import SystemClock
from wiresocket.adapters.dynamo_directory import DynamoDirectory, DynamoLockStore
from wiresocket.adapters.kms import KmsKeyWrapper, KmsMasterKeyManager
from wiresocket.domain.audit import Actor, ActorType
from wiresocket.domain.credentials import verify_client_secret
from wiresocket.domain.errors import Conflict, InvalidInput, NotFound
from wiresocket.domain.plans import Plan, PlanStatus
from wiresocket.domain.time import iso_utc
from wiresocket.domain.users import UserRole
from wiresocket.ports import PutPlan
from wiresocket.services.admin import AdminService
from wiresocket.services.pepper import SecretPepper

PASSWORD = "a long enough passphrase 7"
UNKNOWN_KEY = "00000000-0000-4000-8000-000000000000"


@dataclass
class M:
    aws: Aws
    world: OAuthWorld
    store: DynamoDirectory
    admin: AdminService
    terminator: RecordingTerminator
    master_keys: KmsMasterKeyManager

    @property
    def tid(self) -> str:
        return self.world.demo_tenant

    @property
    def owner(self) -> Actor:
        return Actor(ActorType.USER, self.world.owner.user_id)

    @property
    def operator(self) -> Actor:
        return Actor(ActorType.OPERATOR, self.world.operator.user_id)

    def pepper(self) -> bytes:
        return SecretPepper(self.store, KmsKeyWrapper(self.aws.kms, self.aws.resources.master_key_alias)).key()

    def event_ids(self) -> set[str]:
        ids: set[str] = set()
        cursor: str | None = None
        while True:
            page = self.admin.list_audit(None, 100, cursor)
            ids |= {e.event_id for e in page.items}
            if page.next_cursor is None:
                return ids
            cursor = page.next_cursor

    def new_types(self, before: set[str]) -> list[str]:
        types: list[str] = []
        cursor: str | None = None
        while True:
            page = self.admin.list_audit(None, 100, cursor)
            types += [e.detail_type.value for e in page.items if e.event_id not in before]
            if page.next_cursor is None:
                return sorted(types)
            cursor = page.next_cursor


@pytest.fixture
def m(aws: Aws) -> Iterator[M]:
    store = DynamoDirectory()
    world = build_world(
        store,
        DynamoLockStore(),
        KmsKeyWrapper(aws.kms, aws.resources.master_key_alias),
        SystemClock(),
        MemoryCounterStore(),
        region=REGION,
    )
    store.commit([PutPlan(Plan("free", "Free", PlanStatus.ACTIVE, PLAN_LIMITS, True, 0))])
    master_keys = KmsMasterKeyManager(aws.kms, aws.resources.master_key_alias)
    admin, terminator = build_admin(world, store, DynamoLockStore(), master_keys, region=REGION)
    with fast_keys_and_hashes(pool_size=24):
        yield M(aws, world, store, admin, terminator, master_keys)


def race(n: int, action: Callable[[int], object]) -> list[object]:
    """Run ``action(i)`` for i in range(n) in threads released together; results or exceptions, in order."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = action(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


# --- concurrency ------------------------------------------------------------------------------------------


def test_two_parallel_free_plan_changes_on_two_apps_exactly_one_wins(m: M) -> None:
    # Given two apps of one tenant on a paid plan
    first = m.admin.create_app(m.tid, "A", "aws-eu-west-1", [], "standard", m.owner).app
    second = m.admin.create_app(m.tid, "B", "aws-eu-west-1", [], "standard", m.owner).app
    # When both are moved to Free at the same moment
    results = race(2, lambda i: m.admin.set_app_plan(m.tid, (first, second)[i].app_id, "free", m.owner))
    # Then exactly one succeeded, the other is Conflict, and the slot names the winner
    conflicts = [r for r in results if isinstance(r, Conflict)]
    winners = [(first, second)[i] for i, r in enumerate(results) if not isinstance(r, Exception)]
    assert len(conflicts) == 1 and len(winners) == 1, results
    assert m.store.free_plan_holder(m.tid) == winners[0].app_id
    plans = {m.admin.get_app(m.tid, a.app_id).plan_id for a in (first, second)}
    assert plans == {"free", "standard"}


def test_parallel_secret_regenerations_leave_exactly_one_valid_secret(m: M) -> None:
    # Given the demo app / When 8 regenerations race
    app_id = m.world.app.app_id
    results = race(8, lambda _: m.admin.regenerate_app_secret(m.tid, app_id, m.owner))
    # Then exactly one of the returned secrets verifies against the stored hash, and the old one does not
    secrets = [r.client_secret for r in results if not isinstance(r, Exception) and hasattr(r, "client_secret")]
    assert secrets, results
    stored = m.store.app(m.tid, app_id)
    assert stored is not None
    pepper = m.pepper()
    assert sum(verify_client_secret(s, stored.secret_hash, pepper) for s in secrets) == 1
    assert not verify_client_secret(m.world.app_secret, stored.secret_hash, pepper)
    assert stored.credential_generation == m.world.app.credential_generation + len(secrets)


# --- the audit trail of every mutating operation ----------------------------------------------------------


def test_each_mutating_operation_records_exactly_its_audit_detail_types(m: M) -> None:
    state: dict[str, str] = {}

    def signup() -> None:
        tenant, _ = m.admin.signup("Acme", "founder@acme.example", PASSWORD)
        state["tenant"] = tenant.tenant_id

    def invite() -> None:
        state["user"] = m.admin.invite_user(m.tid, "ops@demo.example", PASSWORD, UserRole.ADMIN, m.owner).user_id

    def create_app() -> None:
        state["app"] = m.admin.create_app(m.tid, "New", "aws-us-east-2", ["a.example"], "standard", m.owner).app.app_id

    table: list[tuple[str, Callable[[], object], list[str]]] = [
        ("signup", signup, ["TenantCreated", "UserCreated"]),
        (
            "approve",
            lambda: m.admin.approve_tenant(state["tenant"], m.operator),
            ["SigningKeyCreated", "SigningKeyCreated", "TenantStatusChanged"],
        ),
        ("suspend", lambda: m.admin.suspend_tenant(state["tenant"], m.operator, "unpaid"), ["TenantStatusChanged"]),
        ("reactivate", lambda: m.admin.reactivate_tenant(state["tenant"], m.operator), ["TenantStatusChanged"]),
        ("invite", invite, ["UserCreated"]),
        ("disable user", lambda: m.admin.set_user_status(m.tid, state["user"], False, m.owner), ["UserStatusChanged"]),
        ("enable user", lambda: m.admin.set_user_status(m.tid, state["user"], True, m.owner), ["UserStatusChanged"]),
        ("create app", create_app, ["AppCreated", "AppPlanChanged"]),
        ("regenerate", lambda: m.admin.regenerate_app_secret(m.tid, state["app"], m.owner), ["AppSecretRegenerated"]),
        (
            "domains",
            lambda: m.admin.set_app_domains(m.tid, state["app"], ["b.example"], m.owner),
            ["AppDomainsChanged"],
        ),
        ("plan", lambda: m.admin.set_app_plan(m.tid, state["app"], "free", m.owner), ["AppPlanChanged"]),
        ("disable app", lambda: m.admin.set_app_status(m.tid, state["app"], False, m.owner), ["AppStatusChanged"]),
        ("enable app", lambda: m.admin.set_app_status(m.tid, state["app"], True, m.owner), ["AppStatusChanged"]),
        ("delete app", lambda: m.admin.delete_app(m.tid, state["app"], m.owner), ["AppDeleted"]),
        (
            "rotate keys",
            lambda: m.admin.rotate_keys(m.tid, m.owner),
            ["SigningKeyCreated", "SigningKeyRotated"],
        ),
        (
            "revoke keys",
            lambda: m.admin.revoke_keys(m.tid, m.owner, "leaked"),
            ["SigningKeyCreated", "SigningKeyCreated", "SigningKeyRevoked"],
        ),
    ]
    for name, operation, expected in table:
        before = m.event_ids()
        operation()
        assert m.new_types(before) == sorted(expected), name
    # The master-key rotation: one MasterKeyRewrapped per stored data key (tenant keys and the pepper)
    before = m.event_ids()
    report = m.admin.rotate_master_key(m.operator, None)
    assert m.new_types(before) == ["MasterKeyRewrapped"] * report.total and report.total > 0


# --- tenant scoping and cursors ---------------------------------------------------------------------------


def test_every_tenant_method_is_not_found_for_another_tenants_ids(m: M) -> None:
    other, app_id, user_id = m.world.other_tenant, m.world.app.app_id, m.world.viewer.user_id
    calls: list[Callable[[], object]] = [
        lambda: m.admin.get_app(other, app_id),
        lambda: m.admin.regenerate_app_secret(other, app_id, m.owner),
        lambda: m.admin.set_app_domains(other, app_id, ["x.example"], m.owner),
        lambda: m.admin.set_app_plan(other, app_id, "free", m.owner),
        lambda: m.admin.set_app_status(other, app_id, False, m.owner),
        lambda: m.admin.delete_app(other, app_id, m.owner),
        lambda: m.admin.get_user(other, user_id),
        lambda: m.admin.set_user_status(other, user_id, False, m.owner),
    ]
    before = m.event_ids()
    for call in calls:
        with pytest.raises(NotFound):
            call()
    assert m.event_ids() == before and m.terminator.requests == []
    assert m.admin.get_app(m.tid, app_id).app_id == app_id  # the ids are real: in their own tenant
    # And listings of the other tenant show none of the demo tenant's items
    assert app_id not in {a.app_id for a in m.admin.list_apps(other, 100, None).items}
    assert user_id not in {u.user_id for u in m.admin.list_users(other, 100, None).items}
    assert {e.tenant_id for e in m.admin.list_audit(other, 100, None).items} == {other}


def _encode(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_audit_pages_newest_first_round_trip_and_forged_cursors_are_refused(m: M) -> None:
    # Given a handful of changes, each a little later than the last
    for i in range(4):
        m.admin.set_app_domains(m.tid, m.world.app.app_id, [f"d{i}.example"], m.owner)
    # When the trail is read two events at a time
    events, cursor, pages = [], None, 0
    while True:
        page = m.admin.list_audit(m.tid, 2, cursor)
        events += page.items
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    # Then it is newest first, complete, without repeats, and only this tenant's
    # (the trail's order is the stored sort key: millisecond time, then event id)
    keys = [(iso_utc(e.occurred_at), e.event_id) for e in events]
    assert keys == sorted(keys, reverse=True)
    assert len(set(keys)) == len(keys) and pages > 2
    assert [e.data["allowedDomains"] for e in events[:2]] == [["d3.example"], ["d2.example"]]
    assert {e.tenant_id for e in events} == {m.tid}
    # And a forged cursor is InvalidInput, never a 500, never another tenant's trail
    first = m.admin.list_audit(m.tid, 1, None).next_cursor
    assert first is not None
    real = json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
    for forged in (
        _encode({**real, "pk": f"AUDIT#{m.world.other_tenant}"}),
        _encode({**real, "pk": "AUDIT#platform"}),
        _encode({"pk": f"AUDIT#{m.tid}"}),
        _encode({**real, "sk": "x" * 600}),
        "%%%",
    ):
        with pytest.raises(InvalidInput):
            m.admin.list_audit(m.tid, 2, forged)
    platform = m.admin.list_audit(None, 3, None)
    assert platform.next_cursor is not None
    with pytest.raises(InvalidInput):  # a platform cursor is no tenant cursor
        m.admin.list_audit(m.tid, 2, platform.next_cursor)
    assert len(m.admin.list_audit(None, 3, platform.next_cursor).items) == 3


def test_tenants_apps_and_users_paginate_with_cursors(m: M) -> None:
    for i in range(3):
        m.admin.create_app(m.tid, f"App {i}", "aws-eu-west-1", [], "standard", m.owner)

    def walk(fetch: Callable[[str | None], tuple[list[str], str | None]]) -> list[str]:
        seen, cursor = [], None
        while True:
            ids, cursor = fetch(cursor)
            seen += ids
            if cursor is None:
                return seen

    def apps(c: str | None) -> tuple[list[str], str | None]:
        p = m.admin.list_apps(m.tid, 2, c)
        return [a.app_id for a in p.items], p.next_cursor

    def users(c: str | None) -> tuple[list[str], str | None]:
        p = m.admin.list_users(m.tid, 1, c)
        return [u.user_id for u in p.items], p.next_cursor

    def tenants(c: str | None) -> tuple[list[str], str | None]:
        p = m.admin.list_tenants(None, 2, c)
        return [t.tenant_id for t in p.items], p.next_cursor

    app_ids = walk(apps)
    assert len(app_ids) == len(set(app_ids)) == 6  # 3 seeded + 3 new
    assert sorted(walk(users)) == sorted([m.world.owner.user_id, m.world.viewer.user_id])
    assert len(walk(tenants)) == 5  # platform, demo, other, pending, suspended
    assert all(not a.secret_hash for a in m.admin.list_apps(m.tid, 100, None).items)


# --- master key -------------------------------------------------------------------------------------------


def test_master_key_rotation_rewraps_every_key_and_the_pepper_and_everything_still_works(m: M) -> None:
    # Given every data key under the original master key
    old = m.master_keys.current()
    status = m.admin.master_key_status()
    total = sum(status.keys_by_master_key.values())
    assert status.keys_by_master_key == {old: total} and status.current_master_key_id == old
    # When an unknown or malformed target is given / Then InvalidInput and the alias stays
    with pytest.raises(InvalidInput):
        m.admin.rotate_master_key(m.operator, "arn:aws:kms:eu-west-1:123456789012:key/" + UNKNOWN_KEY)
    with pytest.raises(InvalidInput):
        m.admin.rotate_master_key(m.operator, "alias/aws/ebs")
    assert m.master_keys.current() == old
    # When rotating to a new key
    report = m.admin.rotate_master_key(m.operator, None)
    # Then the alias names the new key and every tenant key and the pepper are wrapped under it
    new = m.master_keys.current()
    assert new != old and report.target_master_key_id == new
    assert (report.total, report.rewrapped, report.skipped) == (total, total, [])
    assert m.admin.master_key_status().keys_by_master_key == {new: total}
    pepper = m.store.secret_pepper()
    assert pepper is not None and pepper[1] == new
    # And old secrets still verify, tokens still sign, and new data keys are made under the new key
    app = m.store.app(m.tid, m.world.app.app_id)
    assert app is not None and verify_client_secret(m.world.app_secret, app.secret_hash, m.pepper())
    assert m.world.client_credentials().status == 200
    m.admin.rotate_keys(m.tid, m.owner)
    assert set(m.admin.master_key_status().keys_by_master_key) == {new}
    # And rotating back to the old key by id works too (the old key stays usable)
    back = m.admin.rotate_master_key(m.operator, old)
    assert back.rewrapped == back.total and m.master_keys.current() == old
    assert m.world.client_credentials().status == 200
