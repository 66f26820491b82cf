"""Deployment context and ``cdk.json``: what is deployed where (SPEC §9). No synth needed here."""

from __future__ import annotations

import json

import pytest

from cdk.app import CDK_JSON, cdk_json_context
from cdk.context import CONTEXT_PRIMARY_REGION, CONTEXT_REGIONS, ContextError, DeploymentContext
from wiresocket.names import LICENSE_REGIONS


@pytest.mark.parametrize(
    ("regions", "primary"),
    [
        pytest.param(["aws-mars-north-1"], None, id="unknown-license-region"),
        pytest.param(["eu-west-1"], None, id="aws-region-name-instead-of-license-region"),
        pytest.param(["aws-eu-west-1"], "aws-us-east-1", id="primary-not-deployed"),
        pytest.param(["aws-eu-west-1", "aws-eu-west-1"], None, id="duplicate-region"),
        pytest.param([], None, id="no-region"),
        pytest.param("", None, id="empty-string"),
        pytest.param({"aws-eu-west-1": True}, None, id="not-a-list"),
        pytest.param(["aws-eu-west-1", 7], None, id="not-a-string"),
        pytest.param(["aws-eu-west-1"], 7, id="primary-not-a-string"),
    ],
)
def test_invalid_regions_are_refused(regions: object, primary: object) -> None:
    # Given a context naming regions that cannot be deployed / When it is parsed / Then it is refused
    with pytest.raises(ContextError):
        DeploymentContext.from_values(regions=regions, primary_region=primary)


@pytest.mark.parametrize("issuer", ["http://auth.example.com", "auth.example.com", 42])
def test_issuer_base_must_be_an_https_url(issuer: object) -> None:
    with pytest.raises(ContextError):
        DeploymentContext.from_values(regions=["aws-eu-west-1"], issuer_base=issuer)


def test_defaults_deploy_eu_west_1_as_primary() -> None:
    context = DeploymentContext.from_values()

    assert context.regions == ("aws-eu-west-1",)
    assert context.primary_region == "aws-eu-west-1"
    assert context.primary_aws_region == "eu-west-1"
    assert context.issuer_base is None


def test_cli_comma_separated_regions_are_accepted() -> None:
    # Given `cdk synth -c regions=aws-eu-west-1,aws-us-east-1` (the CLI passes a string)
    context = DeploymentContext.from_values(regions=" aws-eu-west-1, aws-us-east-1 ")

    assert context.regions == ("aws-eu-west-1", "aws-us-east-1")
    assert context.primary_region == "aws-eu-west-1"


def test_every_license_region_is_deployable() -> None:
    context = DeploymentContext.from_values(regions=list(LICENSE_REGIONS), primary_region="aws-us-west-2")

    assert context.primary_aws_region == "us-west-2"


def test_cdk_json_runs_the_app_with_the_project_environment() -> None:
    document = json.loads(CDK_JSON.read_text(encoding="utf-8"))

    assert document["app"] == ".venv/bin/python cdk/app.py"


def test_cdk_json_context_is_a_valid_deployment_defaulting_to_eu_west_1() -> None:
    context = cdk_json_context()

    # No primaryRegion in cdk.json: `-c regions=aws-us-east-1,...` then makes its own first region primary,
    # instead of pairing the command line's regions with a file's primary region that may not be among them.
    assert CONTEXT_PRIMARY_REGION not in context
    deployment = DeploymentContext.from_values(regions=context[CONTEXT_REGIONS])
    assert deployment.regions == ("aws-eu-west-1",)
    assert deployment.primary_region == "aws-eu-west-1"
    # The recommended feature flags of `cdk init` are pinned, so behaviour does not drift on upgrades.
    assert context["@aws-cdk/aws-iam:minimizePolicies"] is True


GOOD_ARNS = (
    "arn:aws:kms:eu-west-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef",
    "arn:aws:kms:eu-west-1:111122223333:key/mrk-fedcba9876543210fedcba9876543210",
)


@pytest.mark.parametrize(
    "arns",
    [
        pytest.param(GOOD_ARNS[:1], id="one-slot-only"),
        pytest.param((GOOD_ARNS[0], GOOD_ARNS[0]), id="the-same-slot-twice"),
        pytest.param((GOOD_ARNS[0], GOOD_ARNS[1].replace("eu-west-1", "us-east-1")), id="not-the-primary-region"),
        pytest.param((GOOD_ARNS[0], GOOD_ARNS[1].replace("mrk-", "")), id="not-multi-region"),
        pytest.param((GOOD_ARNS[0], "alias/wiresocket-master-b"), id="an-alias"),
        pytest.param(7, id="not-a-list"),
    ],
)
def test_master_key_arns_must_be_the_two_primary_multi_region_slots(arns: object) -> None:
    with pytest.raises(ContextError):
        DeploymentContext.from_values(regions=["aws-eu-west-1", "aws-us-east-1"], master_key_arns=arns)


def test_master_key_arns_are_accepted_comma_separated() -> None:
    context = DeploymentContext.from_values(regions="aws-eu-west-1,aws-us-east-1", master_key_arns=",".join(GOOD_ARNS))

    assert context.master_key_arns == GOOD_ARNS
