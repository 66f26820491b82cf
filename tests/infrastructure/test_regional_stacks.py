"""The multi-region app (issue 7): one global stack + one regional stack per license region, and what crosses.

The suite's app deploys ``conftest.TEST_REGIONS`` (eu-west-1 primary, us-east-1, ap-south-1), synthesized once.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk import Stack

from cdk.app import GLOBAL_STACK_NAME, build_app, cdk_json_context
from cdk.constructs.alarms import OUTBOX_ITERATOR_AGE_MS, REST_5XX_THRESHOLD
from cdk.constructs.keys import DIRECTORY_KEY_ALIAS, ENCRYPTION_CONTEXT_KEYS, MASTER_KEY_SLOT_ALIASES
from cdk.constructs.regional_access import REGIONAL_KEY_ALIAS
from cdk.constructs.tables import READ_ACTIONS, WRITE_ACTIONS
from cdk.constructs.termination import REGIONAL_BUS_NAME, TERMINATION_DETAIL_TYPES
from cdk.constructs.web_acl import PATH_RATE_LIMITS
from cdk.constructs.websocket_api import STAGE_NAME
from cdk.stacks.regional_stack import regional_stack_name
from tests.infrastructure.conftest import TEST_MASTER_KEY_ARNS, TEST_REGIONS, RegionalTemplate, SynthesizedApp
from wiresocket import names
from wiresocket.config import FUNCTION_SETTINGS
from wiresocket.names import (
    ALL_REGIONAL_TABLES,
    AUDIT_SOURCE,
    CONNECTIONS_TABLE,
    DIRECTORY_TABLE,
    USAGE_TABLE,
    aws_region_of,
)

PRIMARY = "eu-west-1"
AWS_REGIONS = tuple(sorted(aws_region_of(region) for region in TEST_REGIONS))
ACCOUNT = '{"Ref": "AWS::AccountId"}'
NO_CONDITION = json.dumps(None)
REGIONAL_FUNCTIONS = ("ws_connect", "ws_message", "terminator")
READ_KEY = ("kms:Decrypt", "kms:DescribeKey")
WRITE_KEY = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)


# --- helpers -----------------------------------------------------------------------------------------------------


def _name(item: Any) -> str:
    if isinstance(item, dict) and "Fn::GetAtt" in item:
        return str(item["Fn::GetAtt"][0])
    if isinstance(item, dict) and "Fn::Join" in item:
        return "".join(_name(part) for part in item["Fn::Join"][1])
    if isinstance(item, str):
        return item
    return json.dumps(item, sort_keys=True)


def _grants(template_json: dict[str, Any], role_id: str) -> set[tuple[str, str, str]]:
    """(action, resource, condition) of every allow statement attached to ``role_id`` by inline policies."""
    grants: set[tuple[str, str, str]] = set()
    for resource in template_json["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy" or {"Ref": role_id} not in resource["Properties"]["Roles"]:
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            condition = json.dumps(statement.get("Condition"), sort_keys=True)
            actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
            targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            grants.update((action, _name(target), condition) for action in actions for target in targets)
    return grants


def _tables(region: str, spec: names.TableSpec) -> set[str]:
    table = f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{spec.default_name}"
    return {table, *(f"{table}/index/{index.name}" for index in spec.indexes)}


def _key(region: str, alias: str, actions: tuple[str, ...]) -> set[tuple[str, str, str]]:
    condition = json.dumps(
        {
            "ForAnyValue:StringEquals": {"kms:ResourceAliases": [alias]},
            "StringEquals": {"kms:ViaService": f"dynamodb.{region}.amazonaws.com"},
        },
        sort_keys=True,
    )
    return {(action, f"arn:aws:kms:{region}:{ACCOUNT}:key/*", condition) for action in actions}


def _on(region: str, spec: names.TableSpec, actions: tuple[str, ...]) -> set[tuple[str, str, str]]:
    return {(action, resource, NO_CONDITION) for action in actions for resource in _tables(region, spec)}


def _function(regional: RegionalTemplate, name: str) -> dict[str, Any]:
    resource: dict[str, Any] = regional.template_json["Resources"][
        regional.logical_id(regional.stack.functions[name].function.node.default_child)
    ]
    return resource


def _role_id(regional: RegionalTemplate, name: str) -> str:
    return regional.logical_id(regional.stack.functions[name].role.node.default_child)


def _logs(regional: RegionalTemplate, name: str) -> set[tuple[str, str, str]]:
    log_group = regional.logical_id(regional.stack.functions[name].log_group.node.default_child)
    return {(action, log_group, NO_CONDITION) for action in ("logs:CreateLogStream", "logs:PutLogEvents")}


def _api_connections(regional: RegionalTemplate, method: str) -> tuple[str, str, str]:
    api = regional.logical_id(regional.stack.api.api.node.default_child)
    arn = (
        f'arn:aws:execute-api:{regional.stack.region}:{ACCOUNT}:{{"Ref": "{api}"}}/{STAGE_NAME}/{method}/@connections/*'
    )
    return ("execute-api:ManageConnections", arn, NO_CONDITION)


REGIONS = pytest.mark.parametrize("license_region", TEST_REGIONS)


# --- shape: 1 + N stacks ------------------------------------------------------------------------------------------


def test_three_regions_synthesize_to_one_global_stack_and_one_regional_stack_each(synthesized: SynthesizedApp) -> None:
    stacks = {child.node.id: child for child in synthesized.app.node.children if Stack.is_stack(child)}

    assert set(stacks) == {GLOBAL_STACK_NAME, *(regional_stack_name(region) for region in TEST_REGIONS)}
    assert len(stacks) == 1 + 3
    assert synthesized.stack.region == PRIMARY
    assert {region: r.stack.region for region, r in synthesized.regional.items()} == {
        region: aws_region_of(region) for region in TEST_REGIONS
    }
    manifest = json.loads((synthesized.outdir / "manifest.json").read_text(encoding="utf-8"))
    templates = {
        a["properties"]["templateFile"]
        for a in manifest["artifacts"].values()
        if a["type"] == "aws:cloudformation:stack"
    }
    assert len(templates) == 4


def test_the_global_stack_deploys_after_every_regional_stack(synthesized: SynthesizedApp) -> None:
    # Its directory replicas are encrypted with the regional keys, which must exist first.
    dependencies = {stack.stack_name for stack in synthesized.stack.dependencies}

    assert dependencies == {regional_stack_name(region) for region in TEST_REGIONS}
    for regional in synthesized.regional.values():
        assert regional.stack.dependencies == []


def test_primary_region_defaults_to_the_first_region_and_can_be_chosen_and_the_account_comes_from_context() -> None:
    # Given -c regions=... without primaryRegion (and an account), then with a primaryRegion
    # When the apps are built (not synthesized)
    default = build_app(
        context={**cdk_json_context(), "regions": "aws-us-east-1,aws-eu-west-1", "account": "111122223333"}, nag=False
    )
    chosen = build_app(
        context={**cdk_json_context(), "regions": "aws-us-east-1,aws-eu-west-1", "primaryRegion": "aws-eu-west-1"},
        nag=False,
    )

    # Then the global stack lives in the first region, or in the chosen one; only deployed regions get stacks
    assert default.global_stack.region == "us-east-1"
    assert chosen.global_stack.region == "eu-west-1"
    assert sorted(default.regional_stacks) == ["aws-eu-west-1", "aws-us-east-1"]
    assert default.global_stack.termination.regions == ("eu-west-1", "us-east-1")
    assert {default.global_stack.account, *(s.account for s in default.regional_stacks.values())} == {"111122223333"}


@pytest.mark.parametrize("account", ["12345", "1111222233334", "abcdabcdabcd"])
def test_a_malformed_account_context_is_refused(account: str) -> None:
    with pytest.raises(ValueError, match="12-digit"):
        build_app(context={**cdk_json_context(), "account": account}, nag=False)


# --- data sovereignty: where tables live --------------------------------------------------------------------------


def test_no_app_data_table_exists_in_the_global_stack(synthesized: SynthesizedApp) -> None:
    global_tables = {
        table["Properties"]["TableName"]
        for table in synthesized.template_json["Resources"].values()
        if table["Type"] in {"AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table"}
    }

    assert not global_tables & {spec.default_name for spec in ALL_REGIONAL_TABLES}


@REGIONS
def test_every_regional_table_lives_only_in_its_own_regions_stack(
    synthesized: SynthesizedApp, license_region: str
) -> None:
    regional = synthesized.regional[license_region]
    tables = regional.resources("AWS::DynamoDB::GlobalTable")
    by_name = {table["Properties"]["TableName"]: table for table in tables.values()}

    assert set(by_name) == {spec.default_name for spec in ALL_REGIONAL_TABLES}
    regional.template.resource_count_is("AWS::DynamoDB::Table", 0)
    for table in by_name.values():
        # One replica, in this stack's own region: never replicated anywhere else.
        assert [replica["Region"] for replica in table["Properties"]["Replicas"]] == [aws_region_of(license_region)]


@REGIONS
def test_connections_table_has_its_indexes_ttl_pitr_and_the_regional_key(
    synthesized: SynthesizedApp, license_region: str
) -> None:
    regional = synthesized.regional[license_region]
    key = regional.logical_id(regional.stack.key.node.default_child)
    (table,) = (
        t
        for t in regional.resources("AWS::DynamoDB::GlobalTable").values()
        if t["Properties"]["TableName"] == CONNECTIONS_TABLE.default_name
    )
    properties = table["Properties"]
    (replica,) = properties["Replicas"]

    assert {index["IndexName"] for index in properties["GlobalSecondaryIndexes"]} == {
        index.name for index in CONNECTIONS_TABLE.indexes
    }
    assert properties["TimeToLiveSpecification"] == {"AttributeName": CONNECTIONS_TABLE.ttl_attribute, "Enabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    assert replica["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert replica["DeletionProtectionEnabled"] is True
    assert replica["SSESpecification"] == {"KMSMasterKeyId": {"Fn::GetAtt": [key, "Arn"]}}
    assert table["DeletionPolicy"] == "Retain"


@REGIONS
def test_regional_key_is_rotated_retained_and_named_by_the_shared_alias(
    synthesized: SynthesizedApp, license_region: str
) -> None:
    regional = synthesized.regional[license_region]
    key = regional.logical_id(regional.stack.key.node.default_child)
    (only_key,) = regional.resources("AWS::KMS::Key").values()

    assert only_key["Properties"]["EnableKeyRotation"] is True
    assert only_key["DeletionPolicy"] == "Retain"
    regional.template.has_resource_properties(
        "AWS::KMS::Alias", {"AliasName": REGIONAL_KEY_ALIAS, "TargetKeyId": {"Fn::GetAtt": [key, "Arn"]}}
    )


# --- master-key replicas --------------------------------------------------------------------------------------------


@REGIONS
def test_master_key_slots_are_replicated_outside_the_primary_region_with_the_same_denies(
    synthesized: SynthesizedApp, license_region: str
) -> None:
    regional = synthesized.regional[license_region]
    replicas = regional.resources("AWS::KMS::ReplicaKey")
    aliases = {
        a["Properties"]["AliasName"]: a["Properties"]["TargetKeyId"]
        for a in regional.resources("AWS::KMS::Alias").values()
    }

    if aws_region_of(license_region) == PRIMARY:
        assert replicas == {}  # the primary keys live here already (global stack)
        return
    assert sorted(r["Properties"]["PrimaryKeyArn"] for r in replicas.values()) == sorted(TEST_MASTER_KEY_ARNS)
    for logical_id, replica in replicas.items():
        assert replica["DeletionPolicy"] == "Retain"
        statements = replica["Properties"]["KeyPolicy"]["Statement"]
        denies = [s["Condition"] for s in statements if s["Effect"] == "Deny"]
        for key in ENCRYPTION_CONTEXT_KEYS:
            assert {"Null": {f"kms:EncryptionContext:{key}": "true"}} in denies
        assert {"ForAnyValue:StringNotEquals": {"kms:EncryptionContextKeys": list(ENCRYPTION_CONTEXT_KEYS)}} in denies
        assert {"Fn::GetAtt": [logical_id, "Arn"]} in aliases.values()
    assert set(MASTER_KEY_SLOT_ALIASES) <= set(aliases)


def test_global_stack_outputs_the_master_key_slot_arns_for_the_replicas(synthesized: SynthesizedApp) -> None:
    slots = [synthesized.logical_id(key.node.default_child) for key in synthesized.stack.keys.master_key_slots]
    outputs = synthesized.template_json["Outputs"]

    assert outputs["MasterKeySlotArns"]["Value"] == {
        "Fn::Join": [",", [{"Fn::GetAtt": [slot, "Arn"]} for slot in slots]]
    }


# --- functions: environment, logs ---------------------------------------------------------------------------------


def _all_functions(synthesized: SynthesizedApp) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(stack, function name, its Lambda resource, the stack's resources) for every function of every stack."""
    found: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
    stacks: list[tuple[Any, dict[str, Any]]] = [(synthesized.stack, synthesized.template_json)]
    stacks += [(r.stack, r.template_json) for r in synthesized.regional.values()]
    for stack, template in stacks:
        for name, service_function in stack.functions.items():
            logical_id = stack.get_logical_id(service_function.function.node.default_child)
            found.append((stack.stack_name, name, template["Resources"][logical_id], template["Resources"]))
    return found


def test_every_function_in_every_stack_has_exactly_its_settings_models_variables(synthesized: SynthesizedApp) -> None:
    functions = _all_functions(synthesized)
    lambdas = sum(
        1
        for template in [synthesized.template_json, *(r.template_json for r in synthesized.regional.values())]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
    )

    assert len(functions) == lambdas  # no function escapes the check (CDK adds no helper functions either)
    for stack_name, name, resource, _ in functions:
        # ws_message runs on ws_connect's model only until it has its own (cdk/stacks/regional_stack.py).
        model = FUNCTION_SETTINGS.get(name) or FUNCTION_SETTINGS["ws_connect"]
        assert set(resource["Properties"]["Environment"]["Variables"]) == model.env_names(), (stack_name, name)
    assert {name for _, name, _, _ in functions} == set(FUNCTION_SETTINGS) | {"ws_message"}


def test_every_function_log_group_has_a_retention(synthesized: SynthesizedApp) -> None:
    for stack_name, name, resource, resources in _all_functions(synthesized):
        log_group = resource["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert resources[log_group]["Properties"]["RetentionInDays"] > 0, (stack_name, name)


@REGIONS
def test_regional_function_environment_points_at_this_region_and_the_primary_directory(
    synthesized: SynthesizedApp, license_region: str
) -> None:
    regional = synthesized.regional[license_region]
    region = aws_region_of(license_region)
    api = regional.logical_id(regional.stack.api.api.node.default_child)
    connect = _function(regional, "ws_connect")["Properties"]["Environment"]["Variables"]
    terminator = _function(regional, "terminator")["Properties"]["Environment"]["Variables"]

    assert connect[names.ENV_REGION] == region  # reads the directory replica of its own region
    assert connect[names.ENV_DATA_REGION] == region
    assert connect[names.ENV_DIRECTORY_TABLE] == DIRECTORY_TABLE.default_name
    assert connect[names.ENV_CONNECTIONS_TABLE] == CONNECTIONS_TABLE.default_name
    assert _name(connect[names.ENV_WS_MANAGEMENT_ENDPOINT]) == (
        f'https://{{"Ref": "{api}"}}.execute-api.{region}.{{"Ref": "AWS::URLSuffix"}}/{STAGE_NAME}'
    )
    message = _function(regional, "ws_message")["Properties"]["Environment"]["Variables"]
    assert message[names.ENV_WS_MANAGEMENT_ENDPOINT] == connect[names.ENV_WS_MANAGEMENT_ENDPOINT]
    assert message[names.ENV_REGION] == message[names.ENV_DATA_REGION] == region
    assert terminator[names.ENV_REGION] == PRIMARY  # its audit record is written only in the primary region
    assert terminator[names.ENV_DATA_REGION] == region


# --- WebSocket API --------------------------------------------------------------------------------------------------


@REGIONS
def test_websocket_routes_go_to_ws_connect_and_ws_message(synthesized: SynthesizedApp, license_region: str) -> None:
    regional = synthesized.regional[license_region]
    connect = regional.logical_id(regional.stack.ws_connect.function.node.default_child)
    message = regional.logical_id(regional.stack.ws_message.function.node.default_child)
    integrations = {
        logical_id: _name(resource["Properties"]["IntegrationUri"])
        for logical_id, resource in regional.resources("AWS::ApiGatewayV2::Integration").items()
    }
    api = {"Ref": regional.logical_id(regional.stack.api.api.node.default_child)}
    routes = {
        route["Properties"]["RouteKey"]: route["Properties"]
        for route in regional.resources("AWS::ApiGatewayV2::Route").values()
        if route["Properties"]["ApiId"] == api  # the data-plane HTTP API's routes: test_dataplane_http_api.py
    }

    assert set(routes) == {"$connect", "$disconnect", "$default"}
    for key, function in (("$connect", connect), ("$disconnect", connect), ("$default", message)):
        target = routes[key]["Target"]["Fn::Join"][1][1]["Ref"]
        assert function in integrations[target], key
    assert routes["$connect"]["AuthorizationType"] == "CUSTOM"
    assert routes["$disconnect"]["AuthorizationType"] == "NONE"
    assert routes["$default"]["AuthorizationType"] == "NONE"


@REGIONS
def test_connect_authorizer_is_ws_connect_with_no_identity_source_so_nothing_is_required_or_cached(
    synthesized: SynthesizedApp, license_region: str
) -> None:
    # The token may come in the subprotocol, the query or a header, and the decision depends on Origin and the
    # document (docs/websocket.md): no identity source may be required, and no result may be cached.
    regional = synthesized.regional[license_region]
    connect = regional.logical_id(regional.stack.ws_connect.function.node.default_child)
    (authorizer,) = regional.resources("AWS::ApiGatewayV2::Authorizer").values()
    properties = authorizer["Properties"]

    assert properties["AuthorizerType"] == "REQUEST"
    assert properties["IdentitySource"] == []
    assert properties.get("AuthorizerResultTtlInSeconds", 0) == 0
    assert connect in _name(properties["AuthorizerUri"])


@REGIONS
def test_websocket_stage_logs_access_and_throttles(synthesized: SynthesizedApp, license_region: str) -> None:
    regional = synthesized.regional[license_region]
    logs = regional.logical_id(regional.stack.api.access_logs.node.default_child)
    api = {"Ref": regional.logical_id(regional.stack.api.api.node.default_child)}
    (stage,) = [s for s in regional.resources("AWS::ApiGatewayV2::Stage").values() if s["Properties"]["ApiId"] == api]
    properties = stage["Properties"]
    log_format = json.loads(properties["AccessLogSettings"]["Format"])

    assert properties["StageName"] == STAGE_NAME
    assert properties["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": [logs, "Arn"]}
    assert log_format["requestId"] == "$context.requestId"
    assert not any("token" in value.lower() or "header" in value.lower() for value in log_format.values())
    assert properties["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    assert (
        properties["DefaultRouteSettings"]["ThrottlingBurstLimit"]
        >= properties["DefaultRouteSettings"]["ThrottlingRateLimit"]
    )
    assert regional.resources("AWS::Logs::LogGroup")[logs]["Properties"]["RetentionInDays"] > 0


# --- least privilege -----------------------------------------------------------------------------------------------


@REGIONS
def test_ws_connect_reads_its_directory_replica_and_writes_every_regions_connections(
    synthesized: SynthesizedApp, license_region: str
) -> None:
    regional = synthesized.regional[license_region]
    region = aws_region_of(license_region)
    directory_alias = DIRECTORY_KEY_ALIAS if region == PRIMARY else REGIONAL_KEY_ALIAS
    expected = {
        *_logs(regional, "ws_connect"),
        *_on(region, DIRECTORY_TABLE, READ_ACTIONS),
        *_key(region, directory_alias, READ_KEY),
        _api_connections(regional, "POST"),  # $disconnect announces the awareness removal to the others
    }
    for deployed in AWS_REGIONS:  # $connect writes into the app's license-region table, wherever that is
        expected |= _on(
            deployed,
            CONNECTIONS_TABLE,
            ("dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"),
        )
        # connect-time limit counters and document region pins, in the app's license region
        expected |= _on(deployed, USAGE_TABLE, ("dynamodb:GetItem", "dynamodb:UpdateItem"))
        expected |= _key(deployed, REGIONAL_KEY_ALIAS, WRITE_KEY)

    grants = _grants(regional.template_json, _role_id(regional, "ws_connect"))

    assert grants == expected
    assert _api_connections(regional, "DELETE") not in grants  # it never closes a connection
    assert not any(action == "events:PutEvents" for action, _, _ in grants)


@REGIONS
def test_terminator_finds_every_regions_connections_and_closes_only_through_its_own_api(
    synthesized: SynthesizedApp, license_region: str
) -> None:
    regional = synthesized.regional[license_region]
    # Given the terminator's code path: SessionTerminationService -> registry.by_app/by_tenant (Query), close
    # (DELETE @connections), registry.delete -> DynamoConnectionRegistry.release (GetItem of the record, GetItem
    # of the document's user count, one transaction: Delete of the record + Update of the usage counters)
    expected = {
        *_logs(regional, "terminator"),
        *_on(PRIMARY, DIRECTORY_TABLE, READ_ACTIONS + WRITE_ACTIONS),
        *_key(PRIMARY, DIRECTORY_KEY_ALIAS, WRITE_KEY),
        _api_connections(regional, "DELETE"),
    }
    for deployed in AWS_REGIONS:
        expected |= _on(deployed, CONNECTIONS_TABLE, ("dynamodb:Query", "dynamodb:GetItem", "dynamodb:DeleteItem"))
        expected |= _key(deployed, REGIONAL_KEY_ALIAS, READ_KEY)
        expected |= _on(deployed, USAGE_TABLE, ("dynamodb:GetItem", "dynamodb:UpdateItem"))
        expected |= _key(deployed, REGIONAL_KEY_ALIAS, WRITE_KEY)

    # When its role's grants are read from the template
    grants = _grants(regional.template_json, _role_id(regional, "terminator"))

    # Then it has exactly those, and no write to the usage tables beyond the counters' UpdateItem
    assert grants == expected
    for deployed in AWS_REGIONS:
        usage = f"arn:aws:dynamodb:{deployed}:{ACCOUNT}:table/{USAGE_TABLE.default_name}"
        assert ("dynamodb:GetItem", usage, NO_CONDITION) in grants  # release reads the document's user count
        assert ("dynamodb:PutItem", usage, NO_CONDITION) not in grants


@REGIONS
def test_ws_message_reads_its_directory_replica_uses_app_data_tables_and_posts_only_to_its_own_api(
    synthesized: SynthesizedApp, license_region: str
) -> None:
    regional = synthesized.regional[license_region]
    region = aws_region_of(license_region)
    directory_alias = DIRECTORY_KEY_ALIAS if region == PRIMARY else REGIONAL_KEY_ALIAS
    # Given ws_message's code path: ConnectionService.refusal (GetItem of the record, every frame), by_document
    # (Query), forget -> release (GetItem, transaction Delete), DocumentService.current -> document_pin (GetItem of
    # the users# item in the usage table), documents and counters, POST frames and DELETE (a refusal that closes)
    expected = {
        *_logs(regional, "ws_message"),
        *_on(region, DIRECTORY_TABLE, READ_ACTIONS),
        *_key(region, directory_alias, READ_KEY),
        _api_connections(regional, "POST"),
        _api_connections(regional, "DELETE"),
    }
    for deployed in AWS_REGIONS:
        expected |= _on(
            deployed,
            CONNECTIONS_TABLE,  # UpdateItem: the presence a connection's awareness updates record
            ("dynamodb:Query", "dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem"),
        )
        expected |= _key(deployed, REGIONAL_KEY_ALIAS, WRITE_KEY)
        for spec in ALL_REGIONAL_TABLES:
            if spec is not CONNECTIONS_TABLE:
                expected |= _on(deployed, spec, READ_ACTIONS + WRITE_ACTIONS)
                expected |= _key(deployed, REGIONAL_KEY_ALIAS, WRITE_KEY)

    # When its role's grants are read from the template
    grants = _grants(regional.template_json, _role_id(regional, "ws_message"))

    # Then it has exactly those: the per-frame refusal read and the pin read in every license region included
    assert grants == expected
    for deployed in AWS_REGIONS:
        table = f"arn:aws:dynamodb:{deployed}:{ACCOUNT}:table/"
        assert ("dynamodb:GetItem", table + CONNECTIONS_TABLE.default_name, NO_CONDITION) in grants
        assert ("dynamodb:GetItem", table + USAGE_TABLE.default_name, NO_CONDITION) in grants
        assert ("dynamodb:PutItem", table + CONNECTIONS_TABLE.default_name, NO_CONDITION) not in grants


@REGIONS
def test_no_regional_role_has_managed_policies(synthesized: SynthesizedApp, license_region: str) -> None:
    regional = synthesized.regional[license_region]

    for name in REGIONAL_FUNCTIONS:
        role = regional.template_json["Resources"][_role_id(regional, name)]
        assert "ManagedPolicyArns" not in role["Properties"], name


# --- termination events -------------------------------------------------------------------------------------------


def test_audit_bus_forwards_termination_events_to_every_regional_bus(synthesized: SynthesizedApp) -> None:
    fan_out = synthesized.stack.termination
    role = synthesized.logical_id(fan_out.role.node.default_child)
    bus = synthesized.logical_id(synthesized.stack.audit.bus.node.default_child)
    rules = [
        synthesized.template_json["Resources"][synthesized.logical_id(r.node.default_child)]
        for r in fan_out.rules.values()
    ]
    targets = set()
    for rule in rules:
        properties = rule["Properties"]
        assert properties["EventBusName"] == {"Ref": bus}
        assert properties["EventPattern"] == {
            "source": [AUDIT_SOURCE],
            "detail-type": [str(t) for t in TERMINATION_DETAIL_TYPES],
        }
        (target,) = properties["Targets"]
        assert target["RoleArn"] == {"Fn::GetAtt": [role, "Arn"]}
        targets.add(_name(target["Arn"]))

    expected = {f"arn:aws:events:{region}:{ACCOUNT}:event-bus/{REGIONAL_BUS_NAME}" for region in AWS_REGIONS}
    assert targets == expected
    assert _grants(synthesized.template_json, role) == {("events:PutEvents", arn, NO_CONDITION) for arn in expected}
    assert {str(t) for t in TERMINATION_DETAIL_TYPES} == {
        "SigningKeyRevoked",
        "TenantStatusChanged",
        "AppStatusChanged",
        "AppDeleted",
    }


@REGIONS
def test_terminator_runs_on_termination_events_of_the_regional_bus(
    synthesized: SynthesizedApp, license_region: str
) -> None:
    regional = synthesized.regional[license_region]
    bus = regional.logical_id(regional.stack.termination.bus.node.default_child)
    terminator = regional.logical_id(regional.stack.terminator.function.node.default_child)
    rule = regional.template_json["Resources"][regional.logical_id(regional.stack.termination.rule.node.default_child)]

    regional.template.has_resource_properties("AWS::Events::EventBus", {"Name": REGIONAL_BUS_NAME})
    assert rule["Properties"]["EventBusName"] == {"Ref": bus}
    assert rule["Properties"]["EventPattern"]["source"] == [AUDIT_SOURCE]
    assert set(rule["Properties"]["EventPattern"]["detail-type"]) == {str(t) for t in TERMINATION_DETAIL_TYPES}
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [terminator, "Arn"]}
    invokers = [
        p["Properties"]
        for p in regional.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [terminator, "Arn"]}
    ]
    assert [(p["Principal"], p["SourceArn"]) for p in invokers] == [
        (
            "events.amazonaws.com",
            {"Fn::GetAtt": [regional.logical_id(regional.stack.termination.rule.node.default_child), "Arn"]},
        )
    ]


# --- WAF ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", PATH_RATE_LIMITS, ids=lambda rule: rule.name)
def test_web_acl_rate_limits_each_sensitive_path_per_ip(synthesized: SynthesizedApp, rule: Any) -> None:
    (acl,) = synthesized.resources("AWS::WAFv2::WebACL").values()
    (deployed,) = (r for r in acl["Properties"]["Rules"] if r["Name"] == rule.name)
    statement = deployed["Statement"]["RateBasedStatement"]
    match = statement["ScopeDownStatement"]["ByteMatchStatement"]

    assert deployed["Action"] == {"Block": {}}
    assert statement["AggregateKeyType"] == "IP"
    assert 10 <= statement["Limit"] == rule.limit_per_minute
    assert statement["EvaluationWindowSec"] == 60
    assert match["FieldToMatch"] == {"UriPath": {}}
    assert match["SearchString"] == rule.search
    assert {t["Type"] for t in match["TextTransformations"]} == {"URL_DECODE"}


def test_web_acl_scopes_rate_rules_to_token_signup_and_admin_and_uses_the_managed_groups(
    synthesized: SynthesizedApp,
) -> None:
    (acl,) = synthesized.resources("AWS::WAFv2::WebACL").values()
    rules = acl["Properties"]["Rules"]
    groups = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for r in rules
        if "ManagedRuleGroupStatement" in r["Statement"]
    }

    assert {rule.search for rule in PATH_RATE_LIMITS} == {"/connect/token", "/signup", "/admin/"}
    assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} <= groups
    assert len({r["Priority"] for r in rules}) == len(rules)


# --- alarms ---------------------------------------------------------------------------------------------------------


def _alarms(template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in template_json["Resources"].values()
        if a["Type"] == "AWS::CloudWatch::Alarm"
    }


def test_global_alarms_cover_5xx_outbox_lag_and_every_functions_throttles(synthesized: SynthesizedApp) -> None:
    alarms = _alarms(synthesized.template_json)
    prefix = f"WireSocket-{PRIMARY}-"

    five_xx = alarms[prefix + "ControlPlane-5xx"]
    assert (five_xx["MetricName"], five_xx["Namespace"], five_xx["Threshold"]) == (
        "5XXError",
        "AWS/ApiGateway",
        REST_5XX_THRESHOLD,
    )
    age = alarms[prefix + "Outbox-IteratorAge"]
    assert (age["MetricName"], age["Statistic"], age["Threshold"]) == ("IteratorAge", "Maximum", OUTBOX_ITERATOR_AGE_MS)
    assert alarms[prefix + "Outbox-Errors"]["MetricName"] == "Errors"
    for name in synthesized.stack.functions:
        throttles = alarms[f"{prefix}{name}-Throttles"]
        assert (throttles["MetricName"], throttles["Threshold"]) == ("Throttles", 1)


@REGIONS
def test_regional_alarms_cover_authorizer_errors_and_throttles(
    synthesized: SynthesizedApp, license_region: str
) -> None:
    regional = synthesized.regional[license_region]
    alarms = _alarms(regional.template_json)
    prefix = f"WireSocket-{aws_region_of(license_region)}-"
    api = regional.logical_id(regional.stack.api.api.node.default_child)

    execution = alarms[prefix + "Authorizer-ExecutionErrors"]
    assert (execution["MetricName"], execution["Namespace"]) == ("ExecutionError", "AWS/ApiGateway")
    assert execution["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": api}}]
    assert alarms[prefix + "Authorizer-Errors"]["MetricName"] == "Errors"
    for name in REGIONAL_FUNCTIONS:
        assert alarms[f"{prefix}{name}-Throttles"]["MetricName"] == "Throttles"


def test_alarm_names_are_unique_across_the_deployment(synthesized: SynthesizedApp) -> None:
    templates = [synthesized.template_json, *(r.template_json for r in synthesized.regional.values())]
    names_ = [name for template in templates for name in _alarms(template)]

    assert len(names_) == len(set(names_))
    assert all(re.match(r"^WireSocket-[a-z]+-[a-z]+-\d-", name) for name in names_)
