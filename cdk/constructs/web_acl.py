"""The AWS WAF web ACL in front of the control-plane REST API (SPEC §1).

Coarse, per-IP flood protection and AWS-managed rule groups at the edge; the fine-grained, per-client
limits of SPEC §7 are enforced by the functions themselves.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import aws_wafv2
from constructs import Construct

MANAGED_RULE_GROUPS: Final = (
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
)
DEFAULT_RATE_LIMIT_PER_5_MIN: Final = 2000


class RegionalWebAcl(Construct):
    """A REGIONAL web ACL: a per-IP rate-based block rule, then AWS managed rule groups; default allow."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        rate_limit_per_5_min: int = DEFAULT_RATE_LIMIT_PER_5_MIN,
    ) -> None:
        super().__init__(scope, construct_id)
        rules = [
            aws_wafv2.CfnWebACL.RuleProperty(
                name="RateLimitPerIp",
                priority=0,
                action=aws_wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=aws_wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=aws_wafv2.CfnWebACL.RateBasedStatementProperty(
                        aggregate_key_type="IP", limit=rate_limit_per_5_min
                    )
                ),
                visibility_config=_visibility(f"{name_prefix}RateLimitPerIp"),
            ),
            *(
                aws_wafv2.CfnWebACL.RuleProperty(
                    name=group,
                    priority=priority,
                    override_action=aws_wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=aws_wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=aws_wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name=group
                        )
                    ),
                    visibility_config=_visibility(f"{name_prefix}{group}"),
                )
                for priority, group in enumerate(MANAGED_RULE_GROUPS, start=1)
            ),
        ]
        self.web_acl = aws_wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=aws_wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            rules=rules,
            visibility_config=_visibility(f"{name_prefix}WebAcl"),
        )

    def associate(self, construct_id: str, resource_arn: str) -> aws_wafv2.CfnWebACLAssociation:
        """Put ``resource_arn`` (a REST API stage, ALB, ...) behind this web ACL."""
        return aws_wafv2.CfnWebACLAssociation(
            self, construct_id, resource_arn=resource_arn, web_acl_arn=self.web_acl.attr_arn
        )


def _visibility(metric_name: str) -> aws_wafv2.CfnWebACL.VisibilityConfigProperty:
    return aws_wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=True
    )
