"""The data-plane HTTP API of each regional stack (issue 6): ``/discovery``, ``/usage``, ``/health`` and ``/`` go
to ``ws_http`` (payload 1.0), whose environment and IAM grants are exactly what it needs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cdk.constructs.dataplane_http_api import STAGE_NAME
from cdk.constructs.keys import DIRECTORY_KEY_ALIAS
from cdk.constructs.regional_access import REGIONAL_KEY_ALIAS
from cdk.constructs.websocket_api import STAGE_NAME as WS_STAGE_NAME
from tests.infrastructure.conftest import TEST_REGIONS, RegionalTemplate, SynthesizedApp
from tests.infrastructure.test_regional_stacks import (
    AWS_REGIONS,
    PRIMARY,
    READ_KEY,
    WRITE_KEY,
    _function,
    _grants,
    _key,
    _logs,
    _name,
    _on,
    _role_id,
)
from wiresocket import names
from wiresocket.names import CONNECTIONS_TABLE, DATA_PLANE_HTTP_PATHS, DIRECTORY_TABLE, USAGE_TABLE, aws_region_of

REGIONS = pytest.mark.parametrize("license_region", TEST_REGIONS)


def _http_api(regional: RegionalTemplate) -> dict[str, str]:
    return {"Ref": regional.logical_id(regional.stack.http_api.api.node.default_child)}


def _of_api(regional: RegionalTemplate, resource_type: str) -> list[dict[str, Any]]:
    api = _http_api(regional)
    return [r["Properties"] for r in regional.resources(resource_type).values() if r["Properties"]["ApiId"] == api]


@REGIONS
def test_every_data_plane_path_is_routed_to_ws_http_with_payload_1_0(
    synthesized: SynthesizedApp, license_region: str
) -> None:
    regional = synthesized.regional[license_region]
    ws_http = regional.logical_id(regional.stack.ws_http.function.node.default_child)
    (api,) = [
        r["Properties"]
        for r in regional.resources("AWS::ApiGatewayV2::Api").values()
        if "ProtocolType" in r["Properties"] and r["Properties"]["ProtocolType"] == "HTTP"
    ]
    (integration,) = _of_api(regional, "AWS::ApiGatewayV2::Integration")
    routes = {route["RouteKey"]: route for route in _of_api(regional, "AWS::ApiGatewayV2::Route")}

    assert api["Name"] == "wiresocket-data-plane-http"
    assert set(routes) == {f"ANY {path}" for path in DATA_PLANE_HTTP_PATHS}
    assert integration["PayloadFormatVersion"] == "1.0"
    assert ws_http in _name(integration["IntegrationUri"])
    assert all(route["AuthorizationType"] == "NONE" for route in routes.values())  # the function authenticates


@REGIONS
def test_the_http_stage_logs_access_without_query_strings_and_throttles(
    synthesized: SynthesizedApp, license_region: str
) -> None:
    regional = synthesized.regional[license_region]
    (stage,) = _of_api(regional, "AWS::ApiGatewayV2::Stage")
    log_format = json.loads(stage["AccessLogSettings"]["Format"])

    assert stage["StageName"] == STAGE_NAME and stage["AutoDeploy"] is True
    assert not any(
        "token" in v.lower() or "querystring" in v.lower() or "header" in v.lower() for v in log_format.values()
    )
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0


@REGIONS
def test_ws_http_environment_names_this_region_and_its_websocket_url(
    synthesized: SynthesizedApp, license_region: str
) -> None:
    regional = synthesized.regional[license_region]
    region = aws_region_of(license_region)
    ws_api = regional.logical_id(regional.stack.api.api.node.default_child)
    env = _function(regional, "ws_http")["Properties"]["Environment"]["Variables"]

    assert env[names.ENV_REGION] == env[names.ENV_DATA_REGION] == region
    assert env[names.ENV_USAGE_TABLE] == USAGE_TABLE.default_name
    assert env[names.ENV_CONNECTIONS_TABLE] == CONNECTIONS_TABLE.default_name
    public_url = _function(regional, "ws_http")["Properties"]["Environment"]["Variables"][names.ENV_WS_PUBLIC_URL]
    # the WebSocket API's ApiEndpoint (wss://…) and its stage: where discovery sends new documents
    assert public_url == {"Fn::Join": ["", [{"Fn::GetAtt": [ws_api, "ApiEndpoint"]}, f"/{WS_STAGE_NAME}"]]}
    assert (
        env[names.ENV_ISSUER_BASE]
        == _function(regional, "ws_connect")["Properties"]["Environment"]["Variables"][names.ENV_ISSUER_BASE]
    )


@REGIONS
def test_ws_http_reads_state_and_counters_and_writes_only_usage_counters(
    synthesized: SynthesizedApp, license_region: str
) -> None:
    regional = synthesized.regional[license_region]
    region = aws_region_of(license_region)
    directory_alias = DIRECTORY_KEY_ALIAS if region == PRIMARY else REGIONAL_KEY_ALIAS
    expected = {
        *_logs(regional, "ws_http"),
        *_on(region, DIRECTORY_TABLE, ("dynamodb:GetItem", "dynamodb:Query")),
        *_key(region, directory_alias, READ_KEY),
        *_on(region, CONNECTIONS_TABLE, ("dynamodb:GetItem",)),
        *_key(region, REGIONAL_KEY_ALIAS, READ_KEY),
    }
    for deployed in AWS_REGIONS:
        expected |= _on(deployed, USAGE_TABLE, ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem"))
        expected |= _key(deployed, REGIONAL_KEY_ALIAS, WRITE_KEY)

    assert _grants(regional.template_json, _role_id(regional, "ws_http")) == expected
