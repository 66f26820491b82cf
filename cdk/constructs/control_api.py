"""The control-plane REST API, built from ``wiresocket.names.CONTROL_PLANE_ROUTES`` (SPEC §1).

Regional endpoint behind an AWS WAF web ACL, Lambda proxy integrations (payload format 1.0, as the local
gateway sends), access logs in JSON, execution logs at ERROR only and never request or response bodies
(token requests carry client secrets and passwords), stage-wide throttling, and path parameters declared
as required so API Gateway rejects requests that lack them before any function runs.

A route's method may be ``ANY`` and its last path part a greedy ``{proxy+}`` (the admin API routes
``/admin/...`` and ``/platform/...`` itself); API Gateway matches a more specific resource first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Final

from aws_cdk import Acknowledgment, RemovalPolicy, Stack, Validations, aws_apigateway, aws_lambda, aws_logs
from constructs import Construct

from cdk.constructs.web_acl import RegionalWebAcl
from wiresocket.names import Route

STAGE_NAME: Final = "v1"
API_NAME: Final = "wiresocket-control-plane"

UNAUTHENTICATED_FUNCTIONS: Final[Mapping[str, str]] = {
    "jwks": (
        "Public by protocol: JWKS and OpenID discovery documents (RFC 7517 section 5, OpenID Connect "
        "Discovery 1.0 section 4) must be fetchable without credentials so relying parties can verify "
        "tokens; they contain only public keys and metadata. Abuse is bounded by the WAF per-IP rate rule, "
        "stage throttling and Cache-Control."
    ),
    "token": (
        "Authenticated in the function, as the protocols require: the token endpoint authenticates the "
        "client itself from the request (RFC 6749 sections 2.3 and 3.2: client_secret_basic/post, "
        "password grant), and revocation (RFC 7009 section 2.1) and introspection (RFC 7662 section 2.1) "
        "authenticate their caller the same way. An API Gateway authorizer cannot express these schemes; "
        "brute force is bounded by the in-function lock-out (SPEC section 7), WAF and throttling."
    ),
    "admin": (
        "Authenticated in the function with WireSocket's own bearer tokens (docs/admin-api.md): every /admin "
        "and /platform request needs an RS256 access token that the function verifies against the tenant's "
        "keys (audience WireSocket.Dashboard) and then re-checks against current state read fresh from the "
        "directory (tenant active, user enabled, key not revoked) before the per-route role and scope check. "
        "SPEC section 7 requires that re-check on every request, which a cached API Gateway authorizer result "
        "cannot give. POST /signup is public by design, rate limited per IP in the function and by the WAF "
        "per-IP rule; GET /openapi.json serves only the public API description."
    ),
}
"""Functions whose routes API Gateway does not authenticate, each with the reason a reviewer checks.

Routes of any other function without an authorizer fail the cdk-nag check (AwsSolutions-APIG4) on purpose.
"""

_NO_COGNITO_REASON: Final = (
    "WireSocket is itself the OAuth 2.0 authorization server (SPEC sections 3-4); its tokens are not issued "
    "by a Cognito user pool, so a Cognito authorizer cannot verify them. The route is public, or "
    "authenticates its caller in the function, by protocol (see the AwsSolutions-APIG4 acknowledgment on "
    "the same method)."
)
_CLOUDWATCH_ROLE_REASON: Final = (
    "AmazonAPIGatewayPushToCloudWatchLogs is the AWS-documented policy for the account-level role API "
    "Gateway assumes to write execution logs (required by AwsSolutions-APIG6). It grants CloudWatch Logs "
    "actions only, and only the apigateway.amazonaws.com service principal can assume the role."
)

_PATH_PARAMETER = re.compile(r"\{([A-Za-z0-9_]+)\+?\}")


def path_parameters(resource: str) -> list[str]:
    """The path parameter names of an API Gateway resource path (``/{tenantId}/x`` -> ``["tenantId"]``)."""
    return _PATH_PARAMETER.findall(resource)


class ControlApi(Construct):
    """The REST API, its stage, access logs and web ACL. Routes are added with ``add_routes``.

    Creating the API before its routes lets functions learn the API's base URL (``base_url``) without a
    dependency cycle: it is built from the API id and stage name, not from the deployment stage resource.

    ``cloud_watch_role=True`` sets the region's API Gateway account logging role; the control plane's
    region owns that setting.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        throttling_rate_limit: int = 50,
        throttling_burst_limit: int = 100,
        access_log_retention: aws_logs.RetentionDays = aws_logs.RetentionDays.ONE_YEAR,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = aws_logs.LogGroup(
            self, "AccessLogs", retention=access_log_retention, removal_policy=RemovalPolicy.RETAIN
        )
        self.api = aws_apigateway.RestApi(
            self,
            "Api",
            rest_api_name=API_NAME,
            description="WireSocket control plane: token, JWKS/discovery, admin",
            endpoint_types=[aws_apigateway.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=aws_apigateway.StageOptions(
                stage_name=STAGE_NAME,
                access_log_destination=aws_apigateway.LogGroupLogDestination(self.access_logs),
                access_log_format=aws_apigateway.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                logging_level=aws_apigateway.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                throttling_rate_limit=throttling_rate_limit,
                throttling_burst_limit=throttling_burst_limit,
            ),
        )
        cloudwatch_role = self.api.node.find_child("CloudWatchRole")
        Validations.of(cloudwatch_role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]",
                reason=_CLOUDWATCH_ROLE_REASON,
            )
        )
        self.request_validator = self.api.add_request_validator(
            "RequestValidator", validate_request_parameters=True, validate_request_body=True
        )
        self.web_acl = RegionalWebAcl(self, "WebAcl", name_prefix="WireSocketControlPlane")
        self.web_acl.associate("StageAssociation", self.api.deployment_stage.stage_arn)
        self.unrouted: list[Route] = []

    @property
    def base_url(self) -> str:
        """``https://{api id}.execute-api.{region}.{suffix}/{stage}`` (tokens), safe to put in a function."""
        stack = Stack.of(self)
        return f"https://{self.api.rest_api_id}.execute-api.{stack.region}.{stack.url_suffix}/{STAGE_NAME}"

    def add_routes(self, routes: Iterable[Route], functions: Mapping[str, aws_lambda.IFunction]) -> None:
        """Add one proxy-integrated method per route, each to the function the route names.

        A route whose function is not in ``functions`` is not added but recorded in ``unrouted``: the app's
        entry point refuses to synthesize while any is left (``cdk/app.py``), and the infrastructure tests
        fail on it, so the route table and the deployed API cannot silently differ.
        """
        for route in routes:
            if route.function not in functions:
                self.unrouted.append(route)
                continue
            resource = self.api.root if route.resource == "/" else self.api.root.resource_for_path(route.resource)
            method = resource.add_method(
                route.method,
                aws_apigateway.LambdaIntegration(functions[route.function], proxy=True, allow_test_invoke=False),
                authorization_type=aws_apigateway.AuthorizationType.NONE,
                request_validator=self.request_validator,
                request_parameters={f"method.request.path.{name}": True for name in path_parameters(route.resource)},
            )
            reason = UNAUTHENTICATED_FUNCTIONS.get(route.function)
            if reason is not None:
                Validations.of(method).acknowledge(
                    Acknowledgment(id="AwsSolutions-APIG4", reason=reason),
                    Acknowledgment(id="AwsSolutions-COG4", reason=_NO_COGNITO_REASON),
                )
