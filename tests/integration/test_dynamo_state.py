"""``DynamoStateReader`` (the authorizer's plain-botocore reads) returns exactly what ``DynamoDirectory`` returns
for the same items on moto, fails closed on malformed items and read errors, and ignores items of another kind."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.fakes.oauth_world import OAuthWorld
from tests.integration.conftest import REGION, Aws, moto_world
from wiresocket.adapters.dynamo_directory import DynamoDirectory
from wiresocket.adapters.dynamo_state import DynamoStateReader
from wiresocket.domain.audit import SYSTEM_ACTOR
from wiresocket.domain.errors import DependencyUnavailable

UNKNOWN_TENANT = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def world(aws: Aws) -> OAuthWorld:
    world = moto_world(aws)
    # A rotation leaves a retiring key next to the active one, so the tenant has keys in several states.
    world.vault.rotate(world.demo_tenant, SYSTEM_ACTOR)
    return world


def reader(aws: Aws) -> DynamoStateReader:
    return DynamoStateReader(boto3.client("dynamodb", region_name=REGION), aws.resources.directory_table)


def test_a_malformed_item_is_a_dependency_failure_never_a_half_read(aws: Aws, world: OAuthWorld) -> None:
    # Given the demo app's item with its status attribute removed
    aws.dynamodb.update_item(
        TableName=aws.resources.directory_table,
        Key={"pk": {"S": f"TENANT#{world.demo_tenant}"}, "sk": {"S": f"APP#{world.app.app_id}"}},
        UpdateExpression="REMOVE #s",
        ExpressionAttributeNames={"#s": "status"},
    )
    # When / Then reading it fails closed
    with pytest.raises(DependencyUnavailable):
        reader(aws).app(world.demo_tenant, world.app.app_id)


def test_a_tenant_item_with_an_unknown_status_fails_closed(aws: Aws, world: OAuthWorld) -> None:
    # Given the tenant item carries a status the domain does not know
    aws.dynamodb.update_item(
        TableName=aws.resources.directory_table,
        Key={"pk": {"S": f"TENANT#{world.demo_tenant}"}, "sk": {"S": "TENANT"}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "sort-of-active"}},
    )
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
