"""Scheduled key maintenance: rotate tenant signing keys past their age, retire keys past grace (SPEC §5).

The job runs every hour and changes only what is due: a tenant is rotated when its active key is older than
``WIRESOCKET_KEY_ROTATION_DAYS`` (default 30), and a retiring key whose grace has ended loses its private
material. Most runs change nothing. Retirement is not a security boundary (the JWKS stops listing a retiring
key the moment its grace ends, whatever the job does), so an hour of latency is harmless.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import Duration, aws_events, aws_events_targets, aws_lambda
from constructs import Construct

from cdk.constructs.audit import AuditBus
from cdk.constructs.keys import PlatformKeys
from cdk.constructs.tables import SpecTable

SCHEDULE_INTERVAL: Final = Duration.hours(1)

MASTER_KEY_ACTIONS: Final = ("kms:GenerateDataKey", "kms:Decrypt")
"""Wrapping the data keys of the fresh ``next`` keys a rotation creates, and unwrapping. Never re-wrapping:
the job does not move keys between master keys (that is the operator's master-key rotation)."""


class KeyMaintenanceSchedule(Construct):
    """Runs ``function`` on a schedule and grants it what the job uses, and nothing else.

    - the directory: read/write (key changes, their audit events and leases, in transactions); the tenants
      due are found through the ``gsi1`` tenant listing, never a scan;
    - both master-key slots: ``MASTER_KEY_ACTIONS`` only, under a ``{tenantId, kid}`` encryption context;
    - the audit bus: ``events:PutEvents`` (the inline outbox publish).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: aws_lambda.Function,
        table: SpecTable,
        keys: PlatformKeys,
        bus: AuditBus,
    ) -> None:
        super().__init__(scope, construct_id)
        table.grant_read_write(function)
        keys.grant_envelope(function, MASTER_KEY_ACTIONS)
        bus.grant_publish(function)
        # A failed run is simply the next hour's run: whatever was due is still due, and every change holds
        # the tenant's lease, so retrying here as well would only make runs overlap.
        function.configure_async_invoke(retry_attempts=0, max_event_age=Duration.minutes(30))
        self.schedule = aws_events.Rule(
            self,
            "Schedule",
            description="Rotate tenant signing keys past their age and retire keys past their grace period",
            schedule=aws_events.Schedule.rate(SCHEDULE_INTERVAL),
            targets=[aws_events_targets.LambdaFunction(function, retry_attempts=0)],
        )
