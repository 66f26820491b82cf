"""DynamoDB tables built from the layer's ``TableSpec`` definitions, with least-privilege grants.

The grants name the table and each of its indexes by ARN (never ``index/*``) and allow the table key only
when DynamoDB itself calls KMS on the grantee's behalf (``kms:ViaService``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from aws_cdk import RemovalPolicy, Stack, aws_dynamodb, aws_iam, aws_kms
from constructs import Construct

from wiresocket.names import ALL_CONTROL_TABLES, TableSpec

READ_ACTIONS: Final = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
)
"""Reads a function may need. ``Scan`` is left out on purpose: no request path walks a whole table."""

SCAN_ACTIONS: Final = ("dynamodb:Scan",)
"""Granted apart (``grant_scan``), on the base table only, to the maintenance paths that walk every signing
key (``Directory.all_keys``: the master-key re-wrap and its progress report)."""

WRITE_ACTIONS: Final = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
)

_KEY_READ_ACTIONS: Final = ("kms:Decrypt", "kms:DescribeKey")
_KEY_WRITE_ACTIONS: Final = (
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)

PITR_RECOVERY_DAYS: Final = 35


class SpecTable(Construct):
    """An encrypted, on-demand, point-in-time-recoverable DynamoDB table (``TableV2``) shaped by a ``TableSpec``.

    Replicas are created only for the regions in ``replica_key_arns`` (region -> KMS key ARN there): a
    replica needs its own copy of the encryption key, which the regional stacks will provide. Version 1
    deploys the primary region only. Control-plane tables (``names.ALL_CONTROL_TABLES``, e.g. the rate-limit
    counters) are regional by design and refuse replicas.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: TableSpec,
        encryption_key: aws_kms.IKey,
        replica_key_arns: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self.encryption_key = encryption_key
        replica_key_arns = dict(replica_key_arns or {})
        if replica_key_arns and spec in ALL_CONTROL_TABLES:
            raise ValueError(f"table {spec.logical_name} is a regional control-plane table and is never replicated")
        self.table = aws_dynamodb.TableV2(
            self,
            "Table",
            table_name=spec.default_name,
            partition_key=_string_attribute(spec.partition_key),
            sort_key=_string_attribute(spec.sort_key) if spec.sort_key else None,
            billing=aws_dynamodb.Billing.on_demand(),
            encryption=aws_dynamodb.TableEncryptionV2.customer_managed_key(
                encryption_key, replica_key_arns=replica_key_arns or None
            ),
            point_in_time_recovery_specification=aws_dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True, recovery_period_in_days=PITR_RECOVERY_DAYS
            ),
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
            time_to_live_attribute=spec.ttl_attribute,
            dynamo_stream=aws_dynamodb.StreamViewType.NEW_AND_OLD_IMAGES if spec.stream else None,
            global_secondary_indexes=[
                aws_dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=index.name,
                    partition_key=_string_attribute(index.partition_key),
                    sort_key=_string_attribute(index.sort_key) if index.sort_key else None,
                    projection_type=aws_dynamodb.ProjectionType.ALL,
                )
                for index in spec.indexes
            ],
            replicas=[aws_dynamodb.ReplicaTableProps(region=region) for region in sorted(replica_key_arns)],
        )

    @property
    def table_name(self) -> str:
        """The deployed table's name (a token)."""
        return self.table.table_name

    def grant_read(self, grantee: aws_iam.IGrantable) -> None:
        """Let ``grantee`` read items of the table and query its indexes."""
        self._grant(grantee, READ_ACTIONS, _KEY_READ_ACTIONS)

    def grant_read_write(self, grantee: aws_iam.IGrantable) -> None:
        """Let ``grantee`` read and write items (including transactions) of the table."""
        self._grant(grantee, READ_ACTIONS + WRITE_ACTIONS, _KEY_READ_ACTIONS + _KEY_WRITE_ACTIONS)

    def grant_scan(self, grantee: aws_iam.IGrantable) -> None:
        """Let ``grantee`` scan the base table (never an index): for maintenance jobs, never a request path."""
        aws_iam.Grant.add_to_principal(
            grantee=grantee, actions=list(SCAN_ACTIONS), resource_arns=[self.table.table_arn]
        )
        self._grant_key(grantee, _KEY_READ_ACTIONS)

    def _grant(self, grantee: aws_iam.IGrantable, table_actions: tuple[str, ...], key_actions: tuple[str, ...]) -> None:
        table_arn = self.table.table_arn
        aws_iam.Grant.add_to_principal(
            grantee=grantee,
            actions=list(table_actions),
            resource_arns=[table_arn, *(f"{table_arn}/index/{index.name}" for index in self.spec.indexes)],
        )
        self._grant_key(grantee, key_actions)

    def _grant_key(self, grantee: aws_iam.IGrantable, key_actions: tuple[str, ...]) -> None:
        aws_iam.Grant.add_to_principal(
            grantee=grantee,
            actions=list(key_actions),
            resource_arns=[self.encryption_key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{Stack.of(self).region}.amazonaws.com"}},
        )


def _string_attribute(name: str) -> aws_dynamodb.Attribute:
    return aws_dynamodb.Attribute(name=name, type=aws_dynamodb.AttributeType.STRING)
