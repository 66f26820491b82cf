"""The admin service (issue 4) over the in-memory ports: lifecycle rules, tenant scoping, Free-plan slot,
cursors, master-key rotation, termination requests and the scheduled key maintenance."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from tests.fakes.memory import FakeClock, FakeKeyWrapper, FakeMasterKeyManager, MemoryStore
from tests.fakes.oauth_world import PASSWORD, PLAN_LIMITS, OAuthWorld, build_admin, fast_keys_and_hashes, memory_world
from tests.fakes.termination import RecordingTerminator
from wiresocket.domain.apps import AppStatus
from wiresocket.domain.audit import Actor, ActorType
from wiresocket.domain.credentials import verify_client_secret, verify_password
from wiresocket.domain.errors import Conflict, InvalidInput, LockBusy, NotFound
from wiresocket.domain.keys import KeyState
from wiresocket.domain.plans import Plan, PlanStatus
from wiresocket.domain.tenants import TenantStatus
from wiresocket.domain.users import UserRole, UserStatus
from wiresocket.names import PLATFORM_TENANT_ID
from wiresocket.ports import PutPlan
from wiresocket.services.admin import AdminService, decode_cursor, encode_cursor
from wiresocket.services.admin_contract import AdminOperations, TerminationScope
from wiresocket.services.key_maintenance import KeyMaintenance
from wiresocket.services.keyvault import KeyPolicy, KeyVault, tenant_keys_lock
from wiresocket.services.locks import LockManager
from wiresocket.services.pepper import SecretPepper

UNKNOWN_TENANT = "11111111-2222-4333-8444-555555555555"
NEW_PASSWORD = "another long passphrase 42"
OFFLINE = "WireSocket.API offline_access"


@dataclass
class W:
    world: OAuthWorld
    store: MemoryStore
    wrapper: FakeKeyWrapper
    clock: FakeClock
    admin: AdminService
    terminator: RecordingTerminator
    master_keys: FakeMasterKeyManager

    @property
    def tid(self) -> str:
        return self.world.demo_tenant

    @property
    def owner(self) -> Actor:
        return Actor(ActorType.USER, self.world.owner.user_id)

    @property
    def operator(self) -> Actor:
        return Actor(ActorType.OPERATOR, self.world.operator.user_id)

    def event_ids(self) -> set[str]:
        return set(self.store.events)

    def new_types(self, before: set[str]) -> list[str]:
        return sorted(e.detail_type.value for i, e in self.store.events.items() if i not in before)

    def pepper(self) -> bytes:
        return SecretPepper(self.store, self.wrapper).key()

    def stored_secret_hash(self, app_id: str, tenant_id: str | None = None) -> str:
        app = self.store.app(tenant_id or self.tid, app_id)
        assert app is not None
        return app.secret_hash


@pytest.fixture
def w() -> Iterator[W]:
    world, store, wrapper, clock, _ = memory_world()
    master_keys = FakeMasterKeyManager(wrapper)
    admin, terminator = build_admin(world, store, store, master_keys)
    store.commit([PutPlan(Plan("free", "Free", PlanStatus.ACTIVE, PLAN_LIMITS, True, 0))])
    store.commit([PutPlan(Plan("old", "Old", PlanStatus.RETIRED, PLAN_LIMITS, False, 0))])
    with fast_keys_and_hashes(pool_size=24):
        yield W(world, store, wrapper, clock, admin, terminator, master_keys)


def test_admin_service_implements_the_contract(w: W) -> None:
    operations: AdminOperations = w.admin  # mypy checks the structural match
    assert operations is w.admin


# --- signup and the tenant lifecycle ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "username", "password"),
    [
        ("", "new@acme.example", NEW_PASSWORD),
        ("Acme\x00", "new@acme.example", NEW_PASSWORD),
        ("x" * 129, "new@acme.example", NEW_PASSWORD),
        ("Acme", "no", NEW_PASSWORD),
        ("Acme", "bad user name", NEW_PASSWORD),
        ("Acme", "new@acme.example", "short"),
    ],
)
def test_signup_with_invalid_input_changes_nothing(w: W, name: str, username: str, password: str) -> None:
    # Given the world / When signing up with one bad field
    commits = w.store.commits
    with pytest.raises(InvalidInput):
        w.admin.signup(name, username, password)
    # Then nothing was written
    assert w.store.commits == commits


def test_signup_with_a_taken_username_is_conflict_even_in_another_case(w: W) -> None:
    tenants = dict(w.store.tenants)
    with pytest.raises(Conflict):
        w.admin.signup("Acme", w.world.owner.username.upper(), NEW_PASSWORD)
    assert w.store.tenants == tenants


def test_signup_creates_a_pending_tenant_and_its_owner_in_one_commit(w: W) -> None:
    # Given / When
    before, commits = w.event_ids(), w.store.commits
    tenant, owner = w.admin.signup("  Acme  ", "Founder@Acme.example", NEW_PASSWORD)
    # Then one commit made a pending tenant and an active owner, with both events
    assert w.store.commits == commits + 1
    assert (tenant.name, tenant.status) == ("Acme", TenantStatus.PENDING)
    assert (owner.role, owner.status, owner.username) == (UserRole.OWNER, UserStatus.ACTIVE, "founder@acme.example")
    assert owner.password_hash == ""  # never handed out
    stored = w.store.user(tenant.tenant_id, owner.user_id)
    assert stored is not None and verify_password(NEW_PASSWORD, stored.password_hash)
    assert w.new_types(before) == ["TenantCreated", "UserCreated"]
    assert w.store.tenant_with_keys(tenant.tenant_id)[1] == []  # keys only on approval
    # And the owner cannot sign in before approval
    assert w.world.password("founder@acme.example", NEW_PASSWORD).error == "invalid_grant"


def test_approve_suspend_reactivate_walk_the_lifecycle(w: W) -> None:
    tenant, _ = w.admin.signup("Acme", "founder@acme.example", NEW_PASSWORD)
    tid = tenant.tenant_id
    # Negative first: unknown, malformed, wrong state
    with pytest.raises(NotFound):
        w.admin.approve_tenant(UNKNOWN_TENANT, w.operator)
    with pytest.raises(InvalidInput):
        w.admin.approve_tenant("not-a-tenant", w.operator)
    with pytest.raises(Conflict):
        w.admin.suspend_tenant(tid, w.operator, "")
    with pytest.raises(Conflict):
        w.admin.reactivate_tenant(tid, w.operator)
    # Approve → active with one active + one next key
    assert w.admin.approve_tenant(tid, w.operator).status is TenantStatus.ACTIVE
    states = sorted(k.state.value for k in w.admin.list_keys(tid))
    assert states == ["active", "next"]
    with pytest.raises(Conflict):
        w.admin.approve_tenant(tid, w.operator)
    assert w.world.password("founder@acme.example", NEW_PASSWORD).status == 200
    # Suspend → the owner's next sign-in fails; termination requested for the whole tenant
    with pytest.raises(InvalidInput):
        w.admin.suspend_tenant(tid, w.operator, "x" * 300)
    assert w.admin.suspend_tenant(tid, w.operator, "unpaid").status is TenantStatus.SUSPENDED
    assert w.terminator.requests[-1][0] == TerminationScope(tid)
    assert w.world.password("founder@acme.example", NEW_PASSWORD).error == "invalid_grant"
    # Reactivate
    assert w.admin.reactivate_tenant(tid, w.operator).status is TenantStatus.ACTIVE
    assert w.world.password("founder@acme.example", NEW_PASSWORD).status == 200


def test_the_platform_tenant_cannot_be_suspended(w: W) -> None:
    with pytest.raises(Conflict):
        w.admin.suspend_tenant(PLATFORM_TENANT_ID, w.operator, "oops")
    assert w.admin.get_tenant(PLATFORM_TENANT_ID).status is TenantStatus.ACTIVE


def test_termination_happens_after_commit_and_its_failure_never_fails_the_change(w: W) -> None:
    # Given a terminator that looks at the state when called, then fails
    seen: list[TenantStatus] = []

    class Exploding:
        def terminate(self, scope: TerminationScope, reason: str, actor: Actor) -> int:
            tenant = w.store.get_tenant(scope.tenant_id)
            assert tenant is not None
            seen.append(tenant.status)
            raise RuntimeError("data plane down")

    admin = AdminService(
        w.store,
        w.world.tenants,
        w.world.entries,
        w.world.vault,
        w.master_keys,
        Exploding(),
        LockManager(w.store, w.clock),
        w.clock,
        region="eu-west-1",
    )
    # When suspending / Then the change is committed before termination is asked for, and stays committed
    assert admin.suspend_tenant(w.tid, w.operator, "").status is TenantStatus.SUSPENDED
    assert seen == [TenantStatus.SUSPENDED]
    assert w.admin.get_tenant(w.tid).status is TenantStatus.SUSPENDED


def test_list_and_get_tenants_with_status_filter_and_pagination(w: W) -> None:
    with pytest.raises(NotFound):
        w.admin.get_tenant(UNKNOWN_TENANT)
    for bad in (0, 101, True):
        with pytest.raises(InvalidInput):
            w.admin.list_tenants(None, bad, None)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = w.admin.list_tenants(None, 2, cursor)
        seen += [t.tenant_id for t in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(w.store.tenants)
    pending = w.admin.list_tenants(TenantStatus.PENDING, 100, None)
    assert [t.tenant_id for t in pending.items] == [w.world.pending_tenant] and pending.next_cursor is None


# --- plans ----------------------------------------------------------------------------------------------------


def test_plans_are_created_by_name_and_listed(w: W) -> None:
    with pytest.raises(InvalidInput):
        w.admin.create_plan("", False, PLAN_LIMITS, w.operator)
    with pytest.raises(InvalidInput):
        w.admin.create_plan("!!!", False, PLAN_LIMITS, w.operator)
    with pytest.raises(Conflict):
        w.admin.create_plan("Standard", False, PLAN_LIMITS, w.operator)
    plan = w.admin.create_plan("Pro Team", True, PLAN_LIMITS, w.operator)
    assert (plan.plan_id, plan.name, plan.free, plan.status) == ("pro-team", "Pro Team", True, PlanStatus.ACTIVE)
    assert [p.plan_id for p in w.admin.list_plans(False)] == ["free", "pro-team", "standard"]
    assert [p.plan_id for p in w.admin.list_plans(True)] == ["free", "old", "pro-team", "standard"]


# --- users ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [UserRole.OWNER, UserRole.OPERATOR])
def test_invite_refuses_owner_and_operator_roles(w: W, role: UserRole) -> None:
    with pytest.raises(InvalidInput):
        w.admin.invite_user(w.tid, "new@demo.example", NEW_PASSWORD, role, w.owner)


def test_invite_refuses_taken_usernames_unknown_tenants_and_weak_passwords(w: W) -> None:
    with pytest.raises(Conflict):
        w.admin.invite_user(w.tid, w.world.operator.username, NEW_PASSWORD, UserRole.ADMIN, w.owner)
    with pytest.raises(NotFound):
        w.admin.invite_user(UNKNOWN_TENANT, "new@demo.example", NEW_PASSWORD, UserRole.ADMIN, w.owner)
    with pytest.raises(InvalidInput):
        w.admin.invite_user(w.tid, "new@demo.example", "short", UserRole.ADMIN, w.owner)
    assert w.store.user_by_username("new@demo.example") is None


def test_invited_user_signs_in_and_disabling_stops_them_at_once(w: W) -> None:
    # Given an invited admin
    before = w.event_ids()
    admin_user = w.admin.invite_user(w.tid, "Admin@Demo.example", NEW_PASSWORD, UserRole.ADMIN, w.owner)
    assert w.new_types(before) == ["UserCreated"] and admin_user.password_hash == ""
    assert w.world.password("admin@demo.example", NEW_PASSWORD).status == 200
    assert [u.password_hash for u in w.admin.list_users(w.tid, 100, None).items] == [""] * 3
    # When disabled / Then the next sign-in fails, one event, termination asked for with the user scope
    before = w.event_ids()
    disabled = w.admin.set_user_status(w.tid, admin_user.user_id, False, w.owner)
    assert disabled.status is UserStatus.DISABLED
    assert w.new_types(before) == ["UserStatusChanged"]
    assert w.terminator.requests[-1][0] == TerminationScope(w.tid, user_id=admin_user.user_id)
    assert w.world.password("admin@demo.example", NEW_PASSWORD).error == "invalid_grant"
    # And disabling again changes nothing more
    before = w.event_ids()
    w.admin.set_user_status(w.tid, admin_user.user_id, False, w.owner)
    assert w.new_types(before) == []
    # And enabling brings them back
    assert w.admin.set_user_status(w.tid, admin_user.user_id, True, w.owner).status is UserStatus.ACTIVE
    assert w.world.password("admin@demo.example", NEW_PASSWORD).status == 200


def test_the_owner_can_never_be_disabled_and_the_role_is_visible_to_the_edge(w: W) -> None:
    assert w.admin.get_user(w.tid, w.world.owner.user_id).role is UserRole.OWNER
    with pytest.raises(Conflict):
        w.admin.set_user_status(w.tid, w.world.owner.user_id, False, w.owner)
    assert w.world.password(w.world.owner.username, PASSWORD).status == 200


# --- apps -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "domains", "plan"),
    [
        ("eu-west-1", [], "standard"),
        ("aws-eu-west-1", ["a.example", "b.example", "c.example", "d.example"], "standard"),
        ("aws-eu-west-1", ["*.example.com"], "standard"),
        ("aws-eu-west-1", ["https://example.com/path"], "standard"),
        ("aws-eu-west-1", "example.com", "standard"),
        ("aws-eu-west-1", [], "nope"),
        ("aws-eu-west-1", [], "old"),
        ("aws-eu-west-1", [], "Not A Plan Id"),
    ],
)
def test_create_app_refuses_invalid_input_and_changes_nothing(w: W, region: str, domains: list[str], plan: str) -> None:
    apps = dict(w.store.apps)
    with pytest.raises(InvalidInput):
        w.admin.create_app(w.tid, "New App", region, domains, plan, w.owner)
    assert w.store.apps == apps


def test_create_app_refuses_duplicate_names_and_the_platform_tenant(w: W) -> None:
    with pytest.raises(Conflict):
        w.admin.create_app(w.tid, "demo app", "aws-eu-west-1", [], "standard", w.owner)
    with pytest.raises(InvalidInput):
        w.admin.create_app(PLATFORM_TENANT_ID, "Ops", "aws-eu-west-1", [], "standard", w.operator)
    with pytest.raises(NotFound):
        w.admin.create_app(UNKNOWN_TENANT, "Ops", "aws-eu-west-1", [], "standard", w.owner)


def test_created_app_gets_tokens_with_its_one_time_secret_stored_only_as_keyed_hash(w: W) -> None:
    before = w.event_ids()
    created = w.admin.create_app(
        w.tid, "Editor", "aws-us-west-2", ["HTTPS://Editor.Example.com/", "localhost:3000"], "standard", w.owner
    )
    app = created.app
    assert w.new_types(before) == ["AppCreated", "AppPlanChanged"]
    assert app.allowed_domains == ("editor.example.com", "localhost:3000")
    assert (app.license_region, app.plan_id, app.status) == ("aws-us-west-2", "standard", AppStatus.ENABLED)
    assert app.secret_hash == ""  # the hash stays inside
    stored = w.stored_secret_hash(app.app_id)
    assert created.client_secret not in stored
    assert verify_client_secret(created.client_secret, stored, w.pepper())
    assert w.world.client_credentials(app=app, secret=created.client_secret).status == 200


def test_one_free_plan_app_per_tenant(w: W) -> None:
    # Given one app created on the Free plan
    first = w.admin.create_app(w.tid, "Free One", "aws-eu-west-1", [], "free", w.owner).app
    assert w.store.free_plan_holder(w.tid) == first.app_id
    # When a second app is created on Free, or moved to Free / Then Conflict, nothing changed
    with pytest.raises(Conflict):
        w.admin.create_app(w.tid, "Free Two", "aws-eu-west-1", [], "free", w.owner)
    with pytest.raises(Conflict):
        w.admin.set_app_plan(w.tid, w.world.app.app_id, "free", w.owner)
    assert w.admin.get_app(w.tid, w.world.app.app_id).plan_id == "standard"
    assert w.store.free_plan_holder(w.tid) == first.app_id
    # And another tenant has its own slot
    other = w.admin.create_app(w.world.other_tenant, "Free", "aws-eu-west-1", [], "free", w.owner).app
    assert w.store.free_plan_holder(w.world.other_tenant) == other.app_id
    # When the first leaves Free, the slot is released and another app may take it
    before = w.event_ids()
    w.admin.set_app_plan(w.tid, first.app_id, "standard", w.owner)
    assert w.new_types(before) == ["AppPlanChanged"]
    assert w.store.free_plan_holder(w.tid) is None
    w.admin.set_app_plan(w.tid, w.world.app.app_id, "free", w.owner)
    assert w.store.free_plan_holder(w.tid) == w.world.app.app_id
    # And deleting the Free app releases the slot too
    w.admin.delete_app(w.tid, w.world.app.app_id, w.owner)
    assert w.store.free_plan_holder(w.tid) is None


def test_set_plan_refuses_unknown_or_retired_plans_and_same_plan_is_a_no_op(w: W) -> None:
    for plan in ("nope", "old", "../x"):
        with pytest.raises(InvalidInput):
            w.admin.set_app_plan(w.tid, w.world.app.app_id, plan, w.owner)
    before = w.event_ids()
    assert w.admin.set_app_plan(w.tid, w.world.app.app_id, "standard", w.owner).plan_id == "standard"
    assert w.new_types(before) == []


def test_regenerating_the_secret_kills_the_old_secret_and_every_refresh_family(w: W) -> None:
    refresh = w.world.client_credentials(OFFLINE).body["refresh_token"]
    before = w.event_ids()
    created = w.admin.regenerate_app_secret(w.tid, w.world.app.app_id, w.owner)
    assert w.new_types(before) == ["AppSecretRegenerated"]
    assert created.app.credential_generation == w.world.app.credential_generation + 1
    assert w.world.client_credentials().error == "invalid_client"
    assert w.world.refresh(refresh).error == "invalid_grant"
    assert w.world.client_credentials(secret=created.client_secret).status == 200


def test_domains_are_normalised_validated_and_audited(w: W) -> None:
    app_id = w.world.app.app_id
    with pytest.raises(InvalidInput):
        w.admin.set_app_domains(w.tid, app_id, ["a.example", "b.example", "c.example", "d.example"], w.owner)
    with pytest.raises(InvalidInput):
        w.admin.set_app_domains(w.tid, app_id, ["evil.example/path"], w.owner)
    assert w.admin.get_app(w.tid, app_id).allowed_domains == w.world.app.allowed_domains
    before = w.event_ids()
    app = w.admin.set_app_domains(w.tid, app_id, ["https://App.Example.com/"], w.owner)
    assert app.allowed_domains == ("app.example.com",)
    assert w.new_types(before) == ["AppDomainsChanged"]
    token = w.world.client_credentials().body["access_token"]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==").decode())
    assert claims["allowed_domain_1"] == "app.example.com" and "allowed_domain_2" not in claims


def test_disabling_an_app_stops_its_tokens_and_asks_for_termination(w: W) -> None:
    app_id = w.world.app.app_id
    before = w.event_ids()
    assert w.admin.set_app_status(w.tid, app_id, False, w.owner).status is AppStatus.DISABLED
    assert w.new_types(before) == ["AppStatusChanged"]
    assert w.terminator.requests[-1][0] == TerminationScope(w.tid, app_id=app_id)
    assert w.world.client_credentials().status in (400, 401)
    assert w.admin.set_app_status(w.tid, app_id, True, w.owner).status is AppStatus.ENABLED
    assert w.world.client_credentials().status == 200


def test_deleting_an_app_frees_its_client_id_and_name(w: W) -> None:
    app = w.world.app
    before = w.event_ids()
    w.admin.delete_app(w.tid, app.app_id, w.owner)
    assert w.new_types(before) == ["AppDeleted"]
    assert w.terminator.requests[-1][0] == TerminationScope(w.tid, app_id=app.app_id)
    assert w.store.client(app.client_id) is None
    assert w.world.client_credentials().error == "invalid_client"
    with pytest.raises(NotFound):
        w.admin.delete_app(w.tid, app.app_id, w.owner)
    assert w.admin.create_app(w.tid, app.name, "aws-eu-west-1", [], "standard", w.owner).app.name == app.name


def test_every_tenant_method_finds_nothing_of_another_tenant(w: W) -> None:
    # Given ids that exist, but in the *other* tenant, and ids that cannot be ours at all
    other_app, other_user = w.world.other_app.app_id, w.world.owner.user_id
    tid = w.world.other_tenant
    calls: list[Callable[[], object]] = [
        lambda: w.admin.get_app(tid, w.world.app.app_id),
        lambda: w.admin.regenerate_app_secret(tid, w.world.app.app_id, w.owner),
        lambda: w.admin.set_app_domains(tid, w.world.app.app_id, [], w.owner),
        lambda: w.admin.set_app_plan(tid, w.world.app.app_id, "standard", w.owner),
        lambda: w.admin.set_app_status(tid, w.world.app.app_id, False, w.owner),
        lambda: w.admin.delete_app(tid, w.world.app.app_id, w.owner),
        lambda: w.admin.set_user_status(tid, other_user, False, w.owner),
        lambda: w.admin.get_user(tid, other_user),
        lambda: w.admin.get_app(w.tid, "../" + other_app),
        lambda: w.admin.set_user_status(w.tid, "x" * 2000, False, w.owner),
    ]
    snapshot = (dict(w.store.apps), dict(w.store.users), len(w.store.events))
    for call in calls:
        with pytest.raises(NotFound):
            call()
    assert (dict(w.store.apps), dict(w.store.users), len(w.store.events)) == snapshot
    assert w.terminator.requests == []


# --- keys -----------------------------------------------------------------------------------------------------


def test_keys_are_listed_without_private_material_rotated_and_revoked(w: W) -> None:
    with pytest.raises(NotFound):
        w.admin.list_keys(UNKNOWN_TENANT)
    keys = w.admin.list_keys(w.tid)
    assert [k.state for k in keys] == [KeyState.ACTIVE, KeyState.NEXT]
    assert all(k.sealed is None for k in keys)
    before = w.event_ids()
    rotation = w.admin.rotate_keys(w.tid, w.owner)
    assert w.new_types(before) == ["SigningKeyCreated", "SigningKeyRotated"]
    assert w.admin.list_keys(w.tid)[0].kid == rotation.active_kid
    before = w.event_ids()
    revocation = w.admin.revoke_keys(w.tid, w.owner, "leaked")
    assert w.new_types(before) == ["SigningKeyCreated", "SigningKeyCreated", "SigningKeyRevoked"]
    assert w.terminator.requests[-1][0] == TerminationScope(w.tid)
    assert set(revocation.revoked_kids) == {k.kid for k in keys} | {rotation.next_kid}
    with pytest.raises(InvalidInput):
        w.admin.revoke_keys(w.tid, w.owner, "bad\nreason")


# --- master key -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["", "not a key", "alias/aws/ebs", "arn:aws:kms:eu-west-1:1:key/x" * 3])
def test_master_key_rotation_refuses_malformed_targets(w: W, target: str) -> None:
    with pytest.raises(InvalidInput):
        w.admin.rotate_master_key(w.operator, target)
    assert w.master_keys.current() == "arn:fake:kms:key/one"


def test_master_key_rotation_refuses_unknown_targets_without_moving_the_alias(w: W) -> None:
    with pytest.raises(InvalidInput):
        w.admin.rotate_master_key(w.operator, "arn:aws:kms:eu-west-1:111122223333:key/" + UNKNOWN_TENANT)
    assert w.master_keys.current() == "arn:fake:kms:key/one"


def test_master_key_rotation_moves_every_key_and_the_pepper(w: W) -> None:
    # Given every stored data key under the first master key
    start = w.admin.master_key_status()
    total = sum(start.keys_by_master_key.values())
    assert start.keys_by_master_key == {"arn:fake:kms:key/one": total}
    # When rotating with no target (the provisioned slot not in use is chosen; no key is ever created)
    before = w.event_ids()
    report = w.admin.rotate_master_key(w.operator, None)
    # Then the alias points at slot b and every data key (pepper included) is wrapped under it
    target = w.master_keys.SLOT_B
    assert report.target_master_key_id == target == w.master_keys.current()
    assert (report.total, report.rewrapped, report.skipped) == (total, total, [])
    assert w.admin.master_key_status().keys_by_master_key == {target: total}
    assert w.new_types(before) == ["MasterKeyRewrapped"] * total
    assert w.store.pepper is not None and w.store.pepper[1] == target
    # And old secrets still verify (a cold container unwraps the pepper afresh) and tokens still sign (the
    # key cache is keyed by master-key tag, so this unwraps the re-wrapped data key)
    assert verify_client_secret(w.world.app_secret, w.stored_secret_hash(w.world.app.app_id), w.pepper())
    assert w.world.client_credentials().status == 200
    # And running again with the same target finds nothing to do
    again = w.admin.rotate_master_key(w.operator, target)
    assert (again.rewrapped, again.already_current) == (0, total)


# --- audit and cursors ----------------------------------------------------------------------------------------


def test_audit_reads_newest_first_across_pages_and_stays_in_its_tenant(w: W) -> None:
    for i in range(5):
        w.clock.advance(1)
        w.admin.set_app_domains(w.tid, w.world.app.app_id, [f"d{i}.example"], w.owner)
    events, cursor = [], None
    while True:
        page = w.admin.list_audit(w.tid, 2, cursor)
        events += page.items
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert {e.tenant_id for e in events} == {w.tid}
    assert len(events) == len([e for e in w.store.events.values() if e.tenant_id == w.tid])
    stamps = [e.occurred_at for e in events]
    assert stamps == sorted(stamps, reverse=True)
    assert [e.data["allowedDomains"] for e in events[:2]] == [["d4.example"], ["d3.example"]]
    # And the platform trail holds every tenant's events, newest first
    platform = w.admin.list_audit(None, 100, None).items
    assert {e.tenant_id for e in platform} > {w.tid}
    assert [e.occurred_at for e in platform] == sorted((e.occurred_at for e in platform), reverse=True)
    assert platform[0].event_id == events[0].event_id


def _cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_forged_cursors_are_invalid_input_and_never_reach_another_tenant(w: W) -> None:
    # Given a real cursor of the demo tenant's audit trail
    page = w.admin.list_audit(w.tid, 1, None)
    assert page.next_cursor is not None
    real = decode_cursor(page.next_cursor)
    assert real is not None and encode_cursor(real) == page.next_cursor
    forged = [
        "!!!",
        "a" * 3000,
        _cursor([1, 2]),
        _cursor({}),
        _cursor({"pk": 1, "sk": "x"}),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        _cursor({**real, "pk": f"AUDIT#{w.world.other_tenant}"}),
        _cursor({**real, "extra": "x"}),
        _cursor({"pk": f"TENANT#{w.tid}", "sk": "APP#x"}),
    ]
    # When each is presented / Then InvalidInput, for the audit trail and the other listings alike
    for cursor in forged:
        with pytest.raises(InvalidInput):
            w.admin.list_audit(w.tid, 10, cursor)
    with pytest.raises(InvalidInput):  # a cursor of one tenant's apps is no cursor for another's
        w.admin.list_apps(w.world.other_tenant, 10, _cursor({"pk": f"TENANT#{w.tid}", "sk": "APP#x"}))
    with pytest.raises(InvalidInput):  # nor for the same tenant's users
        w.admin.list_users(w.tid, 10, _cursor({"pk": f"TENANT#{w.tid}", "sk": "APP#x"}))


# --- termination ----------------------------------------------------------------------------------------------


def test_recording_terminator_records_and_closes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    terminator = RecordingTerminator()
    actor = Actor(ActorType.USER, "u")
    with caplog.at_level("INFO"):
        assert terminator.terminate(TerminationScope("t", app_id="a"), "why", actor) == 0
    assert terminator.requests == [(TerminationScope("t", app_id="a"), "why", actor)]
    assert any("termination" in r.getMessage() for r in caplog.records)


# --- scheduled key maintenance --------------------------------------------------------------------------------


def _maintenance(w: W, locks: LockManager | None = None) -> KeyMaintenance:
    lock_manager = locks or LockManager(w.store, w.clock, wait_seconds=0.05, sleep=lambda _: None)
    vault = KeyVault(
        w.store,
        w.wrapper,
        lock_manager,
        w.clock,
        region="eu-west-1",
        policy=KeyPolicy(grace_seconds=3600, next_key_min_age_seconds=300),
    )
    return KeyMaintenance(w.store, vault, w.clock, rotation_days=30)


def test_key_maintenance_rotates_only_due_tenants_and_retires_expired_keys(w: W) -> None:
    # Given every tenant's keys created now, and one tenant approved 20 days later
    w.clock.advance(20 * 86400)
    tenant, _ = w.admin.signup("Late", "late@late.example", NEW_PASSWORD)
    w.admin.approve_tenant(tenant.tenant_id, w.operator)
    # When the job runs 31 days after the first keys
    w.clock.advance(11 * 86400)
    report = _maintenance(w).run()
    # Then every active tenant except the late one rotated, and no pending tenant was touched
    rotated = {t.tenant_id for t in report.tenants if t.rotated_to is not None}
    active = {t.tenant_id for t in w.store.tenants.values() if t.status is TenantStatus.ACTIVE}
    assert PLATFORM_TENANT_ID in rotated
    assert rotated == active - {tenant.tenant_id}
    assert w.world.pending_tenant not in {t.tenant_id for t in report.tenants}
    assert report.failed == 0
    # When it runs again right away / Then nothing is due
    assert _maintenance(w).run().rotated == 0
    # When the grace period has passed / Then the retiring keys are retired, private material dropped
    w.clock.advance(3601)
    again = _maintenance(w).run()
    assert again.retired == len(rotated)
    retired = [k for k in w.store.keys.values() if k.state is KeyState.RETIRED]
    assert len(retired) == len(rotated) and all(k.sealed is None for k in retired)


def test_key_maintenance_reports_a_busy_tenant_and_does_the_others(w: W) -> None:
    # Given a demo tenant whose key lock is held by someone else
    w.clock.advance(31 * 86400)
    held = w.store.try_acquire(tenant_keys_lock(w.tid), "someone", 600, w.clock.now())
    assert held is not None
    # When the job runs
    report = _maintenance(w).run()
    # Then the demo tenant is reported busy and every other active tenant still rotated
    by_tenant = {t.tenant_id: t for t in report.tenants}
    assert by_tenant[w.tid].error == LockBusy.code
    assert by_tenant[w.tid].rotated_to is None
    assert by_tenant[w.world.other_tenant].rotated_to is not None
    assert (report.busy, report.failed) == (1, 0)


def test_key_maintenance_survives_a_tenant_whose_key_set_is_broken(w: W) -> None:
    # Given the other tenant with no next key (not rotatable)
    w.clock.advance(31 * 86400)
    for (tid, kid), key in list(w.store.keys.items()):
        if tid == w.world.other_tenant and key.state is KeyState.NEXT:
            w.store.keys[(tid, kid)] = replace(key, state=KeyState.REVOKED, sealed=None)
    # When / Then it is skipped quietly (not due without a next key), the rest rotate
    report = _maintenance(w).run()
    by_tenant = {t.tenant_id: t for t in report.tenants}
    assert by_tenant[w.world.other_tenant].rotated_to is None
    assert by_tenant[w.tid].rotated_to is not None


def test_master_key_rotation_with_no_target_alternates_between_the_two_slots(w: W) -> None:
    first = w.master_keys.current()
    assert w.admin.rotate_master_key(w.operator, None).target_master_key_id == w.master_keys.SLOT_B
    back = w.admin.rotate_master_key(w.operator, None)
    assert back.target_master_key_id == first == w.master_keys.current()
    assert back.complete


def test_master_key_rotation_stops_cleanly_at_its_time_budget_and_resumes(w: W) -> None:
    # Given a zero time budget (the function is about to time out)
    total = sum(w.admin.master_key_status().keys_by_master_key.values())
    w.admin._rewrap_budget_seconds = 0
    # When rotating / Then the run stops incomplete and the lock is free again
    report = w.admin.rotate_master_key(w.operator, None)
    assert report.complete is False and report.rewrapped < total
    # And a second run with the now-current key as target finishes the job
    w.admin._rewrap_budget_seconds = None
    done = w.admin.rotate_master_key(w.operator, w.master_keys.current())
    assert done.complete and done.rewrapped + done.already_current == total


def test_the_platform_tenants_status_cannot_be_changed(w: W) -> None:
    from wiresocket.domain.errors import Conflict
    from wiresocket.names import PLATFORM_TENANT_ID

    with pytest.raises(Conflict):
        w.admin.suspend_tenant(PLATFORM_TENANT_ID, w.operator, "oops")
    with pytest.raises(Conflict):
        w.admin.reactivate_tenant(PLATFORM_TENANT_ID, w.operator)
    with pytest.raises(Conflict):
        w.admin.approve_tenant(PLATFORM_TENANT_ID, w.operator)


def test_key_maintenance_takes_one_lock_and_one_key_read_per_tenant(w: W, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given every tenant due for rotation, with keys past their grace period to retire as well
    w.clock.advance(31 * 86400)
    assert _maintenance(w).run().rotated > 0
    w.clock.advance(31 * 86400)
    reads: list[str] = []
    locks: list[str] = []
    real_read, real_acquire = w.store.tenant_with_keys, w.store.try_acquire

    def read(tenant_id: str) -> Any:
        reads.append(tenant_id)
        return real_read(tenant_id)

    def acquire(name: str, *args: Any, **kwargs: Any) -> Any:
        locks.append(name)
        return real_acquire(name, *args, **kwargs)

    monkeypatch.setattr(w.store, "tenant_with_keys", read)
    monkeypatch.setattr(w.store, "try_acquire", acquire)
    # When the job retires and rotates every tenant in one run
    report = _maintenance(w).run()
    # Then each tenant's keys were read once under one lock (it was three reads under two locks)
    assert report.retired > 0 and report.rotated > 0 and report.failed == 0
    tenants = [t.tenant_id for t in report.tenants]
    assert sorted(reads) == sorted(tenants)
    assert sorted(locks) == sorted(tenant_keys_lock(t) for t in tenants)
