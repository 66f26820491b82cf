"""The audit outbox publisher's triggers and permissions (SPEC §7: at-least-once, loses nothing).

Audit events are written to the directory in the same transaction as the change they record, carrying
``outbox_pending``. Two triggers publish them: the table's stream (fast path, filtered to pending items)
and a one-minute schedule (sweep over the sparse ``outbox-pending`` index) that catches anything the
stream path failed to publish. Because the sweep is the safety net, stream batches are not sent to a
dead-letter queue: an event whose stream record exhausts its retries is still pending in the table.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import Duration, aws_events, aws_events_targets, aws_lambda, aws_lambda_event_sources
from constructs import Construct

from cdk.constructs.audit import AuditBus
from cdk.constructs.tables import SpecTable

PENDING_ATTRIBUTE: Final = "outbox_pending"
SWEEP_INTERVAL: Final = Duration.minutes(1)


class OutboxPublisher(Construct):
    """Wires ``function`` to the directory stream and a sweep schedule; grants table r/w and bus publish."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: aws_lambda.Function,
        table: SpecTable,
        bus: AuditBus,
    ) -> None:
        super().__init__(scope, construct_id)
        if not any(index.partition_key == PENDING_ATTRIBUTE for index in table.spec.indexes):
            raise ValueError(f"table {table.spec.logical_name} has no index on {PENDING_ATTRIBUTE}")
        table.grant_read_write(function)
        bus.grant_publish(function)
        function.add_event_source(
            aws_lambda_event_sources.DynamoEventSource(
                table.table,
                starting_position=aws_lambda.StartingPosition.TRIM_HORIZON,
                batch_size=100,
                max_batching_window=Duration.seconds(1),
                # The handler publishes *every* pending event whatever the records say, and fails the
                # whole invocation if any is left: no partial batch responses, nothing to bisect.
                retry_attempts=3,
                max_record_age=Duration.hours(1),
                filters=[
                    aws_lambda.FilterCriteria.filter(
                        {
                            "eventName": aws_lambda.FilterRule.or_("INSERT", "MODIFY"),
                            "dynamodb": {"NewImage": {PENDING_ATTRIBUTE: {"S": aws_lambda.FilterRule.exists()}}},
                        }
                    )
                ],
            )
        )
        # A failed sweep is simply the next minute's sweep; retrying it as well would only overlap them.
        function.configure_async_invoke(retry_attempts=0, max_event_age=Duration.minutes(2))
        self.sweep = aws_events.Rule(
            self,
            "Sweep",
            description="Publish audit outbox events the stream path left pending",
            schedule=aws_events.Schedule.rate(SWEEP_INTERVAL),
            targets=[aws_events_targets.LambdaFunction(function, retry_attempts=0)],
        )
