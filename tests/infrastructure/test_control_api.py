"""``ControlApi.add_routes`` on routes of its own: ``ANY`` methods, greedy ``{proxy+}`` paths, unknown targets.

The global stack's real routes are checked in ``test_global_stack.py``; this small stack (synthesized once)
pins the construct's behaviour independently of what ``CONTROL_PLANE_ROUTES`` holds today.
"""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from aws_cdk import App, CfnElement, Stack, aws_lambda
from aws_cdk.assertions import Template

from cdk.constructs.control_api import ControlApi, path_parameters
from wiresocket.names import Route

ROUTES = (
    Route("ANY", "/things/{proxy+}", "probe"),
    Route("GET", "/{tenantId}/items/{itemId}", "probe"),
    Route("POST", "/unrouted", "missing"),
)


class ProbeApi:
    """The probe stack's API, its function's logical id and its template."""

    def __init__(self) -> None:
        self.stack = Stack(App(), "ControlApiProbe", env={"account": "111122223333", "region": "eu-west-1"})
        self.api = ControlApi(self.stack, "Api")
        function = aws_lambda.Function(
            self.stack,
            "Probe",
            code=aws_lambda.Code.from_inline("def handler(event, context):\n    return None\n"),
            handler="index.handler",
            runtime=aws_lambda.Runtime.PYTHON_3_13,
        )
        self.api.add_routes(ROUTES, {"probe": function})
        self.function_id = self.stack.get_logical_id(cast(CfnElement, function.node.default_child))
        self.template: dict[str, Any] = dict(Template.from_stack(self.stack).to_json())

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == resource_type}


@pytest.fixture(scope="module")
def probe() -> ProbeApi:
    return ProbeApi()


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("/", []),
        ("/connect/token", []),
        ("/{tenantId}/.well-known/jwks", ["tenantId"]),
        ("/admin/{proxy+}", ["proxy"]),
        ("/{tenantId}/items/{itemId}", ["tenantId", "itemId"]),
    ],
)
def test_path_parameters_include_greedy_ones(resource: str, expected: list[str]) -> None:
    assert path_parameters(resource) == expected


def test_a_route_to_an_undeployed_function_is_reported_not_added(probe: ProbeApi) -> None:
    methods = [m["Properties"]["HttpMethod"] for m in probe.resources("AWS::ApiGateway::Method").values()]

    assert probe.api.unrouted == [Route("POST", "/unrouted", "missing")]
    assert "POST" not in methods
    assert "unrouted" not in {
        r["Properties"]["PathPart"] for r in probe.resources("AWS::ApiGateway::Resource").values()
    }


def test_any_method_on_a_greedy_path_is_one_lambda_proxy_method(probe: ProbeApi) -> None:
    resources = probe.resources("AWS::ApiGateway::Resource")
    (proxy_id,) = (k for k, r in resources.items() if r["Properties"]["PathPart"] == "{proxy+}")
    (method,) = (
        m["Properties"]
        for m in probe.resources("AWS::ApiGateway::Method").values()
        if m["Properties"]["ResourceId"] == {"Ref": proxy_id}
    )
    parent = resources[method["ResourceId"]["Ref"]]["Properties"]["ParentId"]

    assert resources[parent["Ref"]]["Properties"]["PathPart"] == "things"
    assert method["HttpMethod"] == "ANY"
    assert method["AuthorizationType"] == "NONE"
    assert method["Integration"]["Type"] == "AWS_PROXY"
    assert method["Integration"]["IntegrationHttpMethod"] == "POST"
    assert probe.function_id in json.dumps(method["Integration"]["Uri"])
    assert method["RequestParameters"] == {"method.request.path.proxy": True}


def test_any_method_may_be_invoked_for_every_method_below_its_prefix_on_the_stage_only(probe: ProbeApi) -> None:
    stage = probe.stack.get_logical_id(cast(CfnElement, probe.api.api.deployment_stage.node.default_child))
    source_arns = [
        p["Properties"]["SourceArn"]
        for p in probe.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [probe.function_id, "Arn"]}
    ]
    rendered = [json.dumps(arn) for arn in source_arns]

    # One permission per method, never one for the console's test-invoke stage.
    assert len(source_arns) == 2
    assert sum(r.endswith('"/*/things/*"]]}') for r in rendered) == 1
    assert sum(r.endswith('"/GET/*/items/*"]]}') for r in rendered) == 1
    assert all({"Ref": stage} in arn["Fn::Join"][1] for arn in source_arns)
