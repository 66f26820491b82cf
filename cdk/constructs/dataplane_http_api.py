"""The data-plane HTTP API of one region (issue 6; public docs "API reference"): ``/discovery``, ``/usage``,
``/health`` and ``/``, all to the ``ws_http`` function.

An API Gateway **HTTP API** (the WebSocket API cannot serve plain HTTP, and these endpoints need no REST API
features) with a Lambda proxy integration in payload format **1.0**, so ``ws_http`` reads the same event shape as
every other function (``edge/http.parse_rest_event``) and the local emulator sends. Each path is routed for
``ANY`` method so that the function answers 405 (and CORS preflights) itself, the same everywhere. The
``$default`` stage logs access in JSON (never a token or query string: ``/discovery?token=`` is possible),
throttles, and emits detailed metrics.

No API Gateway authorizer: ``/health`` and ``/`` are public by definition, and ``/discovery``/``/usage`` verify
the token in the function exactly as the ``$connect`` authorizer does (``services/dataplane_http.py``), because
the token may arrive as ``?token=`` as well as ``Authorization`` and the decision also depends on ``Origin``.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import (
    Acknowledgment,
    RemovalPolicy,
    Validations,
    aws_apigatewayv2,
    aws_apigatewayv2_integrations,
    aws_lambda,
    aws_logs,
)
from constructs import Construct

from wiresocket.names import DATA_PLANE_HTTP_PATHS

API_NAME: Final = "wiresocket-data-plane-http"
STAGE_NAME: Final = "$default"
ACCESS_LOG_FORMAT: Final = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","requestTime":"$context.requestTime",'
    '"routeKey":"$context.routeKey","path":"$context.path","status":"$context.status",'
    '"responseLength":"$context.responseLength","integrationError":"$context.integrationErrorMessage"}'
)
"""Access-log fields: who, which route, the outcome. ``$context.path`` has no query string, so no token."""

_AUTH_IN_FUNCTION_REASON: Final = (
    "The data-plane HTTP endpoints follow the public WireSocket API: /health and / are unauthenticated health "
    "checks, and /discovery and /usage accept the app's access token either as an Authorization bearer header "
    "or as the token query parameter, so no single identity source exists; the ws_http function verifies the "
    "RS256 token, its claims, the current security state and the Origin exactly as the $connect authorizer does "
    "and answers 401 otherwise."
)
_NO_COGNITO_REASON: Final = (
    "WireSocket is itself the OAuth 2.0 authorization server (SPEC sections 3-4): its access tokens are not "
    "issued by a Cognito user pool, so the data-plane HTTP routes verify WireSocket's own RS256 tokens against "
    "the tenant's published keys inside the ws_http function instead of using a Cognito authorizer."
)


class DataPlaneHttpApi(Construct):
    """HTTP API + ``$default`` stage + one ``ANY`` route per data-plane path, all to ``handler``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: aws_lambda.IFunction,
        throttling_rate_limit: int = 200,
        throttling_burst_limit: int = 400,
        access_log_retention: aws_logs.RetentionDays = aws_logs.RetentionDays.ONE_YEAR,
    ) -> None:
        super().__init__(scope, construct_id)
        self.api = aws_apigatewayv2.HttpApi(
            self,
            "Api",
            api_name=API_NAME,
            description="WireSocket data plane: discovery, usage and health",
            create_default_stage=False,
        )
        integration = aws_apigatewayv2_integrations.HttpLambdaIntegration(
            "WsHttpIntegration",
            handler,
            payload_format_version=aws_apigatewayv2.PayloadFormatVersion.VERSION_1_0,
        )
        self.routes: list[aws_apigatewayv2.HttpRoute] = []
        for path in DATA_PLANE_HTTP_PATHS:
            for route in self.api.add_routes(
                path=path, methods=[aws_apigatewayv2.HttpMethod.ANY], integration=integration
            ):
                Validations.of(route).acknowledge(
                    Acknowledgment(id="AwsSolutions-APIG4", reason=_AUTH_IN_FUNCTION_REASON),
                    Acknowledgment(id="AwsSolutions-COG4", reason=_NO_COGNITO_REASON),
                )
                self.routes.append(route)
        self.access_logs = aws_logs.LogGroup(
            self, "AccessLogs", retention=access_log_retention, removal_policy=RemovalPolicy.RETAIN
        )
        self.stage = aws_apigatewayv2.HttpStage(
            self,
            "Stage",
            http_api=self.api,
            stage_name=STAGE_NAME,
            auto_deploy=True,
            detailed_metrics_enabled=True,
            throttle=aws_apigatewayv2.ThrottleSettings(
                rate_limit=throttling_rate_limit, burst_limit=throttling_burst_limit
            ),
        )
        stage_resource = self.stage.node.default_child
        assert isinstance(stage_resource, aws_apigatewayv2.CfnStage)
        stage_resource.access_log_settings = aws_apigatewayv2.CfnStage.AccessLogSettingsProperty(
            destination_arn=self.access_logs.log_group_arn, format=ACCESS_LOG_FORMAT
        )

    @property
    def url(self) -> str:
        """``https://{api id}.execute-api.{region}.amazonaws.com`` (the ``$default`` stage has no path)."""
        return self.api.api_endpoint
