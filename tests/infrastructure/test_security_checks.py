"""cdk-nag (AwsSolutions) and cfn-lint over the synthesized app, and the review of every acknowledgment.

cdk-nag 3 is a CDK policy-validation plugin; ``cdk/app.py`` registers it so a real ``cdk synth`` fails on
any finding. Here the same pack walks the same construct tree directly (``validate_scope``), so a finding
fails one test with the rule, path and description instead of aborting the module's synth.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest
from aws_cdk import App, Stack, Validations, aws_kms
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from tests.infrastructure.conftest import SynthesizedApp

REVIEWED_RULES: Final = frozenset(
    {
        # Function runtime pinned below the newest Lambda python runtime (layer built for that version).
        "AwsSolutions-L1",
        # API Gateway's account-level CloudWatch role uses the AWS-documented managed policy.
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AmazonAPIGatewayPushToCloudWatchLogs]",
        # Routes that are public by protocol (JWKS/discovery) or authenticate in the function (OAuth token).
        "AwsSolutions-APIG4",
        "AwsSolutions-COG4",
    }
)
"""Rules a security reviewer has accepted acknowledging. A new one needs review, then an entry here."""

REVIEWED_WILDCARDS: Final = (
    # A table key of some region by alias (key ids are random, no cross-region references); narrowed by
    # kms:ResourceAliases + kms:ViaService (cdk/constructs/regional_access.py).
    re.compile(r"^AwsSolutions-IAM5\[Resource::arn:aws:kms:[a-z0-9-]+:<AWS::AccountId>:key/\*\]$"),
    # Admin closes connections of every region's WebSocket API (random ids) on the DELETE @connections route.
    re.compile(
        r"^AwsSolutions-IAM5\[Resource::arn:aws:execute-api:[a-z0-9-]+:<AWS::AccountId>:\*/v1/DELETE/@connections/\*\]$"
    ),
    # A regional function on its own API's @connections: the connection id is only known at run time.
    re.compile(
        r"^AwsSolutions-IAM5\[Resource::arn:aws:execute-api:[a-z0-9-]+:<AWS::AccountId>:<WebSocketApi[0-9A-F]{8}>"
        r"/v1/(DELETE|POST)/@connections/\*\]$"
    ),
)
"""IAM5 (wildcard) findings a reviewer accepted, each for one named resource form; never IAM5 wholesale."""


def _reviewed(rule: str) -> bool:
    return rule in REVIEWED_RULES or any(pattern.match(rule) for pattern in REVIEWED_WILDCARDS)


MIN_REASON_WORDS: Final = 25
PLACEHOLDER: Final = re.compile(
    r"\b(todo|tbd|fixme|xxx|hack|for now|temporar\w*|later|n/a|not needed|no reason)\b", re.IGNORECASE
)


@dataclass(frozen=True)
class Acknowledgment:
    """One acknowledged rule on one construct, as recorded in the construct tree's metadata."""

    path: str
    rule: str
    reason: str
    on_app_or_stack: bool


def _acknowledgments(app: App) -> list[Acknowledgment]:
    found: list[Acknowledgment] = []
    nodes: list[IConstruct] = [app, *app.node.find_all()]
    for node in nodes:
        for entry in node.node.metadata:
            if entry.type != Validations.ACKNOWLEDGED_RULES_METADATA_KEY or not isinstance(entry.data, dict):
                continue
            for qualified_id, reason in entry.data.items():
                found.append(
                    Acknowledgment(
                        path=node.node.path,
                        rule=re.sub(r"^annotation::", "", str(qualified_id), flags=re.IGNORECASE),
                        reason=str(reason),
                        on_app_or_stack=isinstance(node, App) or Stack.is_stack(node),
                    )
                )
    return found


def _violations(scope: IConstruct) -> list[str]:
    report = AwsSolutionsChecks().validate_scope(scope)
    return [
        f"{violation.severity} {violation.rule_name} at {resource.construct_path}: {violation.description}"
        for violation in report.violations
        for resource in violation.violating_resources
    ]


# --- cdk-nag ---------------------------------------------------------------------------------------------------


def test_cdk_nag_is_not_vacuous_here() -> None:
    # Given a key without rotation / When the pack checks it / Then it is reported (the plugin really runs)
    app = App()
    aws_kms.Key(Stack(app, "Probe"), "UnrotatedKey", enable_key_rotation=False)

    assert any("AwsSolutions-KMS5" in violation for violation in _violations(app))


def test_cdk_nag_aws_solutions_reports_no_unacknowledged_error_or_warning(synthesized: SynthesizedApp) -> None:
    assert _violations(synthesized.app) == []


# --- Acknowledgments (suppressions) -----------------------------------------------------------------------------


def test_only_reviewed_rules_are_acknowledged(synthesized: SynthesizedApp) -> None:
    unreviewed = [a for a in _acknowledgments(synthesized.app) if not _reviewed(a.rule)]

    assert unreviewed == []


def test_acknowledgments_sit_on_the_resource_they_excuse_never_on_an_app_or_stack(
    synthesized: SynthesizedApp,
) -> None:
    broad = [a for a in _acknowledgments(synthesized.app) if a.on_app_or_stack]

    assert broad == []


def test_every_acknowledgment_gives_a_reason_a_security_reviewer_can_check(synthesized: SynthesizedApp) -> None:
    acknowledgments = _acknowledgments(synthesized.app)

    assert acknowledgments, "expected the reviewed acknowledgments to be found in the construct tree"
    for acknowledgment in acknowledgments:
        words = acknowledgment.reason.split()
        assert len(words) >= MIN_REASON_WORDS, acknowledgment
        assert PLACEHOLDER.search(acknowledgment.reason) is None, acknowledgment
        assert acknowledgment.reason.rstrip().endswith("."), acknowledgment


def test_iam_wildcard_findings_are_never_acknowledged_wholesale(synthesized: SynthesizedApp) -> None:
    # cdk-nag 3 names each wildcard finding (IAM5[Resource::...]); each acknowledged one names its resource, is
    # of a reviewed form, and sits on the policy of the one role that holds it.
    wildcards = [a for a in _acknowledgments(synthesized.app) if a.rule.startswith("AwsSolutions-IAM5")]

    assert wildcards, "expected the cross-region grants' acknowledged wildcards"
    for acknowledgment in wildcards:
        assert acknowledgment.rule.startswith("AwsSolutions-IAM5[Resource::"), acknowledgment
        assert any(pattern.match(acknowledgment.rule) for pattern in REVIEWED_WILDCARDS), acknowledgment
        assert acknowledgment.path.endswith("/Role/DefaultPolicy"), acknowledgment


def test_no_control_plane_function_but_admin_holds_a_wildcard(synthesized: SynthesizedApp) -> None:
    holders = {
        a.path.split("/")[1]
        for a in _acknowledgments(synthesized.app)
        if a.rule.startswith("AwsSolutions-IAM5") and a.path.startswith("WireSocketGlobal/")
    }

    assert holders == {"Admin"}


# --- cfn-lint ---------------------------------------------------------------------------------------------------

# W3005 ("dependency already enforced by a GetAtt/Ref") is ignored: it flags a redundant DependsOn, which is
# harmless. CDK always makes a Lambda function DependsOn its role *and* the role's policy (the policy must
# exist before the function runs; the Role GetAtt alone does not order it), so every CDK template with a
# function carries one redundant entry, the role. It is generated by CDK, not written by us.
CFN_LINT_IGNORED: Final = ("W3005",)


def test_cfn_lint_finds_no_error_or_warning_in_any_stack(synthesized: SynthesizedApp) -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    if not cfn_lint.is_file():
        pytest.fail(f"cfn-lint is not installed next to {sys.executable}")

    result = subprocess.run(
        [
            str(cfn_lint),
            "--format",
            "parseable",
            "--regions",
            *sorted({stack.stack.region for stack in synthesized.regional.values()}),
            "--ignore-checks",
            *CFN_LINT_IGNORED,
            "--",
            str(synthesized.template_path),
            *(str(stack.template_path) for stack in synthesized.regional.values()),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert (result.returncode, result.stdout.strip()) == (0, ""), result.stdout + result.stderr
