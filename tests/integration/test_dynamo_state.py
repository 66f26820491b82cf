"""``DynamoStateReader`` (the authorizer's plain-botocore reads) returns exactly what ``DynamoDirectory`` returns
for the same items on moto, fails closed on malformed items and read errors, and ignores items of another kind."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from tests.fakes.oauth_world import OAuthWorld
from tests.integration.conftest import REGION, Aws, moto_world
from wiresocket.adapters.clock import SystemClock
from wiresocket.adapters.dynamo_directory import DynamoDirectory
from wiresocket.adapters.dynamo_ratelimit import DynamoCounterStore
from wiresocket.adapters.dynamo_state import BATCH_ATTEMPTS, DynamoClientLookup, DynamoStateReader
from wiresocket.domain.audit import SYSTEM_ACTOR
from wiresocket.domain.errors import DependencyUnavailable
from wiresocket.domain.ratelimit import AUTH_FAILURE
from wiresocket.services.clientauth import client_subject
from wiresocket.services.ratelimit import CounterRead, RateLimiter

UNKNOWN_TENANT = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def world(aws: Aws) -> OAuthWorld:
    world = moto_world(aws)
    # A rotation leaves a retiring key next to the active one, so the tenant has keys in several states.
    world.vault.rotate(world.demo_tenant, SYSTEM_ACTOR)
    return world


def tamper(aws: Aws, pk: str, sk: str, name: str, value: dict[str, Any] | None) -> None:
    """Set the attribute ``name`` of a directory item to ``value`` (raw DynamoDB form), or remove it (``None``)."""
    update: dict[str, Any] = {"UpdateExpression": "REMOVE #a", "ExpressionAttributeNames": {"#a": name}}
    if value is not None:
        update = {**update, "UpdateExpression": "SET #a = :v", "ExpressionAttributeValues": {":v": value}}
    aws.dynamodb.update_item(TableName=aws.resources.directory_table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, **update)


def reader(aws: Aws) -> DynamoStateReader:
    return DynamoStateReader(boto3.client("dynamodb", region_name=REGION), aws.resources.directory_table)


def test_a_malformed_item_is_a_dependency_failure_never_a_half_read(aws: Aws, world: OAuthWorld) -> None:
    # Given the demo app's item with its status attribute removed
    tamper(aws, f"TENANT#{world.demo_tenant}", f"APP#{world.app.app_id}", "status", None)
    # When / Then reading it fails closed
    with pytest.raises(DependencyUnavailable):
        reader(aws).app(world.demo_tenant, world.app.app_id)


def test_a_tenant_item_with_an_unknown_status_fails_closed(aws: Aws, world: OAuthWorld) -> None:
    # Given the tenant item carries a status the domain does not know
    tamper(aws, f"TENANT#{world.demo_tenant}", "TENANT", "status", {"S": "sort-of-active"})
    # When / Then
    with pytest.raises(DependencyUnavailable):
        reader(aws).tenant_with_keys(world.demo_tenant)


def test_a_read_error_is_a_dependency_failure(aws: Aws) -> None:
    # Given a reader pointed at a table that does not exist
    broken = DynamoStateReader(boto3.client("dynamodb", region_name=REGION), "no-such-table")
    # When / Then every read fails closed
    with pytest.raises(DependencyUnavailable):
        broken.tenant_with_keys(UNKNOWN_TENANT)
    with pytest.raises(DependencyUnavailable):
        broken.plan("standard")


def test_missing_items_and_items_of_another_kind_read_as_none(aws: Aws, world: OAuthWorld) -> None:
    state = reader(aws)
    # Given nothing under these keys / When / Then
    assert state.tenant_with_keys(UNKNOWN_TENANT) == (None, [])
    assert state.app(world.demo_tenant, "nosuchapp") is None
    assert state.plan("nosuchplan") is None
    assert state.user(world.demo_tenant, "00000000-0000-4000-8000-00000000dead") is None
    # And an item under an app's key that is not of kind "app" is no app
    aws.dynamodb.put_item(
        TableName=aws.resources.directory_table,
        Item={"pk": {"S": f"TENANT#{world.demo_tenant}"}, "sk": {"S": "APP#impostor"}, "kind": {"S": "plan"}},
    )
    assert state.app(world.demo_tenant, "impostor") is None


def test_every_read_equals_the_pynamodb_directory(aws: Aws, world: OAuthWorld) -> None:
    directory, state = DynamoDirectory(), reader(aws)
    tenants = [world.demo_tenant, world.other_tenant, world.pending_tenant, world.suspended_tenant]
    # Given tenants in every status, one with keys in several states / When / Then the same domain objects
    for tenant_id in tenants:
        expected: tuple[Any, Any] = directory.tenant_with_keys(tenant_id)
        got = state.tenant_with_keys(tenant_id)
        assert got[0] == expected[0]
        assert sorted(got[1], key=lambda k: k.kid) == sorted(expected[1], key=lambda k: k.kid)
    assert len({k.state for k in state.tenant_with_keys(world.demo_tenant)[1]}) > 1
    # And apps with and without a plan, disabled, with and without domains
    for app in (world.app, world.app_without_plan, world.disabled_app, world.other_app):
        assert state.app(app.tenant_id, app.app_id) == directory.app(app.tenant_id, app.app_id)
        assert state.app(app.tenant_id, app.app_id) is not None
    # And the plan and users of every role
    assert world.app.plan_id is not None
    assert state.plan(world.app.plan_id) == directory.plan(world.app.plan_id) is not None
    for user in (world.owner, world.viewer, world.operator):
        assert state.user(user.tenant_id, user.user_id) == directory.user(user.tenant_id, user.user_id) is not None


def test_client_registry_entries_and_the_pepper_equal_the_pynamodb_directory(aws: Aws, world: OAuthWorld) -> None:
    directory, state = DynamoDirectory(), reader(aws)
    # Given app clients, the dashboard client, an unknown client id and the pepper / When / Then the same values
    for client_id in (world.app.client_id, world.disabled_app.client_id, world.dashboard.client_id):
        assert state.client(client_id) == directory.client(client_id) is not None
    assert state.client("nosuchclient") is None
    assert state.secret_pepper() == directory.secret_pepper() is not None


def test_the_token_directory_reads_fast_and_passes_everything_else_to_the_whole_directory(
    aws: Aws, world: OAuthWorld
) -> None:
    from wiresocket.adapters.dynamo_state import FastReadDirectory

    built: list[DynamoDirectory] = []

    def whole() -> DynamoDirectory:
        built.append(DynamoDirectory())
        return built[-1]

    fast = FastReadDirectory(reader(aws), whole)
    # When the client_credentials reads are made
    assert fast.client(world.app.client_id) is not None
    assert fast.app(world.demo_tenant, world.app.app_id) == world.store.app(world.demo_tenant, world.app.app_id)
    assert fast.tenant_with_keys(world.demo_tenant)[0] is not None
    assert fast.secret_pepper() is not None
    # Then the whole directory was never built
    assert built == []
    # And a read outside the hot set goes to it, with the same answer
    assert fast.user_by_username(world.owner.username) == DynamoDirectory().user_by_username(world.owner.username)
    assert len(built) == 1


# --- DynamoClientLookup: a client's registry entry and its lock-out counter in one BatchGetItem ------------------


def limiter(aws: Aws) -> RateLimiter:
    return RateLimiter(DynamoCounterStore(aws.dynamodb, aws.resources.rate_limit_table), SystemClock())


def lockout_of(aws: Aws, client_id: str) -> CounterRead:
    return limiter(aws).counter_read(AUTH_FAILURE, client_subject(client_id))


def lookup(aws: Aws, client: Any = None) -> DynamoClientLookup:
    dynamodb = client if client is not None else boto3.client("dynamodb", region_name=REGION)
    return DynamoClientLookup(dynamodb, aws.resources.directory_table, aws.resources.rate_limit_table)


def test_a_client_entry_and_its_lockout_counter_come_back_from_one_batch_read(aws: Aws, world: OAuthWorld) -> None:
    # Given three failed authentications counted for the demo app's client
    for _ in range(3):
        limiter(aws).record_failure(client_subject(world.app.client_id))
    client = boto3.client("dynamodb", region_name=REGION)
    calls: list[str] = []
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    # When the lookup reads them
    found = lookup(aws, client).client_and_count(world.app.client_id, lockout_of(aws, world.app.client_id))
    # Then the entry is the directory's and the count is 3, from a single BatchGetItem
    assert found == (DynamoDirectory().client(world.app.client_id), 3)
    assert calls == ["BatchGetItem"]


def test_an_unknown_client_an_absent_counter_and_an_entry_of_another_kind_read_as_none_and_zero(
    aws: Aws, world: OAuthWorld
) -> None:
    # Given nothing under these keys / When / Then
    assert lookup(aws).client_and_count("wsc_nosuchclient", lockout_of(aws, "wsc_nosuchclient")) == (None, 0)
    # And an item under a client_id's key that is not a registry entry is no client
    aws.dynamodb.put_item(
        TableName=aws.resources.directory_table,
        Item={"pk": {"S": "CLIENT#wsc_impostor"}, "sk": {"S": "CLIENT"}, "kind": {"S": "app"}},
    )
    assert lookup(aws).client_and_count("wsc_impostor", lockout_of(aws, "wsc_impostor")) == (None, 0)


class LeavesKeysUnprocessed:
    """moto's client, except that its first ``unprocessed`` BatchGetItem calls read the directory's key only and
    hand the rest back as ``UnprocessedKeys``: moto has no throughput limits and never does that itself, DynamoDB
    does under throttling. The only thing faked here."""

    def __init__(self, directory_table: str, unprocessed: int) -> None:
        self._real = boto3.client("dynamodb", region_name=REGION)
        self._directory = directory_table
        self.unprocessed = unprocessed
        self.calls = 0

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 - botocore's name
        self.calls += 1
        if not self.unprocessed:
            return dict(self._real.batch_get_item(RequestItems=RequestItems))
        self.unprocessed -= 1
        mine = {t: r for t, r in RequestItems.items() if t == self._directory}
        rest = {t: r for t, r in RequestItems.items() if t != self._directory}
        out = dict(self._real.batch_get_item(RequestItems=mine)) if mine else {"Responses": {}}
        return {**out, "UnprocessedKeys": rest}


def test_keys_left_unprocessed_are_read_again_with_backoff(
    aws: Aws, world: OAuthWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    limiter(aws).record_failure(client_subject(world.app.client_id))
    # Given DynamoDB leaves the counter's key unprocessed twice
    client = LeavesKeysUnprocessed(aws.resources.directory_table, unprocessed=2)
    # When the lookup runs
    found = lookup(aws, client).client_and_count(world.app.client_id, lockout_of(aws, world.app.client_id))
    # Then it asked again for what was left, after growing pauses, and has both answers
    assert found == (DynamoDirectory().client(world.app.client_id), 1)
    assert client.calls == 3 and slept == [0.05, 0.1]


def test_keys_still_unprocessed_after_every_attempt_fail_closed(
    aws: Aws, world: OAuthWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    # Given DynamoDB keeps leaving the counter unread
    client = LeavesKeysUnprocessed(aws.resources.directory_table, unprocessed=BATCH_ATTEMPTS)
    # When / Then the lookup gives up with a dependency failure (503), never a count of 0
    with pytest.raises(DependencyUnavailable):
        lookup(aws, client).client_and_count(world.app.client_id, lockout_of(aws, world.app.client_id))
    assert client.calls == BATCH_ATTEMPTS


def test_a_batch_read_error_or_a_malformed_entry_fails_closed(aws: Aws, world: OAuthWorld) -> None:
    # Given a lookup over a counters table that does not exist / When / Then
    broken = DynamoClientLookup(
        boto3.client("dynamodb", region_name=REGION), aws.resources.directory_table, "no-such-table"
    )
    with pytest.raises(DependencyUnavailable):
        broken.client_and_count(world.app.client_id, lockout_of(aws, world.app.client_id))
    # And a registry entry without its kind of client
    tamper(aws, f"CLIENT#{world.app.client_id}", "CLIENT", "client_kind", None)
    with pytest.raises(DependencyUnavailable):
        lookup(aws).client_and_count(world.app.client_id, lockout_of(aws, world.app.client_id))
    # And the two reads must come from two tables
    with pytest.raises(ValueError, match="different tables"):
        DynamoClientLookup(aws.dynamodb, aws.resources.directory_table, aws.resources.directory_table)


def test_an_item_whose_kind_is_malformed_fails_closed_in_both_readers(aws: Aws, world: OAuthWorld) -> None:
    # Given the demo app's client_id entry with a kind that is not a string
    tamper(aws, f"CLIENT#{world.app.client_id}", "CLIENT", "kind", {"M": {"not": {"S": "a kind"}}})
    # When / Then the single read and the batch read both answer 503, never a 500 or a missing client
    with pytest.raises(DependencyUnavailable):
        reader(aws).client(world.app.client_id)
    with pytest.raises(DependencyUnavailable):
        lookup(aws).client_and_count(world.app.client_id, lockout_of(aws, world.app.client_id))
