"""The global stack: the control plane in the primary region (SPEC §1).

Keys, the directory table, the rate-limit counters, the shared layer, the audit bus, the functions behind
the control-plane routes and the outbox publisher. Each function gets only what it uses:

- ``jwks`` reads the directory (public keys, issuer metadata; the table key only through DynamoDB) and
  never the master key;
- ``token`` reads and writes the directory (refresh tokens and families, audit outbox items, in conditional
  writes and transactions) and the rate-limit counters, may *unwrap* (``kms:Decrypt``, never generate or
  re-wrap) with the master key only under a ``{tenantId, kid}`` encryption context, and publishes on the
  audit bus;
- ``outbox`` reads/writes the directory and publishes on the audit bus, and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aws_cdk import Duration, Environment, Stack
from constructs import Construct

from cdk.constructs.audit import AuditBus
from cdk.constructs.control_api import ControlApi
from cdk.constructs.function import ARCHITECTURE, RUNTIME, ServiceFunction
from cdk.constructs.keys import PlatformKeys
from cdk.constructs.layer import SharedLayer
from cdk.constructs.outbox import OutboxPublisher
from cdk.constructs.tables import SpecTable
from cdk.context import DeploymentContext
from wiresocket import names
from wiresocket.names import CONTROL_PLANE_ROUTES, DIRECTORY_TABLE, RATE_LIMIT_TABLE

TOKEN_MEMORY_MB: Final = 1024
"""The token function verifies passwords with Argon2id (64 MiB memory cost per hash) and signs with RSA;
Lambda allots CPU in proportion to memory, so this also keeps password grants fast."""

TOKEN_MASTER_KEY_ACTIONS: Final = ("kms:Decrypt",)
"""The token function only unwraps (tenant private keys, the client-secret pepper); it never creates keys."""


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
        self.directory = SpecTable(self, "Directory", spec=DIRECTORY_TABLE, encryption_key=self.keys.directory_key)
        # Regional control-plane table (never replicated), encrypted with the same table key as the directory.
        self.rate_limits = SpecTable(self, "RateLimits", spec=RATE_LIMIT_TABLE, encryption_key=self.keys.directory_key)
        self.layer = SharedLayer(
            self, "SharedLayer", asset_path=props.layer_asset_path, runtime=RUNTIME, architecture=ARCHITECTURE
        )
        self.audit = AuditBus(self, "Audit")
        self.control_api = ControlApi(self, "ControlApi")

        # Every value a function's settings model may ask for; each function takes only its own variables.
        resource_values = {
            names.ENV_REGION: self.region,
            names.ENV_DIRECTORY_TABLE: self.directory.table_name,
            names.ENV_RATE_LIMIT_TABLE: self.rate_limits.table_name,
            names.ENV_AUDIT_BUS: self.audit.bus_name,
            names.ENV_MASTER_KEY_ID: self.keys.master_key.key_arn,
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

        self.functions: dict[str, ServiceFunction] = {f.name: f for f in (self.jwks, self.token, self.outbox)}
        """Every deployed function by name (the folder under ``functions/``)."""

        # Only the API-facing functions can be route targets; the outbox is never reachable over HTTP.
        self.control_api.add_routes(CONTROL_PLANE_ROUTES, {f.name: f.function for f in (self.jwks, self.token)})
