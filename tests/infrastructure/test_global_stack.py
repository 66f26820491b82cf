"""The global stack's resources, construct by construct, against the layer's single sources of truth."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest
from aws_cdk import App, Stack, aws_kms
from aws_cdk.assertions import Match

from cdk.constructs.control_api import STAGE_NAME, UNAUTHENTICATED_FUNCTIONS, path_parameters
from cdk.constructs.function import RUNTIME
from cdk.constructs.keys import DIRECTORY_KEY_ALIAS, ENCRYPTION_CONTEXT_KEYS, MASTER_KEY_ALIAS, MASTER_KEY_SLOT_ALIASES
from cdk.constructs.regional_access import REGIONAL_KEY_ALIAS
from cdk.constructs.tables import SpecTable
from cdk.stacks.global_stack import ADMIN_MEMORY_MB, TOKEN_MEMORY_MB
from tests.infrastructure.conftest import SynthesizedApp
from wiresocket import names
from wiresocket.config import FUNCTION_SETTINGS, KeyVaultSettings
from wiresocket.names import (
    AUDIT_BUS_NAME,
    AUDIT_SOURCE,
    CONTROL_PLANE_ROUTES,
    DIRECTORY_TABLE,
    IDEMPOTENCY_TABLE,
    PLATFORM_TENANT_ID,
    RATE_LIMIT_TABLE,
    TableSpec,
)

DEPLOYED_FUNCTIONS = ("jwks", "token", "outbox", "admin", "key_maintenance")
DEPLOYED_AWS_REGIONS = ("ap-south-1", "eu-west-1", "us-east-1")
"""The AWS regions of the suite's deployment (``conftest.TEST_REGIONS``)."""
"""The control plane: every function the global stack deploys."""

DATA_PLANE_FUNCTIONS = frozenset({"ws_connect", "ws_message", "terminator", "ws_http"})
"""Functions of the regional (data-plane) stacks, which the regional stack issue (issue 7) will deploy; the
global stack must not. Named here explicitly, so a new settings model is never skipped by accident."""

ADMIN_ROUTES = (
    ("POST", "/signup"),
    ("GET", "/openapi.json"),
    ("ANY", "/admin/{proxy+}"),
    ("ANY", "/platform/{proxy+}"),
)
"""The admin function's routes (docs/admin-api.md): the public ones, and one greedy proxy per surface."""

VIA_DYNAMODB = json.dumps({"StringEquals": {"kms:ViaService": "dynamodb.eu-west-1.amazonaws.com"}})
NO_CONDITION = json.dumps(None)

TABLE_ACTIONS = frozenset(
    {
        # Reads (Scan deliberately absent: granted apart, on the base table, to maintenance paths only) ...
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DescribeTable",
        # ... and writes; TransactWriteItems is authorized per item by these same actions.
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    }
)
TABLE_KEY_ACTIONS = frozenset(
    {
        # What DynamoDB needs of the table key to read and write the encrypted tables on the caller's behalf.
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
    }
)
FORBIDDEN_KMS_ACTIONS = frozenset(
    {
        "kms:CreateKey",
        "kms:CreateAlias",
        "kms:DeleteAlias",
        "kms:PutKeyPolicy",
        "kms:CreateGrant",
        "kms:ScheduleKeyDeletion",
        "kms:DisableKey",
    }
)
API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS = 29

MASTER_KEY_CONDITIONS = {
    "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": list(ENCRYPTION_CONTEXT_KEYS)},
    "Null": {f"kms:EncryptionContext:{key}": "false" for key in ENCRYPTION_CONTEXT_KEYS},
}
"""The IAM conditions of every master-key grant: exactly a {tenantId, kid} encryption context."""
ENVELOPE_CONDITION = json.dumps(MASTER_KEY_CONDITIONS, sort_keys=True)


def _get_att_arns(value: Any) -> set[str]:
    """Logical ids referenced as ``Fn::GetAtt [id, Arn]`` anywhere inside ``value``."""
    return set(re.findall(r'"Fn::GetAtt": \["([A-Za-z0-9]+)", "Arn"\]', json.dumps(value)))


def _statements(synthesized: SynthesizedApp, role_construct: Any) -> list[dict[str, Any]]:
    """Every IAM statement attached to ``role_construct`` by inline policies of the stack."""
    role_id = synthesized.logical_id(role_construct.node.default_child)
    statements: list[dict[str, Any]] = []
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def _function(synthesized: SynthesizedApp, name: str) -> dict[str, Any]:
    logical_id = synthesized.logical_id(synthesized.stack.functions[name].function.node.default_child)
    resource: dict[str, Any] = synthesized.template_json["Resources"][logical_id]
    return resource


def _resource_names(resource: Any) -> set[str]:
    """A statement's resources as readable names: ``Fn::GetAtt [id, Arn]`` -> ``id``, joins concatenated."""

    def name(item: Any) -> str:
        if isinstance(item, dict) and "Fn::GetAtt" in item:
            return str(item["Fn::GetAtt"][0])
        if isinstance(item, dict) and "Fn::Join" in item:
            return "".join(name(part) for part in item["Fn::Join"][1])
        if isinstance(item, str):
            return item
        return json.dumps(item, sort_keys=True)

    return {name(item) for item in (resource if isinstance(resource, list) else [resource])}


def _grants(statements: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """Every (action, resource, condition) an allow statement grants, however the statements are merged."""
    grants: set[tuple[str, str, str]] = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        condition = json.dumps(statement.get("Condition"), sort_keys=True)
        for action in _actions(statement):
            grants.update((action, resource, condition) for resource in _resource_names(statement["Resource"]))
    return grants


def _id(synthesized: SynthesizedApp, construct: Any) -> str:
    return synthesized.logical_id(construct.node.default_child)


# --- Directory table -------------------------------------------------------------------------------------------


def test_directory_table_keys_and_indexes_come_from_the_table_spec(synthesized: SynthesizedApp) -> None:
    key_schema = [{"AttributeName": DIRECTORY_TABLE.partition_key, "KeyType": "HASH"}]
    if DIRECTORY_TABLE.sort_key:
        key_schema.append({"AttributeName": DIRECTORY_TABLE.sort_key, "KeyType": "RANGE"})
    indexes = [
        {
            "IndexName": index.name,
            "KeySchema": [
                {"AttributeName": index.partition_key, "KeyType": "HASH"},
                *([{"AttributeName": index.sort_key, "KeyType": "RANGE"}] if index.sort_key else []),
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
        for index in DIRECTORY_TABLE.indexes
    ]

    synthesized.template.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "TableName": DIRECTORY_TABLE.default_name,
            "KeySchema": key_schema,
            "AttributeDefinitions": Match.array_equals(
                [{"AttributeName": a, "AttributeType": "S"} for a in DIRECTORY_TABLE.key_attributes()]
            ),
            "GlobalSecondaryIndexes": Match.array_equals(indexes),
            "BillingMode": "PAY_PER_REQUEST",
        },
    )


def test_directory_table_has_ttl_and_a_new_and_old_images_stream(synthesized: SynthesizedApp) -> None:
    assert DIRECTORY_TABLE.ttl_attribute and DIRECTORY_TABLE.stream
    synthesized.template.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "TimeToLiveSpecification": {"AttributeName": DIRECTORY_TABLE.ttl_attribute, "Enabled": True},
            "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
        },
    )


def test_directory_table_is_recoverable_protected_and_encrypted_with_the_directory_key(
    synthesized: SynthesizedApp,
) -> None:
    directory_key = synthesized.logical_id(synthesized.stack.keys.directory_key.node.default_child)
    table = synthesized.template_json["Resources"][_id(synthesized, synthesized.stack.directory.table)]
    replicas = {replica["Region"]: replica for replica in table["Properties"]["Replicas"]}

    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert table["Properties"]["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    # A global table: one replica in every deployed region, each protected, recoverable and encrypted with a
    # customer-managed key of its own region (the primary's directory key; elsewhere the regional key by alias).
    assert set(replicas) == {"eu-west-1", "us-east-1", "ap-south-1"}
    for region, replica in replicas.items():
        assert replica["DeletionProtectionEnabled"] is True
        assert replica["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True,
            "RecoveryPeriodInDays": 35,
        }
        key = replica["SSESpecification"]["KMSMasterKeyId"]
        if region == "eu-west-1":
            assert key == {"Fn::GetAtt": [directory_key, "Arn"]}
        else:
            assert _resource_names(key) == {f'arn:aws:kms:{region}:{{"Ref": "AWS::AccountId"}}:{REGIONAL_KEY_ALIAS}'}


# --- Control-plane tables (rate-limit counters, idempotency records) --------------------------------------------

CONTROL_TABLES = {"rate_limits": RATE_LIMIT_TABLE, "idempotency": IDEMPOTENCY_TABLE}
"""Global-stack attribute -> the table spec it is built from."""


def _control_table(synthesized: SynthesizedApp, attribute: str) -> dict[str, Any]:
    resource: dict[str, Any] = synthesized.template_json["Resources"][
        _id(synthesized, getattr(synthesized.stack, attribute).table)
    ]
    return resource


def test_the_stack_deploys_the_directory_and_every_control_plane_table_and_nothing_else(
    synthesized: SynthesizedApp,
) -> None:
    deployed = {
        table["Properties"]["TableName"] for table in synthesized.resources("AWS::DynamoDB::GlobalTable").values()
    }

    assert set(CONTROL_TABLES.values()) == set(names.ALL_CONTROL_TABLES)
    assert deployed == {spec.default_name for spec in (DIRECTORY_TABLE, *names.ALL_CONTROL_TABLES)}
    synthesized.template.resource_count_is("AWS::DynamoDB::Table", 0)


@pytest.mark.parametrize(("attribute", "spec"), CONTROL_TABLES.items(), ids=CONTROL_TABLES)
def test_control_table_keys_and_ttl_come_from_the_table_spec(
    synthesized: SynthesizedApp, attribute: str, spec: TableSpec
) -> None:
    properties = _control_table(synthesized, attribute)["Properties"]

    assert spec.sort_key is None and not spec.indexes and spec.ttl_attribute
    assert properties["TableName"] == spec.default_name
    assert properties["KeySchema"] == [{"AttributeName": spec.partition_key, "KeyType": "HASH"}]
    assert properties["AttributeDefinitions"] == [{"AttributeName": spec.partition_key, "AttributeType": "S"}]
    assert "GlobalSecondaryIndexes" not in properties
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}
    assert "StreamSpecification" not in properties  # counters and idempotency records feed nothing downstream


def test_idempotency_table_has_the_powertools_layout() -> None:
    # powertools' DynamoDBPersistenceLayer defaults: partition key `id`, expiry attribute `expiration`.
    assert (IDEMPOTENCY_TABLE.partition_key, IDEMPOTENCY_TABLE.ttl_attribute) == ("id", "expiration")


@pytest.mark.parametrize(("attribute", "spec"), CONTROL_TABLES.items(), ids=CONTROL_TABLES)
def test_control_table_is_regional_recoverable_retained_and_encrypted_with_the_table_key(
    synthesized: SynthesizedApp, attribute: str, spec: TableSpec
) -> None:
    table = _control_table(synthesized, attribute)
    directory_key = _id(synthesized, synthesized.stack.keys.directory_key)
    (replica,) = table["Properties"]["Replicas"]  # the primary region only: never replicated

    assert spec in names.ALL_CONTROL_TABLES
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert table["Properties"]["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    assert replica["Region"] == "eu-west-1"
    assert replica["DeletionProtectionEnabled"] is True
    assert replica["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True,
        "RecoveryPeriodInDays": 35,
    }
    assert replica["SSESpecification"] == {"KMSMasterKeyId": {"Fn::GetAtt": [directory_key, "Arn"]}}


@pytest.mark.parametrize("spec", names.ALL_CONTROL_TABLES, ids=lambda spec: spec.logical_name)
def test_control_plane_tables_refuse_replicas(spec: TableSpec) -> None:
    stack = Stack(App(), "ReplicaProbe", env={"region": "eu-west-1"})
    key = aws_kms.Key(stack, "Key", enable_key_rotation=True)

    with pytest.raises(ValueError, match="never replicated"):
        SpecTable(stack, "Counters", spec=spec, encryption_key=key, replica_key_arns={"us-east-1": "arn"})


# --- KMS keys ---------------------------------------------------------------------------------------------------


def _master_slots(synthesized: SynthesizedApp) -> set[str]:
    return {_id(synthesized, key) for key in synthesized.stack.keys.master_key_slots}


def test_every_key_is_symmetric_multi_region_rotated_and_retained(synthesized: SynthesizedApp) -> None:
    keys = synthesized.resources("AWS::KMS::Key")

    assert len(keys) == 3  # two master-key slots and the table key
    for key in keys.values():
        assert key["DeletionPolicy"] == "Retain"
        assert key["Properties"]["EnableKeyRotation"] is True
        assert key["Properties"]["MultiRegion"] is True
        assert key["Properties"].get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"


def test_aliases_name_each_master_key_slot_the_current_one_and_the_directory_key(
    synthesized: SynthesizedApp,
) -> None:
    keys = synthesized.stack.keys
    slot_a, slot_b, directory = (
        {"Fn::GetAtt": [_id(synthesized, key), "Arn"]}
        for key in (keys.master_key, keys.second_master_key, keys.directory_key)
    )
    aliases = {
        alias["Properties"]["AliasName"]: alias["Properties"]["TargetKeyId"]
        for alias in synthesized.resources("AWS::KMS::Alias").values()
    }

    assert MASTER_KEY_ALIAS == "alias/wiresocket-master"
    assert aliases == {
        MASTER_KEY_ALIAS: slot_a,  # the current slot; a rotation re-points it
        MASTER_KEY_SLOT_ALIASES[0]: slot_a,
        MASTER_KEY_SLOT_ALIASES[1]: slot_b,
        DIRECTORY_KEY_ALIAS: directory,
    }


@pytest.mark.parametrize("slot", ["master_key", "second_master_key"])
def test_master_key_policy_denies_every_crypto_use_without_tenant_and_kid_context(
    synthesized: SynthesizedApp, slot: str
) -> None:
    # Either slot may be the current one: both must refuse context-free use alike.
    master = _id(synthesized, getattr(synthesized.stack.keys, slot))
    policy = synthesized.template_json["Resources"][master]["Properties"]["KeyPolicy"]
    denies = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    crypto = {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo"}

    conditions = [statement["Condition"] for statement in denies]
    assert {"Null": {"kms:EncryptionContext:tenantId": "true"}} in conditions
    assert {"Null": {"kms:EncryptionContext:kid": "true"}} in conditions
    assert {"ForAnyValue:StringNotEquals": {"kms:EncryptionContextKeys": ["tenantId", "kid"]}} in conditions
    for statement in denies:
        assert statement["Principal"] == {"AWS": "*"}
        assert crypto <= set(_actions(statement))


# --- Audit bus --------------------------------------------------------------------------------------------------


def test_audit_bus_is_named_from_the_layer_and_archived(synthesized: SynthesizedApp) -> None:
    bus = synthesized.logical_id(synthesized.stack.audit.bus.node.default_child)

    synthesized.template.has_resource_properties("AWS::Events::EventBus", {"Name": AUDIT_BUS_NAME})
    synthesized.template.has_resource_properties(
        "AWS::Events::Archive",
        {
            "SourceArn": {"Fn::GetAtt": [bus, "Arn"]},
            "EventPattern": {"source": [AUDIT_SOURCE]},
            "RetentionDays": 365,
        },
    )


def test_audit_bus_has_no_resource_policy(synthesized: SynthesizedApp) -> None:
    # Only principals of this account with an IAM grant (outbox, token, admin, key maintenance) may publish.
    synthesized.template.resource_count_is("AWS::Events::EventBusPolicy", 0)
    assert "Policy" not in next(iter(synthesized.resources("AWS::Events::EventBus").values()))["Properties"]


# --- Layer and functions ----------------------------------------------------------------------------------------


def test_every_control_plane_function_with_a_settings_model_is_deployed(synthesized: SynthesizedApp) -> None:
    # Data-plane functions (DATA_PLANE_FUNCTIONS) are left to the regional stacks; every other settings model
    # must be a function of this stack, and nothing else is.
    control_plane = set(FUNCTION_SETTINGS) - DATA_PLANE_FUNCTIONS

    assert set(synthesized.stack.functions) == set(DEPLOYED_FUNCTIONS) == control_plane
    assert not set(synthesized.stack.functions) & DATA_PLANE_FUNCTIONS


def test_layer_is_for_the_functions_runtime_and_architecture(synthesized: SynthesizedApp) -> None:
    layer = synthesized.logical_id(synthesized.stack.layer.layer.node.default_child)

    synthesized.template.has_resource_properties(
        "AWS::Lambda::LayerVersion",
        {"CompatibleRuntimes": [RUNTIME.name], "CompatibleArchitectures": ["arm64"]},
    )
    for name in DEPLOYED_FUNCTIONS:
        assert _function(synthesized, name)["Properties"]["Layers"] == [{"Ref": layer}]


@pytest.mark.parametrize("name", DEPLOYED_FUNCTIONS)
def test_function_runs_the_thin_handler_on_arm64(synthesized: SynthesizedApp, name: str) -> None:
    properties = _function(synthesized, name)["Properties"]

    assert properties["Handler"] == "handler.handler"
    assert properties["Runtime"] == RUNTIME.name
    assert properties["Runtime"] in {"python3.12", "python3.13"}
    assert properties["Architectures"] == ["arm64"]


@pytest.mark.parametrize("name", DEPLOYED_FUNCTIONS)
def test_function_environment_is_exactly_its_settings_model(synthesized: SynthesizedApp, name: str) -> None:
    variables = _function(synthesized, name)["Properties"]["Environment"]["Variables"]

    assert set(variables) == FUNCTION_SETTINGS[name].env_names()


@pytest.mark.parametrize("name", DEPLOYED_FUNCTIONS)
def test_function_environment_points_at_the_deployed_resources(synthesized: SynthesizedApp, name: str) -> None:
    variables = _function(synthesized, name)["Properties"]["Environment"]["Variables"]
    table = synthesized.logical_id(synthesized.stack.directory.table.node.default_child)
    bus = synthesized.logical_id(synthesized.stack.audit.bus.node.default_child)
    rate_limits = synthesized.logical_id(synthesized.stack.rate_limits.table.node.default_child)
    idempotency = synthesized.logical_id(synthesized.stack.idempotency.table.node.default_child)
    expected = {
        names.ENV_REGION: "eu-west-1",
        names.ENV_DIRECTORY_TABLE: {"Ref": table},
        names.ENV_AUDIT_BUS: {"Ref": bus},
        names.ENV_RATE_LIMIT_TABLE: {"Ref": rate_limits},
        names.ENV_IDEMPOTENCY_TABLE: {"Ref": idempotency},
        names.ENV_MASTER_KEY_ID: MASTER_KEY_ALIAS,
    }

    for variable, value in expected.items():
        if variable in variables:
            assert variables[variable] == value


@pytest.mark.parametrize("name", ["token", "admin", "key_maintenance"])
def test_master_key_is_configured_as_the_alias_never_a_key_arn(synthesized: SynthesizedApp, name: str) -> None:
    # After a master-key rotation re-points the alias, new data keys must follow it to the new slot.
    variables = _function(synthesized, name)["Properties"]["Environment"]["Variables"]
    settings_default = next(
        field.default for field in dataclasses.fields(KeyVaultSettings) if field.name == "master_key_id"
    )

    assert variables[names.ENV_MASTER_KEY_ID] == MASTER_KEY_ALIAS == settings_default


@pytest.mark.parametrize("name", ["jwks", "token", "admin"])
def test_issuer_is_the_control_plane_stage_url(synthesized: SynthesizedApp, name: str) -> None:
    # jwks (discovery), token (the `iss` claim) and admin (verifying dashboard tokens) agree on one issuer.
    api = synthesized.logical_id(synthesized.stack.control_api.api.node.default_child)
    issuer = _function(synthesized, name)["Properties"]["Environment"]["Variables"][names.ENV_ISSUER_BASE]

    rendered = json.dumps(issuer)
    assert rendered.startswith('{"Fn::Join": ["", ["https://", {"Ref": "' + api + '"}')
    assert rendered.endswith(f'"/{STAGE_NAME}"]]}}')


@pytest.mark.parametrize(("name", "memory"), [("token", TOKEN_MEMORY_MB), ("admin", ADMIN_MEMORY_MB)])
def test_password_hashing_functions_have_memory_for_argon2id(
    synthesized: SynthesizedApp, name: str, memory: int
) -> None:
    # Argon2id costs 64 MiB per hash, and Lambda allots CPU in proportion to memory.
    properties = _function(synthesized, name)["Properties"]

    assert memory >= 1024
    assert properties["MemorySize"] == memory


def test_routed_functions_finish_within_the_api_gateway_integration_timeout(synthesized: SynthesizedApp) -> None:
    for name in {route.function for route in CONTROL_PLANE_ROUTES}:
        assert _function(synthesized, name)["Properties"]["Timeout"] < API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS


def test_function_logs_have_a_retention(synthesized: SynthesizedApp) -> None:
    for name in DEPLOYED_FUNCTIONS:
        log_group = _function(synthesized, name)["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert synthesized.template_json["Resources"][log_group]["Properties"]["RetentionInDays"] > 0


# --- Least privilege ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DEPLOYED_FUNCTIONS)
def test_no_function_role_has_managed_policies_or_wildcard_resources(synthesized: SynthesizedApp, name: str) -> None:
    service_function = synthesized.stack.functions[name]
    role_id = synthesized.logical_id(service_function.role.node.default_child)

    assert "ManagedPolicyArns" not in synthesized.template_json["Resources"][role_id]["Properties"]
    for statement in _statements(synthesized, service_function.role):
        assert statement["Effect"] == "Allow"
        assert statement["Resource"] != "*"
        assert not any(action.endswith("*") for action in _actions(statement))
        for action in _actions(statement):
            for resource in _resource_names(statement["Resource"]):
                if "*" in resource:
                    assert (name, action, resource) in _documented_wildcards(statement), (name, action, resource)


_KEY_BY_ALIAS = re.compile(r'^arn:aws:kms:([a-z0-9-]+):\{"Ref": "AWS::AccountId"\}:key/\*$')
_OTHER_REGION_CONNECTIONS = re.compile(
    r'^arn:aws:execute-api:([a-z0-9-]+):\{"Ref": "AWS::AccountId"\}:\*/v1/DELETE/@connections/\*$'
)


def _documented_wildcards(statement: dict[str, Any]) -> set[tuple[str, str, str]]:
    """The only wildcards a global function may hold (cdk/constructs/regional_access.py), with their narrowing.

    - a table key of another region, ``key/*``, only with ``kms:ResourceAliases`` = the regional key alias and
      ``kms:ViaService`` = DynamoDB in that same region (admin, for the connections tables);
    - ``execute-api:ManageConnections`` on ``*/v1/DELETE/@connections/*`` of a deployed region (admin closes
      sessions held by every region's WebSocket API, whose ids are random).
    """
    allowed: set[tuple[str, str, str]] = set()
    condition = statement.get("Condition", {})
    for resource in _resource_names(statement["Resource"]):
        key = _KEY_BY_ALIAS.match(resource)
        if key and condition == {
            "StringEquals": {"kms:ViaService": f"dynamodb.{key.group(1)}.amazonaws.com"},
            "ForAnyValue:StringEquals": {"kms:ResourceAliases": [REGIONAL_KEY_ALIAS]},
        }:
            allowed.update(("admin", action, resource) for action in _actions(statement) if action.startswith("kms:"))
        api = _OTHER_REGION_CONNECTIONS.match(resource)
        if api and api.group(1) in DEPLOYED_AWS_REGIONS and not condition:
            allowed.update(
                ("admin", action, resource)
                for action in _actions(statement)
                if action == "execute-api:ManageConnections"
            )
    return allowed


def test_jwks_only_reads_the_directory_and_never_uses_the_master_key(synthesized: SynthesizedApp) -> None:
    master = synthesized.logical_id(synthesized.stack.keys.master_key.node.default_child)
    statements = _statements(synthesized, synthesized.stack.jwks.role)
    actions = {action for statement in statements for action in _actions(statement)}

    assert master not in _get_att_arns(statements)
    assert not actions & {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:Scan",
        "events:PutEvents",
    }
    assert {"dynamodb:GetItem", "dynamodb:Query"} <= actions
    assert {a for a in actions if a.startswith("kms:")} <= {"kms:Decrypt", "kms:DescribeKey"}


@pytest.mark.parametrize("name", ["jwks", "token", "admin", "key_maintenance"])
def test_table_key_is_only_usable_through_dynamodb(synthesized: SynthesizedApp, name: str) -> None:
    directory_key = synthesized.logical_id(synthesized.stack.keys.directory_key.node.default_child)

    for statement in _statements(synthesized, synthesized.stack.functions[name].role):
        if directory_key in _get_att_arns(statement["Resource"]):
            assert statement["Condition"] == {"StringEquals": {"kms:ViaService": "dynamodb.eu-west-1.amazonaws.com"}}


def test_outbox_uses_the_table_key_outside_dynamodb_only_to_read_the_stream(synthesized: SynthesizedApp) -> None:
    # CDK's stream-read grant (DynamoEventSource) adds kms:Decrypt/DescribeKey on the table key without a
    # kms:ViaService condition; everything else the outbox may do with the key goes through DynamoDB.
    directory_key = synthesized.logical_id(synthesized.stack.keys.directory_key.node.default_child)
    unconditioned = {
        (action, resource)
        for action, resource, condition in _grants(_statements(synthesized, synthesized.stack.outbox.role))
        if resource == directory_key and condition == json.dumps(None)
    }

    assert unconditioned <= {("kms:Decrypt", directory_key), ("kms:DescribeKey", directory_key)}


MASTER_ALIAS_ARN = 'arn:aws:kms:eu-west-1:{"Ref": "AWS::AccountId"}:' + MASTER_KEY_ALIAS
"""``alias/wiresocket-master``'s ARN as ``_resource_names`` renders it."""

MASTER_KEY_USE = {
    "token": {("kms:Decrypt", ENVELOPE_CONDITION)},
    "admin": {
        ("kms:Decrypt", ENVELOPE_CONDITION),
        ("kms:GenerateDataKey", ENVELOPE_CONDITION),
        ("kms:ReEncryptFrom", ENVELOPE_CONDITION),
        ("kms:ReEncryptTo", ENVELOPE_CONDITION),
        ("kms:UpdateAlias", NO_CONDITION),
        ("kms:DescribeKey", NO_CONDITION),
    },
    "key_maintenance": {("kms:GenerateDataKey", ENVELOPE_CONDITION), ("kms:Decrypt", ENVELOPE_CONDITION)},
}
"""Function -> (action, condition) it may use on *each* master-key slot. No other function touches them."""


def _all_iam_statements(synthesized: SynthesizedApp) -> list[dict[str, Any]]:
    """Every statement of every identity policy in the template (inline role policies included)."""
    statements: list[dict[str, Any]] = []
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    for role in synthesized.resources("AWS::IAM::Role").values():
        for inline in role["Properties"].get("Policies", []):
            statements.extend(inline["PolicyDocument"]["Statement"])
    return statements


def test_master_key_slots_are_used_only_by_the_key_functions_and_only_as_listed(synthesized: SynthesizedApp) -> None:
    slots = _master_slots(synthesized)
    roles = {
        name: _id(synthesized, service_function.role) for name, service_function in synthesized.stack.functions.items()
    }
    users = {
        role["Ref"]
        for policy in synthesized.resources("AWS::IAM::Policy").values()
        if _get_att_arns(policy["Properties"]["PolicyDocument"]) & slots
        for role in policy["Properties"]["Roles"]
    }

    assert users == {roles[name] for name in MASTER_KEY_USE}
    for name, uses in MASTER_KEY_USE.items():
        grants = _grants(_statements(synthesized, synthesized.stack.functions[name].role))
        on_slots = {grant for grant in grants if grant[1] in slots}
        assert on_slots == {(action, slot, condition) for action, condition in uses for slot in slots}, name


def test_no_role_may_create_kms_keys_or_aliases_or_change_key_policies(synthesized: SynthesizedApp) -> None:
    # Rotation targets are created by this stack (the standby slot); no function creates or destroys keys.
    actions = {action for statement in _all_iam_statements(synthesized) for action in _actions(statement)}

    assert not actions & FORBIDDEN_KMS_ACTIONS
    assert not any(action.startswith("kms:") and "*" in action for action in actions)


def test_only_admin_may_update_an_alias_and_only_the_master_alias_between_the_two_slots(
    synthesized: SynthesizedApp,
) -> None:
    admin_role = _id(synthesized, synthesized.stack.admin.role)
    updating = [
        (policy["Properties"]["Roles"], statement)
        for policy in synthesized.resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "kms:UpdateAlias" in _actions(statement)
    ]

    (roles, statement), *others = updating
    assert others == []
    assert roles == [{"Ref": admin_role}]
    assert _actions(statement) == ["kms:UpdateAlias"]
    assert "Condition" not in statement
    # AWS authorizes UpdateAlias against the alias and both the current and the new target key.
    assert _resource_names(statement["Resource"]) == {MASTER_ALIAS_ARN, *_master_slots(synthesized)}


def test_only_the_maintenance_paths_may_scan_and_only_the_directory_base_table(synthesized: SynthesizedApp) -> None:
    directory = _id(synthesized, synthesized.stack.directory.table)
    scanning = {
        name: {
            resource for action, resource, _ in _grants(_statements(synthesized, f.role)) if action == "dynamodb:Scan"
        }
        for name, f in synthesized.stack.functions.items()
    }

    # The master-key re-wrap and its progress report walk every signing key; nothing else scans (the key
    # maintenance job finds tenants through the gsi1 listing).
    assert {name: resources for name, resources in scanning.items() if resources} == {"admin": {directory}}


def test_the_client_secret_pepper_context_passes_the_master_key_conditions() -> None:
    # The token function unwraps the pepper with {tenantId: platform tenant, kid: "client-secret-pepper"}: the
    # same two keys as every tenant key, so the grant above (and the key policy's denies) admit it.
    from wiresocket.services.pepper import PEPPER_CONTEXT

    assert PEPPER_CONTEXT == {"tenantId": PLATFORM_TENANT_ID, "kid": "client-secret-pepper"}
    assert set(PEPPER_CONTEXT) == set(ENCRYPTION_CONTEXT_KEYS)


def _logs(synthesized: SynthesizedApp, name: str) -> set[tuple[str, str, str]]:
    log_group = _id(synthesized, synthesized.stack.functions[name].log_group)
    return {(action, log_group, NO_CONDITION) for action in ("logs:CreateLogStream", "logs:PutLogEvents")}


def _read_write(synthesized: SynthesizedApp, *tables: Any) -> set[tuple[str, str, str]]:
    """The grants of ``SpecTable.grant_read_write`` on each of ``tables`` (table, its indexes, the table key)."""
    resources = {
        resource
        for table in tables
        for resource in (
            _id(synthesized, table.table),
            *(f"{_id(synthesized, table.table)}/index/{index.name}" for index in table.spec.indexes),
        )
    }
    table_key = _id(synthesized, synthesized.stack.keys.directory_key)
    return {
        *((action, resource, NO_CONDITION) for action in TABLE_ACTIONS for resource in resources),
        *((action, table_key, VIA_DYNAMODB) for action in TABLE_KEY_ACTIONS),
    }


def _on_slots(synthesized: SynthesizedApp, name: str) -> set[tuple[str, str, str]]:
    return {
        (action, slot, condition) for action, condition in MASTER_KEY_USE[name] for slot in _master_slots(synthesized)
    }


def test_token_role_grants_exactly_what_the_token_endpoints_use(synthesized: SynthesizedApp) -> None:
    stack = synthesized.stack
    bus = _id(synthesized, stack.audit.bus)
    expected = {
        *_logs(synthesized, "token"),
        *_read_write(synthesized, stack.directory, stack.rate_limits),
        *_on_slots(synthesized, "token"),
        ("events:PutEvents", bus, NO_CONDITION),
    }

    grants = _grants(_statements(synthesized, stack.token.role))

    assert grants == expected
    # The master keys are only ever unwrapped: no data keys are generated, nothing is re-wrapped.
    slots = _master_slots(synthesized)
    assert {action for action, resource, _ in grants if resource in slots} == {"kms:Decrypt"}
    table_key = _id(synthesized, stack.keys.directory_key)
    assert not any(action.startswith("kms:GenerateDataKey") for action, resource, _ in grants if resource != table_key)
    assert not any(action == "dynamodb:Scan" for action, _, _ in grants)


def test_admin_role_grants_exactly_what_the_admin_api_uses(synthesized: SynthesizedApp) -> None:
    stack = synthesized.stack
    directory = _id(synthesized, stack.directory.table)
    bus = _id(synthesized, stack.audit.bus)
    expected = {
        *_logs(synthesized, "admin"),
        *_read_write(synthesized, stack.directory, stack.rate_limits, stack.idempotency),
        ("dynamodb:Scan", directory, NO_CONDITION),
        *_on_slots(synthesized, "admin"),
        ("kms:UpdateAlias", MASTER_ALIAS_ARN, NO_CONDITION),
        ("events:PutEvents", bus, NO_CONDITION),
        *_termination_everywhere(),
    }

    grants = _grants(_statements(synthesized, stack.admin.role))

    assert grants == expected


def _termination_everywhere() -> set[tuple[str, str, str]]:
    """Admin's own session termination: every deployed region's connections table (find, read, forget), its
    usage table (give back the counters a forgotten record raised: read the user count, update the counters) and
    the DELETE @connections route of every region's WebSocket API."""
    account = '{"Ref": "AWS::AccountId"}'
    grants: set[tuple[str, str, str]] = set()
    for region in DEPLOYED_AWS_REGIONS:
        table = f"arn:aws:dynamodb:{region}:{account}:table/{names.CONNECTIONS_TABLE.default_name}"
        resources = {table, *(f"{table}/index/{index.name}" for index in names.CONNECTIONS_TABLE.indexes)}
        grants.update(
            (action, r, NO_CONDITION)
            for action in ("dynamodb:Query", "dynamodb:GetItem", "dynamodb:DeleteItem")
            for r in resources
        )
        usage = f"arn:aws:dynamodb:{region}:{account}:table/{names.USAGE_TABLE.default_name}"
        usage_resources = {usage, *(f"{usage}/index/{index.name}" for index in names.USAGE_TABLE.indexes)}
        grants.update(
            (action, r, NO_CONDITION) for action in ("dynamodb:GetItem", "dynamodb:UpdateItem") for r in usage_resources
        )
        key_condition = json.dumps(
            {
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": [REGIONAL_KEY_ALIAS]},
                "StringEquals": {"kms:ViaService": f"dynamodb.{region}.amazonaws.com"},
            },
            sort_keys=True,
        )
        # Read for the connections table, write for the usage table: the same regional key, so the union.
        grants.update(
            (action, f"arn:aws:kms:{region}:{account}:key/*", key_condition)
            for action in (
                "kms:Decrypt",
                "kms:DescribeKey",
                "kms:Encrypt",
                "kms:GenerateDataKey",
                "kms:GenerateDataKeyWithoutPlaintext",
                "kms:ReEncryptFrom",
                "kms:ReEncryptTo",
            )
        )
        grants.add(
            (
                "execute-api:ManageConnections",
                f"arn:aws:execute-api:{region}:{account}:*/v1/DELETE/@connections/*",
                NO_CONDITION,
            )
        )
    return grants


def test_key_maintenance_role_grants_exactly_what_the_job_uses(synthesized: SynthesizedApp) -> None:
    stack = synthesized.stack
    bus = _id(synthesized, stack.audit.bus)
    expected = {
        *_logs(synthesized, "key_maintenance"),
        *_read_write(synthesized, stack.directory),
        *_on_slots(synthesized, "key_maintenance"),
        ("events:PutEvents", bus, NO_CONDITION),
    }

    grants = _grants(_statements(synthesized, stack.key_maintenance.role))

    assert grants == expected
    # It never re-wraps under a master key: that is the operator's master-key rotation.
    slots = _master_slots(synthesized)
    assert not any(action.startswith("kms:ReEncrypt") for action, resource, _ in grants if resource in slots)


def test_outbox_writes_the_directory_and_publishes_only_on_the_audit_bus(synthesized: SynthesizedApp) -> None:
    bus = synthesized.logical_id(synthesized.stack.audit.bus.node.default_child)
    table = synthesized.logical_id(synthesized.stack.directory.table.node.default_child)
    statements = _statements(synthesized, synthesized.stack.outbox.role)
    put_events = [s for s in statements if "events:PutEvents" in _actions(s)]
    writes = [s for s in statements if "dynamodb:UpdateItem" in _actions(s)]

    assert [s["Resource"] for s in put_events] == [{"Fn::GetAtt": [bus, "Arn"]}]
    assert len(writes) == 1
    assert table in _get_att_arns(writes[0]["Resource"])


# --- Outbox triggers --------------------------------------------------------------------------------------------


def test_outbox_runs_from_the_directory_stream_only_for_pending_items(synthesized: SynthesizedApp) -> None:
    table = synthesized.logical_id(synthesized.stack.directory.table.node.default_child)
    outbox = synthesized.logical_id(synthesized.stack.outbox.function.node.default_child)
    (mapping,) = synthesized.resources("AWS::Lambda::EventSourceMapping").values()
    properties = mapping["Properties"]
    (pattern,) = (json.loads(f["Pattern"]) for f in properties["FilterCriteria"]["Filters"])

    assert properties["EventSourceArn"] == {"Fn::GetAtt": [table, "StreamArn"]}
    assert properties["FunctionName"] == {"Ref": outbox}
    assert properties["StartingPosition"] == "TRIM_HORIZON"
    assert pattern["dynamodb"]["NewImage"]["outbox_pending"] == {"S": [{"exists": True}]}
    assert set(pattern["eventName"]) == {"INSERT", "MODIFY"}


def test_outbox_sweeps_every_minute(synthesized: SynthesizedApp) -> None:
    outbox = synthesized.logical_id(synthesized.stack.outbox.function.node.default_child)

    synthesized.template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(1 minute)",
            "State": "ENABLED",
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [outbox, "Arn"]}})],
        },
    )


# --- Key maintenance schedule -----------------------------------------------------------------------------------


def test_key_maintenance_runs_hourly_without_overlapping_retries(synthesized: SynthesizedApp) -> None:
    job = _id(synthesized, synthesized.stack.key_maintenance.function)
    rule = synthesized.template_json["Resources"][_id(synthesized, synthesized.stack.key_schedule.schedule)]
    (target,) = rule["Properties"]["Targets"]
    (invoke_config,) = (
        config["Properties"]
        for config in synthesized.resources("AWS::Lambda::EventInvokeConfig").values()
        if config["Properties"]["FunctionName"] == {"Ref": job}
    )

    assert rule["Properties"]["ScheduleExpression"] == "rate(1 hour)"
    assert rule["Properties"]["State"] == "ENABLED"
    assert target["Arn"] == {"Fn::GetAtt": [job, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0
    assert invoke_config["MaximumRetryAttempts"] == 0  # the next hourly run is the retry


def test_key_maintenance_is_invoked_only_by_its_schedule(synthesized: SynthesizedApp) -> None:
    job = _id(synthesized, synthesized.stack.key_maintenance.function)
    rule = _id(synthesized, synthesized.stack.key_schedule.schedule)
    permissions = [
        permission["Properties"]
        for permission in synthesized.resources("AWS::Lambda::Permission").values()
        if permission["Properties"]["FunctionName"] == {"Fn::GetAtt": [job, "Arn"]}
    ]

    assert [(p["Principal"], p["SourceArn"]) for p in permissions] == [
        ("events.amazonaws.com", {"Fn::GetAtt": [rule, "Arn"]})
    ]
    assert "key_maintenance" not in {route.function for route in CONTROL_PLANE_ROUTES}


# --- Control-plane REST API -------------------------------------------------------------------------------------


def _resource_path(synthesized: SynthesizedApp, resource_ref: Any) -> str:
    resources = synthesized.template_json["Resources"]
    parts: list[str] = []
    while isinstance(resource_ref, dict) and "Ref" in resource_ref:
        resource = resources[resource_ref["Ref"]]["Properties"]
        parts.append(resource["PathPart"])
        resource_ref = resource["ParentId"]
    return "/" + "/".join(reversed(parts))


def _deployed_methods(synthesized: SynthesizedApp) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method["Properties"]["HttpMethod"], _resource_path(synthesized, method["Properties"]["ResourceId"])): method[
            "Properties"
        ]
        for method in synthesized.resources("AWS::ApiGateway::Method").values()
    }


def test_rest_api_is_regional(synthesized: SynthesizedApp) -> None:
    synthesized.template.has_resource_properties(
        "AWS::ApiGateway::RestApi", {"EndpointConfiguration": {"Types": ["REGIONAL"]}}
    )


def test_every_control_plane_route_is_deployed_and_nothing_else(synthesized: SynthesizedApp) -> None:
    # A route whose function the stack does not deploy is left out and reported; cdk/app.py refuses it.
    assert synthesized.stack.control_api.unrouted == []
    assert set(_deployed_methods(synthesized)) == {(r.method, r.resource) for r in CONTROL_PLANE_ROUTES}


def test_each_deployed_route_proxies_to_its_function(synthesized: SynthesizedApp) -> None:
    methods = _deployed_methods(synthesized)
    function_ids = {
        name: synthesized.logical_id(service_function.function.node.default_child)
        for name, service_function in synthesized.stack.functions.items()
    }

    for route in CONTROL_PLANE_ROUTES:
        if (route.method, route.resource) not in methods:
            continue  # reported by test_every_control_plane_route_is_deployed_and_nothing_else
        method = methods[(route.method, route.resource)]
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert _get_att_arns(method["Integration"]["Uri"]) == {function_ids[route.function]}
        required = {f"method.request.path.{name}": True for name in path_parameters(route.resource)}
        assert method.get("RequestParameters", {}) == required
        assert "RequestValidatorId" in method


@pytest.mark.parametrize(
    ("method", "resource", "function"),
    [
        ("POST", "/connect/token", "token"),
        ("POST", "/connect/revocation", "token"),
        ("POST", "/connect/introspect", "token"),
        ("GET", "/{tenantId}/.well-known/openid-configuration", "jwks"),
        *((method, resource, "admin") for method, resource in ADMIN_ROUTES),
    ],
)
def test_oauth_discovery_and_admin_routes_are_lambda_proxy_methods(
    synthesized: SynthesizedApp, method: str, resource: str, function: str
) -> None:
    deployed = _deployed_methods(synthesized)[(method, resource)]
    function_id = _id(synthesized, synthesized.stack.functions[function].function)
    # execute-api ARNs put `*` for path parameters (greedy ones included) and for the method ANY.
    source_path = re.sub(r"\{[^}]+\}", "*", resource)
    source_method = "*" if method == "ANY" else method
    invoke = [
        permission["Properties"]
        for permission in synthesized.resources("AWS::Lambda::Permission").values()
        if permission["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
        and json.dumps(permission["Properties"]["SourceArn"]).endswith(f'"/{source_method}{source_path}"]]}}')
    ]

    assert deployed["AuthorizationType"] == "NONE"  # authenticated in the function, or public by protocol
    assert deployed["Integration"]["Type"] == "AWS_PROXY"
    assert deployed["Integration"]["IntegrationHttpMethod"] == "POST"
    assert _get_att_arns(deployed["Integration"]["Uri"]) == {function_id}
    assert len(invoke) == 1, "API Gateway may invoke the function for this route, on the deployed stage only"
    assert function in UNAUTHENTICATED_FUNCTIONS


def test_admin_routes_are_those_of_the_admin_contract() -> None:
    # docs/admin-api.md: the public routes, and everything under /admin/ and /platform/, go to `admin`.
    admin_routes = {(route.method, route.resource) for route in CONTROL_PLANE_ROUTES if route.function == "admin"}

    assert admin_routes == set(ADMIN_ROUTES)


@pytest.mark.parametrize("resource", ["/admin/{proxy+}", "/platform/{proxy+}"])
def test_admin_proxy_routes_are_greedy_and_require_a_path_below_their_prefix(
    synthesized: SynthesizedApp, resource: str
) -> None:
    deployed = _deployed_methods(synthesized)[("ANY", resource)]
    (path_part,) = (
        r["Properties"]["PathPart"]
        for logical_id, r in synthesized.resources("AWS::ApiGateway::Resource").items()
        if {"Ref": logical_id} == deployed["ResourceId"]
    )

    assert path_part == "{proxy+}"
    assert deployed["RequestParameters"] == {"method.request.path.proxy": True}
    # The bare prefix (`/admin`) has no method: API Gateway answers it itself, no function runs.
    assert ("ANY", resource.removesuffix("/{proxy+}")) not in _deployed_methods(synthesized)


def test_lambda_permissions_are_scoped_to_the_stage_and_never_test_invoke(synthesized: SynthesizedApp) -> None:
    stage = synthesized.logical_id(synthesized.stack.control_api.api.deployment_stage.node.default_child)

    for permission in synthesized.resources("AWS::Lambda::Permission").values():
        properties = permission["Properties"]
        if properties["Principal"] != "apigateway.amazonaws.com":
            continue
        assert {"Ref": stage} in properties["SourceArn"]["Fn::Join"][1]
        assert "test-invoke-stage" not in json.dumps(properties["SourceArn"])


def test_request_validator_checks_parameters(synthesized: SynthesizedApp) -> None:
    synthesized.template.has_resource_properties(
        "AWS::ApiGateway::RequestValidator", {"ValidateRequestParameters": True}
    )


def test_stage_logs_access_in_json_and_never_request_bodies(synthesized: SynthesizedApp) -> None:
    access_logs = synthesized.logical_id(synthesized.stack.control_api.access_logs.node.default_child)
    (stage,) = synthesized.resources("AWS::ApiGateway::Stage").values()
    properties = stage["Properties"]
    (settings,) = properties["MethodSettings"]

    assert properties["StageName"] == STAGE_NAME
    assert access_logs in json.dumps(properties["AccessLogSetting"]["DestinationArn"])
    assert json.loads(properties["AccessLogSetting"]["Format"])["requestId"] == "$context.requestId"
    assert settings["HttpMethod"] == "*"
    assert settings["ResourcePath"] == "/*"
    assert settings["LoggingLevel"] == "ERROR"
    assert settings["DataTraceEnabled"] is False  # token requests carry client secrets and passwords
    assert settings["MetricsEnabled"] is True
    assert settings["ThrottlingRateLimit"] > 0
    assert settings["ThrottlingBurstLimit"] >= settings["ThrottlingRateLimit"]


def test_stage_is_behind_the_web_acl(synthesized: SynthesizedApp) -> None:
    stage = synthesized.logical_id(synthesized.stack.control_api.api.deployment_stage.node.default_child)
    web_acl = synthesized.logical_id(synthesized.stack.control_api.web_acl.web_acl)
    (association,) = synthesized.resources("AWS::WAFv2::WebACLAssociation").values()

    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [web_acl, "Arn"]}
    assert {"Ref": stage} in association["Properties"]["ResourceArn"]["Fn::Join"][1]
    synthesized.template.has_resource_properties(
        "AWS::WAFv2::WebACL",
        {
            "Scope": "REGIONAL",
            "Rules": Match.array_with(
                [
                    Match.object_like(
                        {"Statement": {"RateBasedStatement": {"AggregateKeyType": "IP", "Limit": Match.any_value()}}}
                    )
                ]
            ),
        },
    )
