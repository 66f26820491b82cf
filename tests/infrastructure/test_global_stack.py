"""The global stack's resources, construct by construct, against the layer's single sources of truth."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match

from cdk.constructs.control_api import STAGE_NAME, path_parameters
from cdk.constructs.function import RUNTIME
from cdk.constructs.keys import DIRECTORY_KEY_ALIAS, MASTER_KEY_ALIAS
from tests.infrastructure.conftest import SynthesizedApp
from wiresocket import names
from wiresocket.config import FUNCTION_SETTINGS
from wiresocket.names import AUDIT_BUS_NAME, AUDIT_SOURCE, CONTROL_PLANE_ROUTES, DIRECTORY_TABLE

DEPLOYED_FUNCTIONS = ("jwks", "outbox")


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
    service_function = {"jwks": synthesized.stack.jwks, "outbox": synthesized.stack.outbox}[name]
    logical_id = synthesized.logical_id(service_function.function.node.default_child)
    resource: dict[str, Any] = synthesized.template_json["Resources"][logical_id]
    return resource


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

    synthesized.template.has_resource(
        "AWS::DynamoDB::GlobalTable",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS"},
                "Replicas": [
                    Match.object_like(
                        {
                            "Region": "eu-west-1",
                            "DeletionProtectionEnabled": True,
                            "PointInTimeRecoverySpecification": {
                                "PointInTimeRecoveryEnabled": True,
                                "RecoveryPeriodInDays": 35,
                            },
                            "SSESpecification": {"KMSMasterKeyId": {"Fn::GetAtt": [directory_key, "Arn"]}},
                        }
                    )
                ],
            },
        },
    )


# --- KMS keys ---------------------------------------------------------------------------------------------------


def test_both_keys_are_symmetric_multi_region_rotated_and_retained(synthesized: SynthesizedApp) -> None:
    keys = synthesized.resources("AWS::KMS::Key")

    assert len(keys) == 2
    for key in keys.values():
        assert key["DeletionPolicy"] == "Retain"
        assert key["Properties"]["EnableKeyRotation"] is True
        assert key["Properties"]["MultiRegion"] is True
        assert key["Properties"].get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"


def test_aliases_name_the_master_and_directory_keys(synthesized: SynthesizedApp) -> None:
    master = synthesized.logical_id(synthesized.stack.keys.master_key.node.default_child)
    directory = synthesized.logical_id(synthesized.stack.keys.directory_key.node.default_child)

    assert MASTER_KEY_ALIAS == "alias/wiresocket-master"
    synthesized.template.has_resource_properties(
        "AWS::KMS::Alias", {"AliasName": MASTER_KEY_ALIAS, "TargetKeyId": {"Fn::GetAtt": [master, "Arn"]}}
    )
    synthesized.template.has_resource_properties(
        "AWS::KMS::Alias", {"AliasName": DIRECTORY_KEY_ALIAS, "TargetKeyId": {"Fn::GetAtt": [directory, "Arn"]}}
    )


def test_master_key_policy_denies_every_crypto_use_without_tenant_and_kid_context(
    synthesized: SynthesizedApp,
) -> None:
    master = synthesized.logical_id(synthesized.stack.keys.master_key.node.default_child)
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
    # Only principals of this account with an IAM grant (the outbox) may publish.
    synthesized.template.resource_count_is("AWS::Events::EventBusPolicy", 0)
    assert "Policy" not in next(iter(synthesized.resources("AWS::Events::EventBus").values()))["Properties"]


# --- Layer and functions ----------------------------------------------------------------------------------------


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
    expected = {
        names.ENV_REGION: "eu-west-1",
        names.ENV_DIRECTORY_TABLE: {"Ref": table},
        names.ENV_AUDIT_BUS: {"Ref": bus},
    }

    for variable, value in expected.items():
        if variable in variables:
            assert variables[variable] == value


def test_jwks_issuer_is_the_control_plane_stage_url(synthesized: SynthesizedApp) -> None:
    api = synthesized.logical_id(synthesized.stack.control_api.api.node.default_child)
    issuer = _function(synthesized, "jwks")["Properties"]["Environment"]["Variables"][names.ENV_ISSUER_BASE]

    rendered = json.dumps(issuer)
    assert rendered.startswith('{"Fn::Join": ["", ["https://", {"Ref": "' + api + '"}')
    assert rendered.endswith(f'"/{STAGE_NAME}"]]}}')


def test_function_logs_have_a_retention(synthesized: SynthesizedApp) -> None:
    for name in DEPLOYED_FUNCTIONS:
        log_group = _function(synthesized, name)["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert synthesized.template_json["Resources"][log_group]["Properties"]["RetentionInDays"] > 0


# --- Least privilege ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DEPLOYED_FUNCTIONS)
def test_no_function_role_has_managed_policies_or_wildcard_resources(synthesized: SynthesizedApp, name: str) -> None:
    service_function = {"jwks": synthesized.stack.jwks, "outbox": synthesized.stack.outbox}[name]
    role_id = synthesized.logical_id(service_function.role.node.default_child)

    assert "ManagedPolicyArns" not in synthesized.template_json["Resources"][role_id]["Properties"]
    for statement in _statements(synthesized, service_function.role):
        assert statement["Effect"] == "Allow"
        assert statement["Resource"] != "*"
        assert "*" not in json.dumps(statement["Resource"])
        assert not any(action.endswith("*") for action in _actions(statement))


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


def test_table_key_is_only_usable_through_dynamodb(synthesized: SynthesizedApp) -> None:
    directory_key = synthesized.logical_id(synthesized.stack.keys.directory_key.node.default_child)

    for statement in _statements(synthesized, synthesized.stack.jwks.role):
        if directory_key in _get_att_arns(statement["Resource"]):
            assert statement["Condition"] == {"StringEquals": {"kms:ViaService": "dynamodb.eu-west-1.amazonaws.com"}}


def test_no_role_in_the_stack_may_use_the_master_key_yet(synthesized: SynthesizedApp) -> None:
    # Version 1 deploys no function that wraps or unwraps tenant keys.
    master = synthesized.logical_id(synthesized.stack.keys.master_key.node.default_child)

    for policy in synthesized.resources("AWS::IAM::Policy").values():
        assert master not in _get_att_arns(policy["Properties"]["PolicyDocument"])


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
        for name, service_function in {"jwks": synthesized.stack.jwks}.items()
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
