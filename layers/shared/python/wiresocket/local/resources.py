"""Create the AWS resources of the stack in moto (or any endpoint) from the shared definitions in ``names``.

Used by the local stack and by the integration tests, so both run against exactly the tables, indexes, KMS
key and event bus that the CDK app declares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wiresocket import names

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_kms import KMSClient


def table_definition(spec: names.TableSpec, table_name: str | None = None) -> dict[str, Any]:
    """The ``CreateTable`` request for ``spec`` (on-demand billing, string keys, GSIs projecting ALL)."""
    key_schema = [{"AttributeName": spec.partition_key, "KeyType": "HASH"}]
    if spec.sort_key:
        key_schema.append({"AttributeName": spec.sort_key, "KeyType": "RANGE"})
    request: dict[str, Any] = {
        "TableName": table_name or spec.default_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in spec.key_attributes()],
        "KeySchema": key_schema,
    }
    if spec.indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition_key, "KeyType": "HASH"},
                    *([{"AttributeName": index.sort_key, "KeyType": "RANGE"}] if index.sort_key else []),
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in spec.indexes
        ]
    if spec.stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    return request


def create_table(client: DynamoDBClient, spec: names.TableSpec, table_name: str | None = None) -> str:
    """Create one table (and its TTL setting) from ``spec``; returns its name."""
    request = table_definition(spec, table_name)
    client.create_table(**request)
    if spec.ttl_attribute:
        client.update_time_to_live(
            TableName=request["TableName"],
            TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
        )
    return str(request["TableName"])


@dataclass(frozen=True)
class GlobalResources:
    """What ``create_global_resources`` made: names and ids to put into function settings."""

    directory_table: str
    master_key_arn: str
    master_key_alias: str
    audit_bus: str
    rate_limit_table: str
    idempotency_table: str


def create_master_key(kms: KMSClient, alias: str = "alias/wiresocket-master") -> str:
    """Create a symmetric KMS key for envelope encryption and point ``alias`` at it; returns the key ARN."""
    key = kms.create_key(
        Description="WireSocket tenant signing-key master key (local)",
        KeyUsage="ENCRYPT_DECRYPT",
        KeySpec="SYMMETRIC_DEFAULT",
    )
    arn = key["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyMetadata"]["KeyId"])
    return arn


def create_global_resources(dynamodb: DynamoDBClient, kms: KMSClient, events: EventBridgeClient) -> GlobalResources:
    """Create the directory, rate-limit and idempotency tables, the two master-key slots with the working alias
    on the first, and the audit bus."""
    table = create_table(dynamodb, names.DIRECTORY_TABLE)
    rate_limits = create_table(dynamodb, names.RATE_LIMIT_TABLE)
    idempotency = create_table(dynamodb, names.IDEMPOTENCY_TABLE)
    # Two identical master-key slots, as the CDK app provisions them; the working alias starts on slot a and
    # rotation re-points it (docs/keys.md). Functions are configured with the alias, never a key ARN.
    alias = names.MASTER_KEY_ALIAS
    arn = create_master_key(kms, names.MASTER_KEY_SLOTS[0])
    create_master_key(kms, names.MASTER_KEY_SLOTS[1])
    kms.create_alias(AliasName=alias, TargetKeyId=arn)
    events.create_event_bus(Name=names.AUDIT_BUS_NAME)
    return GlobalResources(
        directory_table=table,
        master_key_arn=arn,
        master_key_alias=alias,
        audit_bus=names.AUDIT_BUS_NAME,
        rate_limit_table=rate_limits,
        idempotency_table=idempotency,
    )


def create_regional_resources(
    dynamodb_client_for_region: Callable[[str], DynamoDBClient],
    license_regions: tuple[str, ...] = names.LICENSE_REGIONS,
) -> dict[str, tuple[str, ...]]:
    """Create every regional app-data table (``names.ALL_REGIONAL_TABLES``) in the AWS region of each license
    region, with a client for *that* region (moto keeps regions apart, as AWS does); returns
    ``{aws_region: table names}``."""
    created: dict[str, tuple[str, ...]] = {}
    for license_region in license_regions:
        region = names.aws_region_of(license_region)
        client = dynamodb_client_for_region(region)
        created[region] = tuple(create_table(client, spec) for spec in names.ALL_REGIONAL_TABLES)
    return created
