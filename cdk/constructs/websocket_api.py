"""The regional WebSocket API of the data plane (SPEC §1, §8; docs/websocket.md).

``$connect`` is guarded by a Lambda REQUEST authorizer (``ws_connect``), and routed to ``ws_connect`` as well
(it registers the connection), like ``$disconnect``; ``$default`` goes to ``ws_message``. The stage logs access
in JSON, throttles, and emits detailed metrics.

The authorizer has **no identity source**. API Gateway treats identity sources as required request parts (a
request without them is refused with 401 before the authorizer runs) and as the authorizer cache key. The token
may travel in the subprotocol, the query or the ``Authorization`` header (docs/websocket.md), so no single part
can be required; and the decision also depends on ``Origin`` and ``?doc=``, so a result must never be cached:
WebSocket APIs do not cache Lambda authorizer results (``AuthorizerResultTtlInSeconds`` exists only for HTTP
APIs), and without an identity source there is no cache key either.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import (
    Acknowledgment,
    RemovalPolicy,
    Stack,
    Validations,
    aws_apigatewayv2,
    aws_apigatewayv2_authorizers,
    aws_apigatewayv2_integrations,
    aws_lambda,
    aws_logs,
)
from constructs import Construct

STAGE_NAME: Final = "v1"
API_NAME: Final = "wiresocket-data-plane"
ACCESS_LOG_FORMAT: Final = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","requestTime":"$context.requestTime",'
    '"routeKey":"$context.routeKey","eventType":"$context.eventType","status":"$context.status",'
    '"connectionId":"$context.connectionId","principalId":"$context.authorizer.principalId",'
    '"authorizerError":"$context.authorizer.error","integrationError":"$context.integration.error"}'
)
"""Access-log fields: who, which route, the outcome. Never a token, header, query string or message body."""

_ROUTES_AFTER_CONNECT_REASON: Final = (
    "API Gateway WebSocket APIs authorize only the $connect route; $disconnect and $default run on a "
    "connection that the $connect Lambda REQUEST authorizer (ws_connect: token signature, claims, current "
    "security state, Origin and document) has already admitted, and a client cannot reach them any other way."
)
_NO_COGNITO_REASON: Final = (
    "WireSocket is itself the OAuth 2.0 authorization server (SPEC sections 3-4): its access tokens are not "
    "issued by a Cognito user pool, so the WebSocket $connect route is guarded by a Lambda REQUEST authorizer "
    "that verifies WireSocket's own RS256 tokens against the tenant's published keys."
)


class DataPlaneApi(Construct):
    """WebSocket API + stage + ``$connect`` authorizer + the three routes."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        connect: aws_lambda.IFunction,
        message: aws_lambda.IFunction,
        throttling_rate_limit: int = 500,
        throttling_burst_limit: int = 1000,
        access_log_retention: aws_logs.RetentionDays = aws_logs.RetentionDays.ONE_YEAR,
    ) -> None:
        super().__init__(scope, construct_id)
        self.authorizer = aws_apigatewayv2_authorizers.WebSocketLambdaAuthorizer(
            "ConnectAuthorizer", connect, identity_source=[]
        )
        self.api = aws_apigatewayv2.WebSocketApi(
            self,
            "Api",
            api_name=API_NAME,
            description="WireSocket data plane: Yjs document sync over WebSocket",
            connect_route_options=aws_apigatewayv2.WebSocketRouteOptions(
                integration=aws_apigatewayv2_integrations.WebSocketLambdaIntegration("ConnectIntegration", connect),
                authorizer=self.authorizer,
            ),
            disconnect_route_options=aws_apigatewayv2.WebSocketRouteOptions(
                integration=aws_apigatewayv2_integrations.WebSocketLambdaIntegration("DisconnectIntegration", connect)
            ),
            default_route_options=aws_apigatewayv2.WebSocketRouteOptions(
                integration=aws_apigatewayv2_integrations.WebSocketLambdaIntegration("MessageIntegration", message)
            ),
        )
        self.access_logs = aws_logs.LogGroup(
            self, "AccessLogs", retention=access_log_retention, removal_policy=RemovalPolicy.RETAIN
        )
        self.stage = aws_apigatewayv2.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.api,
            stage_name=STAGE_NAME,
            auto_deploy=True,
            detailed_metrics_enabled=True,
            throttle=aws_apigatewayv2.ThrottleSettings(
                rate_limit=throttling_rate_limit, burst_limit=throttling_burst_limit
            ),
        )
        # Access logging through the L1 stage: the L2 access-log destination wants a format object whose JSON
        # it builds itself; ours is the fixed, reviewed field list above.
        stage_resource = self.stage.node.default_child
        assert isinstance(stage_resource, aws_apigatewayv2.CfnStage)
        stage_resource.access_log_settings = aws_apigatewayv2.CfnStage.AccessLogSettingsProperty(
            destination_arn=self.access_logs.log_group_arn, format=ACCESS_LOG_FORMAT
        )
        for route_key in ("$disconnect", "$default"):
            route = self.api.node.find_child(f"{route_key}-Route")
            Validations.of(route).acknowledge(
                Acknowledgment(id="AwsSolutions-APIG4", reason=_ROUTES_AFTER_CONNECT_REASON),
                Acknowledgment(id="AwsSolutions-COG4", reason=_NO_COGNITO_REASON),
            )
        connect_route = self.api.node.find_child("$connect-Route")
        Validations.of(connect_route).acknowledge(Acknowledgment(id="AwsSolutions-COG4", reason=_NO_COGNITO_REASON))

    @property
    def api_id(self) -> str:
        """The API id (a token)."""
        return self.api.api_id

    @property
    def public_url(self) -> str:
        """``wss://{api id}.execute-api.{region}.{suffix}/{stage}``: the stage URL clients connect to (what a 4009
        ``REDIRECT:`` from another region points at)."""
        return f"{self.api.api_endpoint}/{STAGE_NAME}"

    @property
    def callback_url(self) -> str:
        """``https://{api id}.execute-api.{region}.{suffix}/{stage}``: the ``@connections`` endpoint."""
        stack = Stack.of(self)
        return f"https://{self.api.api_id}.execute-api.{stack.region}.{stack.url_suffix}/{STAGE_NAME}"
