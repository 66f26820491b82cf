"""The audit event bus and its archive (SPEC §7)."""

from __future__ import annotations

from aws_cdk import Duration, aws_events, aws_iam
from constructs import Construct

from wiresocket.names import AUDIT_BUS_NAME, AUDIT_SOURCE


class AuditBus(Construct):
    """EventBridge bus ``wiresocket-audit`` whose every security event is also archived for replay.

    The bus has no resource policy: only principals of this account that are granted ``events:PutEvents``
    on it (the outbox publisher, and the token function for its inline outbox) can publish.
    """

    def __init__(self, scope: Construct, construct_id: str, *, archive_retention: Duration | None = None) -> None:
        super().__init__(scope, construct_id)
        self.bus = aws_events.EventBus(
            self, "Bus", event_bus_name=AUDIT_BUS_NAME, description="WireSocket security audit events"
        )
        self.archive = self.bus.archive(
            "Archive",
            description="Every WireSocket security audit event, replayable",
            event_pattern=aws_events.EventPattern(source=[AUDIT_SOURCE]),
            retention=archive_retention or Duration.days(365),
        )

    @property
    def bus_name(self) -> str:
        """The bus name (a token resolving to ``wiresocket-audit``)."""
        return self.bus.event_bus_name

    def grant_publish(self, grantee: aws_iam.IGrantable) -> aws_iam.Grant:
        """Let ``grantee`` put events on this bus, and no other."""
        return self.bus.grant_put_events_to(grantee)
