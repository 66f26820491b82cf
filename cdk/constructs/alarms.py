"""CloudWatch alarms (issue 7, observability): what an operator must hear about, with its threshold.

- **Throttles** of every function: any throttled invocation (a token request, a handshake or an outbox run
  that did not happen) in a 5-minute period.
- **REST API 5xx** (control plane): 5 or more server errors in 5 minutes. Bad input is 4xx by design, so 5xx
  means a bug or a dependency down.
- **Outbox lag**: the directory stream's iterator age above 60 s for 3 of 5 minutes (events waiting to be
  published), or the publisher failing 3 times in 15 minutes (the sweep retries every minute, so isolated
  failures are absorbed; repeated ones mean audit and termination events are stuck).
- **Authorizer errors** (each region): the WebSocket API's ``ExecutionError`` (the ``$connect`` authorizer or an
  integration failed to run: a crash or timeout, never a deliberate 401/403) at least once in 5 minutes, and
  ``ws_connect``'s Lambda errors above 50 in 5 minutes. The authorizer answers 401 by raising, which Lambda
  counts as an error, so only a flood is alarming there.

Alarms have no actions here: the account's on-call wiring (SNS, chat) subscribes to them by name prefix
``WireSocket-``.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import Duration, aws_apigateway, aws_apigatewayv2, aws_cloudwatch, aws_lambda
from constructs import Construct

PERIOD: Final = Duration.minutes(5)
REST_5XX_THRESHOLD: Final = 5
OUTBOX_ITERATOR_AGE_MS: Final = 60_000
OUTBOX_ERRORS_THRESHOLD: Final = 3
AUTHORIZER_EXECUTION_ERRORS_THRESHOLD: Final = 1
AUTHORIZER_LAMBDA_ERRORS_THRESHOLD: Final = 50


class Alarms(Construct):
    """A place for a stack's alarms; each ``add_*`` creates alarms named ``WireSocket-{stack region}-...``."""

    def __init__(self, scope: Construct, construct_id: str, *, prefix: str) -> None:
        super().__init__(scope, construct_id)
        self.prefix = prefix
        self.alarms: dict[str, aws_cloudwatch.Alarm] = {}

    def _alarm(
        self,
        name: str,
        metric: aws_cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        evaluation_periods: int = 1,
        datapoints_to_alarm: int | None = None,
    ) -> aws_cloudwatch.Alarm:
        alarm = aws_cloudwatch.Alarm(
            self,
            name,
            alarm_name=f"{self.prefix}-{name}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            comparison_operator=aws_cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=aws_cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarms[name] = alarm
        return alarm

    def add_throttles(self, name: str, function: aws_lambda.IFunction) -> None:
        """Any throttled invocation of ``function``."""
        self._alarm(
            f"{name}-Throttles",
            function.metric_throttles(period=PERIOD, statistic="Sum"),
            threshold=1,
            description=f"The {name} function was throttled (concurrency exhausted)",
        )

    def add_rest_api_5xx(self, api: aws_apigateway.RestApi) -> None:
        """Server errors of the control-plane REST API."""
        self._alarm(
            "ControlPlane-5xx",
            api.metric_server_error(period=PERIOD, statistic="Sum"),
            threshold=REST_5XX_THRESHOLD,
            description="The control-plane REST API answered 5xx (a bug or a dependency down)",
        )

    def add_outbox_lag(self, outbox: aws_lambda.IFunction) -> None:
        """Audit events waiting: stream iterator age, and repeated publisher failures."""
        self._alarm(
            "Outbox-IteratorAge",
            outbox.metric("IteratorAge", period=Duration.minutes(1), statistic="Maximum"),
            threshold=OUTBOX_ITERATOR_AGE_MS,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            description="Audit outbox lag: directory stream records wait more than 60 s to be published",
        )
        self._alarm(
            "Outbox-Errors",
            outbox.metric_errors(period=Duration.minutes(15), statistic="Sum"),
            threshold=OUTBOX_ERRORS_THRESHOLD,
            description="The audit outbox publisher keeps failing: audit and termination events are not delivered",
        )

    def add_authorizer_errors(self, api: aws_apigatewayv2.WebSocketApi, authorizer: aws_lambda.IFunction) -> None:
        """The ``$connect`` authorizer failing to run, or erroring in bulk."""
        self._alarm(
            "Authorizer-ExecutionErrors",
            api.metric("ExecutionError", period=PERIOD, statistic="Sum"),
            threshold=AUTHORIZER_EXECUTION_ERRORS_THRESHOLD,
            description="The WebSocket $connect authorizer or an integration failed to execute",
        )
        self._alarm(
            "Authorizer-Errors",
            authorizer.metric_errors(period=PERIOD, statistic="Sum"),
            threshold=AUTHORIZER_LAMBDA_ERRORS_THRESHOLD,
            description="Many ws_connect errors: a flood of refused tokens (401) or crashes",
        )
