"""A regional stack: the data plane of one license region (SPEC §1, §8, §9).

Its own customer-managed key (``alias/wiresocket-regional``: the app-data tables and, outside the primary
region, the directory's replica), the app-data tables (``names.ALL_REGIONAL_TABLES``, the same names in every
region), the WebSocket API with its ``$connect`` authorizer, the ``ws_connect``/``ws_message`` functions, the
regional termination bus and the ``terminator``.

Each function gets only what it uses (resources of other regions by name: ``cdk/constructs/regional_access.py``):

- ``ws_connect`` reads the directory replica of this region (tenant state and keys; never KMS directly: the
  tenant's *public* keys are all it verifies with) and reads/writes the connections table of every deployed
  license region (``$connect`` writes into the table of the app's license region, which may be another one),
  and posts to this API's connections (``POST``: ``$disconnect`` announces the leaving user's awareness removal);
- ``terminator`` queries, reads and deletes entries of the connections table of every deployed region (and gives
  back the usage counters an entry raised, in that region's usage table), closes
  connections only through this region's API (``execute-api:ManageConnections`` on ``DELETE @connections``),
  and records its ``SessionsTerminated`` audit event in the directory *in the primary region* (the directory is
  written only there, SPEC §1): ``WIRESOCKET_REGION`` is the primary region, ``WIRESOCKET_DATA_REGION`` this one;
- ``ws_message`` (``$default``, document sync) reads this region's directory replica, finds and forgets entries
  of every deployed region's connection registry (and records presence on them: ``UpdateItem``), reads/writes
  the document and usage tables of every deployed region (an app's data lives in its license region), and posts
  to and closes this API's connections (``POST``, ``DELETE``: a refusal that ends the connection).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aws_cdk import (
    Acknowledgment,
    CfnElement,
    CfnOutput,
    Duration,
    Environment,
    RemovalPolicy,
    Stack,
    Validations,
    aws_iam,
    aws_kms,
)
from constructs import Construct

from cdk.constructs.alarms import Alarms
from cdk.constructs.dataplane_http_api import DataPlaneHttpApi
from cdk.constructs.function import ARCHITECTURE, RUNTIME, ServiceFunction
from cdk.constructs.keys import DIRECTORY_KEY_ALIAS, MasterKeyReplicas
from cdk.constructs.layer import SharedLayer
from cdk.constructs.regional_access import (
    CONNECTIONS_RELEASE_ACTIONS,
    OWN_API_CONNECTIONS_REASON,
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
from cdk.constructs.tables import READ_ACTIONS, WRITE_ACTIONS, SpecTable
from cdk.constructs.termination import RegionalTerminationBus
from cdk.constructs.websocket_api import STAGE_NAME, DataPlaneApi
from cdk.context import DeploymentContext
from wiresocket import names
from wiresocket.config import FUNCTION_SETTINGS
from wiresocket.names import ALL_REGIONAL_TABLES, CONNECTIONS_TABLE, DIRECTORY_TABLE, USAGE_TABLE, aws_region_of

UNCONFIGURED_ISSUER: Final = "https://issuer-base-not-configured.invalid"
"""The issuer ``ws_connect`` pins tokens to when the ``issuerBase`` context is missing: no token verifies
(fail closed) until the control plane's URL is given; synth warns (docs/deploy.md)."""

CONNECTIONS_WRITE_ACTIONS: Final = ("dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem")
"""ws_connect on the registries: $disconnect reads the record (GetItem) to return the counters it raised."""
WS_CONNECT_USAGE_ACTIONS: Final = ("dynamodb:GetItem", "dynamodb:UpdateItem")
"""ws_connect on the usage tables: limit counters and document region pins (read, then conditional updates)."""
WS_MESSAGE_CONNECTIONS_ACTIONS: Final = (*CONNECTIONS_RELEASE_ACTIONS, "dynamodb:UpdateItem")
"""ws_message on the registries: find, forget, the per-frame refusal read, and presence (conditional UpdateItem of
a connection's awareness client id and clock: docs/websocket.md "Presence")."""
WS_HTTP_USAGE_ACTIONS: Final = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem")
"""ws_http on the usage tables: pins (GetItem), counters (BatchGetItem), its rate-limit counters (UpdateItem)."""


def table_key_alias(region: str, primary_region: str) -> str:
    """The alias of the key encrypting the directory replica in ``region`` (AWS region names)."""
    return DIRECTORY_KEY_ALIAS if region == primary_region else REGIONAL_KEY_ALIAS


def regional_stack_name(license_region: str) -> str:
    """``WireSocketRegion-eu-west-1``: one per deployed license region."""
    return f"WireSocketRegion-{aws_region_of(license_region)}"


@dataclass(frozen=True)
class RegionalStackProps:
    """The deployment context, this stack's license region, and where code assets live."""

    context: DeploymentContext
    license_region: str
    layer_asset_path: Path
    functions_root: Path
    account: str | None = None


class RegionalStack(Stack):
    """The data plane of one license region."""

    def __init__(self, scope: Construct, construct_id: str, *, props: RegionalStackProps) -> None:
        if props.license_region not in props.context.regions:
            raise ValueError(f"{props.license_region} is not a deployed region")
        region = aws_region_of(props.license_region)
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=props.account, region=region),
            description=f"WireSocket data plane ({props.license_region})",
        )
        self.license_region = props.license_region
        primary = props.context.primary_aws_region
        deployed = sorted(aws_region_of(r) for r in props.context.regions)
        self.deployed_regions = tuple(deployed)

        self.key = aws_kms.Key(
            self,
            "RegionalKey",
            description="WireSocket regional data at rest: app-data tables and the directory replica",
            alias=REGIONAL_KEY_ALIAS,
            enable_key_rotation=True,
            pending_window=Duration.days(30),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.master_key_replicas: MasterKeyReplicas | None = None
        if props.context.master_key_arns and region != primary:
            self.master_key_replicas = MasterKeyReplicas(
                self, "MasterKeyReplicas", primary_key_arns=props.context.master_key_arns
            )
        self.tables = {
            spec.logical_name: SpecTable(self, spec.logical_name, spec=spec, encryption_key=self.key)
            for spec in ALL_REGIONAL_TABLES
        }
        self.layer = SharedLayer(
            self, "SharedLayer", asset_path=props.layer_asset_path, runtime=RUNTIME, architecture=ARCHITECTURE
        )

        issuer = props.context.issuer_base
        if issuer is None:
            issuer = UNCONFIGURED_ISSUER  # cdk/app.py warns (an annotation would fail the validation report)
        values = {
            names.ENV_REGION: region,
            names.ENV_DIRECTORY_TABLE: DIRECTORY_TABLE.default_name,
            names.ENV_CONNECTIONS_TABLE: CONNECTIONS_TABLE.default_name,
            names.ENV_ISSUER_BASE: issuer,
            names.ENV_DATA_REGION: region,
        }

        message_settings = "ws_message" if "ws_message" in FUNCTION_SETTINGS else "ws_connect"
        self.ws_message = ServiceFunction(
            self,
            "WsMessage",
            name="ws_message",
            settings_name=message_settings,
            functions_root=props.functions_root,
            layer=self.layer.layer,
            resource_values=values,
        )
        self.ws_connect = ServiceFunction(
            self,
            "WsConnect",
            name="ws_connect",
            functions_root=props.functions_root,
            layer=self.layer.layer,
            resource_values=values,
            memory_size=512,
        )
        self.api = DataPlaneApi(self, "WebSocket", connect=self.ws_connect.function, message=self.ws_message.function)
        # The @connections endpoint is the API's own (its id exists only once the API does).
        for service_function in (self.ws_connect, self.ws_message):
            if names.ENV_WS_MANAGEMENT_ENDPOINT in service_function.environment:
                service_function.set_variable(names.ENV_WS_MANAGEMENT_ENDPOINT, self.api.callback_url)
            if names.ENV_WS_PUBLIC_URL in service_function.environment:  # the region pin's redirect target
                service_function.set_variable(names.ENV_WS_PUBLIC_URL, self.api.public_url)
        self.ws_http = self._add_ws_http(props, values)
        self.terminator = ServiceFunction(
            self,
            "Terminator",
            name="terminator",
            functions_root=props.functions_root,
            layer=self.layer.layer,
            # The directory is written only in the primary region (its SessionsTerminated record).
            resource_values={**values, names.ENV_REGION: primary},
            timeout=Duration.seconds(60),
        )
        self.termination = RegionalTerminationBus(self, "Termination", terminator=self.terminator.function)
        self.functions: dict[str, ServiceFunction] = {
            f.name: f for f in (self.ws_connect, self.ws_message, self.terminator, self.ws_http)
        }

        every_region_regional_key = dict.fromkeys(deployed, REGIONAL_KEY_ALIAS)
        # ws_connect: this region's directory replica (read), every deployed region's connections (read/write).
        grant_named_tables(
            self,
            self.ws_connect.role,
            spec=DIRECTORY_TABLE,
            key_alias_by_region={region: table_key_alias(region, primary)},
            table_actions=READ_ACTIONS,
            key_actions=READ_KEY_ACTIONS,
        )
        grant_named_tables(
            self,
            self.ws_connect.role,
            spec=CONNECTIONS_TABLE,
            key_alias_by_region=every_region_regional_key,
            table_actions=CONNECTIONS_WRITE_ACTIONS,
            key_actions=WRITE_KEY_ACTIONS,
        )
        # ws_connect: every deployed region's usage table (connect-time limit counters and document region pins live
        # in the app's license region).
        grant_named_tables(
            self,
            self.ws_connect.role,
            spec=USAGE_TABLE,
            key_alias_by_region=every_region_regional_key,
            table_actions=WS_CONNECT_USAGE_ACTIONS,
            key_actions=WRITE_KEY_ACTIONS,
        )
        self._grant_terminator(primary, every_region_regional_key)
        # ws_message: this region's directory replica (read), every deployed region's registry (find, forget, and
        # the refusal ``$connect`` stored: GetItem on every frame) and document/usage tables (read/write: an app's
        # data lives in its license region; the region pin is a usage item), posts to this API's connections and
        # closes them (a refusal that closes: DELETE).
        grant_named_tables(
            self,
            self.ws_message.role,
            spec=DIRECTORY_TABLE,
            key_alias_by_region={region: table_key_alias(region, primary)},
            table_actions=READ_ACTIONS,
            key_actions=READ_KEY_ACTIONS,
        )
        grant_named_tables(
            self,
            self.ws_message.role,
            spec=CONNECTIONS_TABLE,
            key_alias_by_region=every_region_regional_key,
            table_actions=WS_MESSAGE_CONNECTIONS_ACTIONS,
            key_actions=WRITE_KEY_ACTIONS,
        )
        for spec in ALL_REGIONAL_TABLES:
            if spec is not CONNECTIONS_TABLE:
                grant_named_tables(
                    self,
                    self.ws_message.role,
                    spec=spec,
                    key_alias_by_region=every_region_regional_key,
                    table_actions=READ_ACTIONS + WRITE_ACTIONS,
                    key_actions=WRITE_KEY_ACTIONS,
                )
        self._grant_own_connections(self.ws_message, "POST")
        self._grant_own_connections(self.ws_message, "DELETE")
        # ws_connect: $disconnect posts the removal of the connection's awareness state to the document's others.
        self._grant_own_connections(self.ws_connect, "POST")
        self._grant_ws_http(region, primary, every_region_regional_key)
        for service_function in self.functions.values():
            policy = service_function.role.node.try_find_child("DefaultPolicy")
            if policy is not None:
                acknowledge_key_wildcards(policy, deployed)

        self.alarms = Alarms(self, "Alarms", prefix=f"WireSocket-{region}")
        self.alarms.add_authorizer_errors(self.api.api, self.ws_connect.function)
        for name, service_function in self.functions.items():
            self.alarms.add_throttles(name, service_function.function)

        CfnOutput(self, "WebSocketUrl", value=self.api.public_url)

    def _add_ws_http(self, props: RegionalStackProps, values: dict[str, str]) -> ServiceFunction:
        """ws_http (issue 6): GET /discovery, /usage, /health, / on this region's data-plane HTTP API; discovery
        hands out this region's WebSocket URL."""
        ws_http = ServiceFunction(
            self,
            "WsHttp",
            name="ws_http",
            functions_root=props.functions_root,
            layer=self.layer.layer,
            resource_values={**values, names.ENV_WS_PUBLIC_URL: self.api.public_url},
            memory_size=512,
        )
        self.http_api = DataPlaneHttpApi(self, "DataPlaneHttp", handler=ws_http.function)
        CfnOutput(self, "DataPlaneHttpUrl", value=self.http_api.url)
        return ws_http

    def _grant_terminator(self, primary: str, every_region_regional_key: dict[str, str]) -> None:
        """terminator: every deployed region's connections (find and forget: ``release`` reads the record, deletes
        it and gives back its usage counters in one transaction), the primary directory (its record), and
        ``DELETE @connections`` on this region's API."""
        grant_named_tables(
            self,
            self.terminator.role,
            spec=CONNECTIONS_TABLE,
            key_alias_by_region=every_region_regional_key,
            table_actions=CONNECTIONS_RELEASE_ACTIONS,
            key_actions=READ_KEY_ACTIONS,
        )
        grant_named_tables(
            self,
            self.terminator.role,
            spec=USAGE_TABLE,
            key_alias_by_region=every_region_regional_key,
            table_actions=USAGE_RELEASE_ACTIONS,
            key_actions=WRITE_KEY_ACTIONS,
        )
        grant_named_tables(
            self,
            self.terminator.role,
            spec=DIRECTORY_TABLE,
            key_alias_by_region={primary: DIRECTORY_KEY_ALIAS},
            table_actions=READ_ACTIONS + WRITE_ACTIONS,
            key_actions=WRITE_KEY_ACTIONS,
        )
        self._grant_own_connections(self.terminator, "DELETE")

    def _grant_ws_http(self, region: str, primary: str, every_region_regional_key: dict[str, str]) -> None:
        """ws_http: this region's directory replica (read: token state; probe), every deployed region's usage table
        (pins and counters: read; its rate-limit counters: UpdateItem only), this region's connections table (the
        health probe's GetItem only)."""
        grant_named_tables(
            self,
            self.ws_http.role,
            spec=DIRECTORY_TABLE,
            key_alias_by_region={region: table_key_alias(region, primary)},
            table_actions=("dynamodb:GetItem", "dynamodb:Query"),
            key_actions=READ_KEY_ACTIONS,
        )
        grant_named_tables(
            self,
            self.ws_http.role,
            spec=USAGE_TABLE,
            key_alias_by_region=every_region_regional_key,
            table_actions=WS_HTTP_USAGE_ACTIONS,
            key_actions=WRITE_KEY_ACTIONS,
        )
        grant_named_tables(
            self,
            self.ws_http.role,
            spec=CONNECTIONS_TABLE,
            key_alias_by_region={region: REGIONAL_KEY_ALIAS},
            table_actions=("dynamodb:GetItem",),
            key_actions=READ_KEY_ACTIONS,
        )

    def _grant_own_connections(self, service_function: ServiceFunction, method: str) -> None:
        aws_iam.Grant.add_to_principal(
            grantee=service_function.role,
            actions=["execute-api:ManageConnections"],
            resource_arns=[connections_arn(self, self.region, self.api.api_id, STAGE_NAME, method)],
        )
        policy = service_function.role.node.find_child("DefaultPolicy")
        api = self.api.api.node.default_child
        assert isinstance(api, CfnElement)
        Validations.of(policy).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::arn:{nag_partition(self)}:execute-api:{self.region}:"
                f"{nag_account(self)}:<{self.get_logical_id(api)}>/{STAGE_NAME}/{method}/@connections/*]",
                reason=OWN_API_CONNECTIONS_REASON,
            )
        )
