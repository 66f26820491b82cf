"""The global stack: the control plane in the primary region (SPEC §1).

Keys, the directory table, the rate-limit counters, the idempotency records, the shared layer, the audit
bus, the functions behind the control-plane routes, the outbox publisher and the scheduled key maintenance.
Each function gets only what it uses:

- ``jwks`` reads the directory (public keys, issuer metadata; the table key only through DynamoDB) and
  never the master key;
- ``token`` reads and writes the directory (refresh tokens and families, audit outbox items, in conditional
  writes and transactions) and the rate-limit counters, may *unwrap* (``kms:Decrypt``, never generate or
  re-wrap) with either master-key slot only under a ``{tenantId, kid}`` encryption context, and publishes on
  the audit bus;
- ``outbox`` reads/writes the directory and publishes on the audit bus, and nowhere else;
- ``admin`` reads/writes the directory (and scans it, for the master-key re-wrap and its progress), the
  rate-limit counters and the idempotency records; uses both master-key slots for every envelope operation
  (new tenants' keys, the client-secret pepper, re-wrap) under the ``{tenantId, kid}`` context; may re-point
  ``alias/wiresocket-master`` between the two slots (never create a key: see ``cdk/constructs/keys.py``);
  and publishes on the audit bus;
- ``key_maintenance`` (hourly) reads/writes the directory, wraps and unwraps data keys under the same
  context, and publishes on the audit bus (``cdk/constructs/key_maintenance.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aws_cdk import Acknowledgment, CfnOutput, Duration, Environment, Fn, Stack, Validations, aws_iam
from constructs import Construct

from cdk.constructs.alarms import Alarms
from cdk.constructs.audit import AuditBus
from cdk.constructs.control_api import ControlApi
from cdk.constructs.function import ARCHITECTURE, RUNTIME, ServiceFunction
from cdk.constructs.key_maintenance import KeyMaintenanceSchedule
from cdk.constructs.keys import MASTER_KEY_ALIAS, PlatformKeys
from cdk.constructs.layer import SharedLayer
from cdk.constructs.outbox import OutboxPublisher
from cdk.constructs.regional_access import (
    CONNECTIONS_RELEASE_ACTIONS,
    OTHER_REGION_API_REASON,
    READ_KEY_ACTIONS,
    REGIONAL_KEY_ALIAS,
    USAGE_RELEASE_ACTIONS,
    WRITE_KEY_ACTIONS,
    acknowledge_key_wildcards,
    connections_arn,
    grant_named_tables,
    nag_account,
    nag_partition,
)
from cdk.constructs.tables import SpecTable
from cdk.constructs.termination import TerminationFanOut
from cdk.constructs.websocket_api import STAGE_NAME as WS_STAGE_NAME
from cdk.context import DeploymentContext
from wiresocket import names
from wiresocket.names import (
    CONNECTIONS_TABLE,
    CONTROL_PLANE_ROUTES,
    DIRECTORY_TABLE,
    IDEMPOTENCY_TABLE,
    RATE_LIMIT_TABLE,
    USAGE_TABLE,
    aws_region_of,
)

TOKEN_MEMORY_MB: Final = 1024
"""The token function verifies passwords with Argon2id (64 MiB memory cost per hash) and signs with RSA;
Lambda allots CPU in proportion to memory, so this also keeps password grants fast."""

TOKEN_MASTER_KEY_ACTIONS: Final = ("kms:Decrypt",)
"""The token function only unwraps (tenant private keys, the client-secret pepper); it never creates keys."""

ADMIN_MEMORY_MB: Final = 1024
"""The admin function hashes passwords with Argon2id at signup and when inviting users, like ``token``."""

ADMIN_TIMEOUT: Final = Duration.seconds(25)
"""Below API Gateway's 29 s integration timeout; the longest call is a master-key re-wrap, which is
resumable (a re-run skips every key already under the target)."""

ADMIN_MASTER_KEY_ACTIONS: Final = ("kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo")
"""Approving a tenant and revoking keys create keys (wrap), client secrets need the pepper (wrap/unwrap), and
the master-key rotation re-wraps data keys with ``ReEncrypt`` (the plaintext never leaves KMS)."""

KEY_MAINTENANCE_MEMORY_MB: Final = 512
"""RSA-2048 key generation for the rotated tenants' fresh ``next`` keys; CPU scales with memory."""

KEY_MAINTENANCE_TIMEOUT: Final = Duration.minutes(5)


@dataclass(frozen=True)
class GlobalStackProps:
    """What the global stack needs from outside: the context and where code assets live."""

    context: DeploymentContext
    layer_asset_path: Path
    functions_root: Path
    account: str | None = None


class GlobalStack(Stack):
    """The control plane: one per deployment, in the primary license region."""

    def __init__(self, scope: Construct, construct_id: str, *, props: GlobalStackProps) -> None:
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=props.account, region=props.context.primary_aws_region),
            description="WireSocket control plane (global stack, primary region)",
        )
        self.keys = PlatformKeys(self, "Keys")
        primary = props.context.primary_aws_region
        self.deployed_regions = tuple(sorted(aws_region_of(r) for r in props.context.regions))
        # A global table replicated to every deployed region; each replica is encrypted with its region's
        # customer-managed key, named by alias (the regional stacks own those keys and deploy first).
        self.directory = SpecTable(
            self,
            "Directory",
            spec=DIRECTORY_TABLE,
            encryption_key=self.keys.directory_key,
            replica_key_arns={
                region: self.format_arn(service="kms", region=region, resource=REGIONAL_KEY_ALIAS)
                for region in self.deployed_regions
                if region != primary
            },
        )
        # Regional control-plane table (never replicated), encrypted with the same table key as the directory.
        self.rate_limits = SpecTable(self, "RateLimits", spec=RATE_LIMIT_TABLE, encryption_key=self.keys.directory_key)
        # The admin API's idempotency records: regional as well, same table key.
        self.idempotency = SpecTable(
            self, "Idempotency", spec=IDEMPOTENCY_TABLE, encryption_key=self.keys.directory_key
        )
        self.layer = SharedLayer(
            self, "SharedLayer", asset_path=props.layer_asset_path, runtime=RUNTIME, architecture=ARCHITECTURE
        )
        self.audit = AuditBus(self, "Audit")
        self.termination = TerminationFanOut(
            self, "TerminationFanOut", bus=self.audit.bus, regions=self.deployed_regions
        )
        self.control_api = ControlApi(self, "ControlApi")

        # Every value a function's settings model may ask for; each function takes only its own variables.
        resource_values = {
            names.ENV_REGION: self.region,
            names.ENV_DIRECTORY_TABLE: self.directory.table_name,
            names.ENV_RATE_LIMIT_TABLE: self.rate_limits.table_name,
            names.ENV_AUDIT_BUS: self.audit.bus_name,
            names.ENV_IDEMPOTENCY_TABLE: self.idempotency.table_name,
            # The alias, never a key ARN: after a master-key rotation new data keys follow it to the new slot.
            names.ENV_MASTER_KEY_ID: MASTER_KEY_ALIAS,
            names.ENV_ISSUER_BASE: props.context.issuer_base or self.control_api.base_url,
        }

        self.jwks = ServiceFunction(
            self,
            "Jwks",
            name="jwks",
            functions_root=props.functions_root,
            layer=self.layer.layer,
            resource_values=resource_values,
        )
        self.directory.grant_read(self.jwks.function)

        self.token = ServiceFunction(
            self,
            "Token",
            name="token",
            functions_root=props.functions_root,
            layer=self.layer.layer,
            resource_values=resource_values,
            memory_size=TOKEN_MEMORY_MB,
        )
        self.directory.grant_read_write(self.token.function)
        self.rate_limits.grant_read_write(self.token.function)
        self.keys.grant_envelope(self.token.function, TOKEN_MASTER_KEY_ACTIONS)
        self.audit.grant_publish(self.token.function)

        self.outbox = ServiceFunction(
            self,
            "Outbox",
            name="outbox",
            functions_root=props.functions_root,
            layer=self.layer.layer,
            resource_values=resource_values,
            timeout=Duration.seconds(60),
        )
        OutboxPublisher(self, "OutboxPublisher", function=self.outbox.function, table=self.directory, bus=self.audit)

        self.admin = ServiceFunction(
            self,
            "Admin",
            name="admin",
            functions_root=props.functions_root,
            layer=self.layer.layer,
            resource_values=resource_values,
            memory_size=ADMIN_MEMORY_MB,
            timeout=ADMIN_TIMEOUT,
        )
        self.directory.grant_read_write(self.admin.function)
        self.directory.grant_scan(self.admin.function)
        self.rate_limits.grant_read_write(self.admin.function)
        self.idempotency.grant_read_write(self.admin.function)
        self.keys.grant_envelope(self.admin.function, ADMIN_MASTER_KEY_ACTIONS)
        self.keys.grant_master_key_rotation(self.admin.function)
        self.audit.grant_publish(self.admin.function)
        self._grant_termination(self.admin)

        self.key_maintenance = ServiceFunction(
            self,
            "KeyMaintenance",
            name="key_maintenance",
            functions_root=props.functions_root,
            layer=self.layer.layer,
            resource_values=resource_values,
            memory_size=KEY_MAINTENANCE_MEMORY_MB,
            timeout=KEY_MAINTENANCE_TIMEOUT,
        )
        self.key_schedule = KeyMaintenanceSchedule(
            self,
            "KeyMaintenanceSchedule",
            function=self.key_maintenance.function,
            table=self.directory,
            keys=self.keys,
            bus=self.audit,
        )

        self.functions: dict[str, ServiceFunction] = {
            f.name: f for f in (self.jwks, self.token, self.outbox, self.admin, self.key_maintenance)
        }
        """Every deployed function by name (the folder under ``functions/``)."""

        # Only the API-facing functions can be route targets; the outbox and the key job are never reachable
        # over HTTP.
        self.control_api.add_routes(
            CONTROL_PLANE_ROUTES, {f.name: f.function for f in (self.jwks, self.token, self.admin)}
        )

        self.alarms = Alarms(self, "Alarms", prefix=f"WireSocket-{self.region}")
        self.alarms.add_rest_api_5xx(self.control_api.api)
        self.alarms.add_outbox_lag(self.outbox.function)
        for name, service_function in self.functions.items():
            self.alarms.add_throttles(name, service_function.function)
        CfnOutput(self, "ControlPlaneUrl", value=self.control_api.base_url)
        # For the regional stacks' master-key replicas: `-c masterKeyArns=<this>` (docs/deploy.md).
        CfnOutput(self, "MasterKeySlotArns", value=Fn.join(",", [key.key_arn for key in self.keys.master_key_slots]))

    def _grant_termination(self, service_function: ServiceFunction) -> None:
        """The admin API ends live sessions itself, in every deployed region (docs/websocket.md): it queries and
        forgets entries of each region's connections table (``release`` reads the record, deletes it and gives back
        its usage counters in that region's usage table, in one transaction) and closes connections through each
        region's WebSocket API (``DELETE @connections``; API ids are random, so by stage name: see
        regional_access)."""
        every_region = dict.fromkeys(self.deployed_regions, REGIONAL_KEY_ALIAS)
        grant_named_tables(
            self,
            service_function.role,
            spec=CONNECTIONS_TABLE,
            key_alias_by_region=every_region,
            table_actions=CONNECTIONS_RELEASE_ACTIONS,
            key_actions=READ_KEY_ACTIONS,
        )
        grant_named_tables(
            self,
            service_function.role,
            spec=USAGE_TABLE,
            key_alias_by_region=every_region,
            table_actions=USAGE_RELEASE_ACTIONS,
            key_actions=WRITE_KEY_ACTIONS,
        )
        aws_iam.Grant.add_to_principal(
            grantee=service_function.role,
            actions=["execute-api:ManageConnections"],
            resource_arns=[
                connections_arn(self, region, "*", WS_STAGE_NAME, "DELETE") for region in self.deployed_regions
            ],
        )
        policy = service_function.role.node.find_child("DefaultPolicy")
        acknowledge_key_wildcards(policy, self.deployed_regions)
        Validations.of(policy).acknowledge(
            *(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::arn:{nag_partition(self)}:execute-api:{region}:"
                    f"{nag_account(self)}:*/{WS_STAGE_NAME}/DELETE/@connections/*]",
                    reason=OTHER_REGION_API_REASON,
                )
                for region in self.deployed_regions
            )
        )
