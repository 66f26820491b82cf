"""The AWS WAF web ACL in front of the control-plane REST API (SPEC §1).

Coarse, per-IP flood protection and AWS-managed rule groups at the edge; the fine-grained, per-client
limits of SPEC §7 are enforced by the functions themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from aws_cdk import aws_wafv2
from constructs import Construct

MANAGED_RULE_GROUPS: Final = (
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
)
DEFAULT_RATE_LIMIT_PER_5_MIN: Final = 2000


@dataclass(frozen=True)
class PathRateLimit:
    """A per-IP rate-based block rule counting only requests whose URI path matches ``search``."""

    name: str
    search: str
    positional_constraint: str
    limit_per_minute: int


PATH_RATE_LIMITS: Final = (
    # The token endpoint: SPEC section 7 limits 60/min per IP in the function; the edge blocks at twice that.
    PathRateLimit("TokenRateLimitPerIp", "/connect/token", "ENDS_WITH", 120),
    # Signup and account management: 12/min per IP in the function.
    PathRateLimit("SignupRateLimitPerIp", "/signup", "ENDS_WITH", 30),
    # The admin API (dashboard traffic): generous, it only stops floods.
    PathRateLimit("AdminRateLimitPerIp", "/admin/", "CONTAINS", 300),
)
"""Scoped per-IP limits, evaluated over a 60 s window. The path is matched at its end (or anywhere, for the
``/admin/`` prefix), so it holds with the stage prefix (``/v1/connect/token``) and behind a custom domain
(``/connect/token``); matching is done after URL decoding, so an encoded path cannot slip past."""
RATE_WINDOW_SECONDS: Final = 60


class RegionalWebAcl(Construct):
    """A REGIONAL web ACL: a per-IP rate-based block rule over everything, per-IP rate-based rules scoped to the
    token endpoint, signup and the admin API (``PATH_RATE_LIMITS``), then AWS managed rule groups; default allow."""

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
                    name=rule.name,
                    priority=priority,
                    action=aws_wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=aws_wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=aws_wafv2.CfnWebACL.RateBasedStatementProperty(
                            aggregate_key_type="IP",
                            limit=rule.limit_per_minute,
                            evaluation_window_sec=RATE_WINDOW_SECONDS,
                            scope_down_statement=aws_wafv2.CfnWebACL.StatementProperty(
                                byte_match_statement=aws_wafv2.CfnWebACL.ByteMatchStatementProperty(
                                    field_to_match=aws_wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
                                    positional_constraint=rule.positional_constraint,
                                    search_string=rule.search,
                                    text_transformations=[
                                        aws_wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="URL_DECODE")
                                    ],
                                )
                            ),
                        )
                    ),
                    visibility_config=_visibility(f"{name_prefix}{rule.name}"),
                )
                for priority, rule in enumerate(PATH_RATE_LIMITS, start=1)
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
                for priority, group in enumerate(MANAGED_RULE_GROUPS, start=1 + len(PATH_RATE_LIMITS))
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
