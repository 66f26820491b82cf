"""Termination events: from the audit bus (global stack) to every region's terminator (SPEC §1, §7, §8).

The global stack's ``TerminationFanOut`` has one rule per deployed region on the audit bus, matching the
events that must end live sessions, whose target is that region's ``wiresocket-regional`` bus. The bus is
named, not referenced (``arn:{partition}:events:{region}:{account}:event-bus/wiresocket-regional``): the
regional stacks live in other regions. EventBridge delivers to another bus with a role; that role may put
events on exactly those buses.

Each regional stack's ``RegionalTerminationBus`` owns that bus (resource policy: only this account may put
events on it) and a rule that invokes the terminator for the same events.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from aws_cdk import Duration, Stack, aws_events, aws_events_targets, aws_iam, aws_lambda
from constructs import Construct

from wiresocket.domain.audit import DetailType
from wiresocket.names import AUDIT_SOURCE

REGIONAL_BUS_NAME: Final = "wiresocket-regional"

TERMINATION_DETAIL_TYPES: Final = (
    DetailType.SIGNING_KEY_REVOKED,
    DetailType.TENANT_STATUS_CHANGED,
    DetailType.APP_STATUS_CHANGED,
    DetailType.APP_DELETED,
)
"""The audit events that may end live sessions (``services/sessions.scope_from_event`` decides which do)."""


def termination_pattern() -> aws_events.EventPattern:
    """``source: wiresocket.security`` and one of ``TERMINATION_DETAIL_TYPES``."""
    return aws_events.EventPattern(
        source=[AUDIT_SOURCE], detail_type=[str(detail_type) for detail_type in TERMINATION_DETAIL_TYPES]
    )


def regional_bus_arn(scope: Construct, region: str) -> str:
    """The ARN of ``region``'s ``wiresocket-regional`` bus, by name."""
    return Stack.of(scope).format_arn(
        service="events", region=region, resource="event-bus", resource_name=REGIONAL_BUS_NAME
    )


class TerminationFanOut(Construct):
    """Rules on the audit bus forwarding termination events to every deployed region's bus."""

    def __init__(
        self, scope: Construct, construct_id: str, *, bus: aws_events.IEventBus, regions: Iterable[str]
    ) -> None:
        super().__init__(scope, construct_id)
        self.regions = tuple(sorted(regions))
        self.role = aws_iam.Role(
            self,
            "DeliveryRole",
            assumed_by=aws_iam.ServicePrincipal("events.amazonaws.com"),
            description="EventBridge: forward WireSocket termination events to every regional bus",
        )
        self.rules: dict[str, aws_events.Rule] = {}
        for region in self.regions:
            target_bus = aws_events.EventBus.from_event_bus_arn(self, f"Bus-{region}", regional_bus_arn(self, region))
            self.rules[region] = aws_events.Rule(
                self,
                f"To-{region}",
                event_bus=bus,
                description=f"Termination events to the {region} data plane",
                event_pattern=termination_pattern(),
                targets=[aws_events_targets.EventBus(target_bus, role=self.role)],
            )


class RegionalTerminationBus(Construct):
    """The region's ``wiresocket-regional`` bus and the rule that runs ``terminator`` on termination events."""

    def __init__(self, scope: Construct, construct_id: str, *, terminator: aws_lambda.IFunction) -> None:
        super().__init__(scope, construct_id)
        self.bus = aws_events.EventBus(
            self,
            "Bus",
            event_bus_name=REGIONAL_BUS_NAME,
            description="WireSocket termination events forwarded from the audit bus",
        )
        self.rule = aws_events.Rule(
            self,
            "Terminate",
            event_bus=self.bus,
            description="Close this region's WebSocket sessions that a revocation or suspension ends",
            event_pattern=termination_pattern(),
            targets=[
                aws_events_targets.LambdaFunction(terminator, retry_attempts=4, max_event_age=Duration.minutes(15))
            ],
        )
