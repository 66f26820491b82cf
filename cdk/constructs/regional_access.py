"""Grants on resources of *other* stacks and regions, by deterministic names (never cross-region references).

CDK refuses references between stacks in different regions (only an opt-in SSM/custom-resource bridge exists),
and CloudFormation could not resolve them anyway. Everything one stack needs of another region is therefore
named, not referenced:

- tables by their fixed names (``names.*_TABLE.default_name``, the same in every region): ``arn:{partition}:
  dynamodb:{region}:{account}:table/{name}`` and each index ``.../index/{index}`` by name (never ``index/*``);
- the KMS key that encrypts a table in a region by its alias: KMS key ids are random, so the key grant is on
  ``arn:{partition}:kms:{region}:{account}:key/*`` *narrowed* by ``kms:ResourceAliases`` (only the key that
  carries exactly that alias) and ``kms:ViaService`` (only when DynamoDB in that region calls KMS for the
  grantee). cdk-nag reports the ``key/*`` resource (AwsSolutions-IAM5); each such finding is acknowledged on
  the role's policy with ``KEY_BY_ALIAS_REASON``;
- a regional WebSocket API's ``@connections`` by stage and method; the API id is random, so callers outside
  the regional stack (the global admin function) are granted ``*/{stage}/{method}/@connections/*`` in that
  region and account, acknowledged with ``OTHER_REGION_API_REASON``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from aws_cdk import Acknowledgment, Stack, Token, Validations, aws_iam
from constructs import IConstruct

from wiresocket.names import TableSpec

REGIONAL_KEY_ALIAS: Final = "alias/wiresocket-regional"
"""The customer-managed key of each regional stack: its app-data tables and (outside the primary region) the
directory's replica. The same alias in every region, so any stack can name it."""

KEY_BY_ALIAS_REASON: Final = (
    "The table key of another stack or region is named by its alias, because KMS key ids are random and CDK "
    "cannot reference resources across regions. The key/* resource is narrowed to exactly one key per region "
    "by kms:ResourceAliases (the WireSocket table-key alias) and is usable only when DynamoDB in that region "
    "calls KMS on the caller's behalf (kms:ViaService), for the table grants next to it and nothing else."
)
OTHER_REGION_API_REASON: Final = (
    "Termination must close connections held by the WebSocket API of every deployed region, whose API ids "
    "are random and live in other stacks and regions (no cross-region references). The grant is limited to "
    "execute-api:ManageConnections, on the WireSocket stage name and the DELETE @connections route only, in "
    "this account and in the deployed regions; the connection id is the only other varying part."
)
OWN_API_CONNECTIONS_REASON: Final = (
    "execute-api:ManageConnections is granted on this stack's own WebSocket API and stage only, one statement "
    "per @connections method the function calls; the trailing wildcard is the connection id, which exists only "
    "at run time, so it cannot be named in the policy."
)

CONNECTIONS_RELEASE_ACTIONS: Final = ("dynamodb:Query", "dynamodb:GetItem", "dynamodb:DeleteItem")
"""Finding and forgetting entries of a connections table: ``by_document``/``by_app``/``by_tenant`` (Query),
``refusal`` and ``release`` (GetItem: the record says which counters it raised), the record's ``Delete`` in
``release``'s transaction (DeleteItem; a transaction is authorised per item action)."""
USAGE_RELEASE_ACTIONS: Final = ("dynamodb:GetItem", "dynamodb:UpdateItem")
"""``DynamoConnectionRegistry.release`` on the usage table of the record's license region: reads the document's
user count (GetItem), lowers the counters in the same transaction as the record's delete (UpdateItem)."""

READ_KEY_ACTIONS: Final = ("kms:Decrypt", "kms:DescribeKey")
WRITE_KEY_ACTIONS: Final = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)


def table_arn(scope: IConstruct, region: str, spec: TableSpec) -> str:
    """``arn:{partition}:dynamodb:{region}:{account}:table/{name}`` of ``spec``'s table in ``region``."""
    return Stack.of(scope).format_arn(
        service="dynamodb", region=region, resource="table", resource_name=spec.default_name
    )


def table_and_index_arns(scope: IConstruct, region: str, spec: TableSpec) -> list[str]:
    """The table's ARN and each of its indexes' ARNs, by name."""
    base = table_arn(scope, region, spec)
    return [base, *(f"{base}/index/{index.name}" for index in spec.indexes)]


def key_wildcard_arn(scope: IConstruct, region: str) -> str:
    """``arn:{partition}:kms:{region}:{account}:key/*`` (always narrowed by alias and service conditions)."""
    return Stack.of(scope).format_arn(service="kms", region=region, resource="key", resource_name="*")


def grant_named_tables(
    scope: IConstruct,
    grantee: aws_iam.IGrantable,
    *,
    spec: TableSpec,
    key_alias_by_region: dict[str, str],
    table_actions: Sequence[str],
    key_actions: Sequence[str],
) -> None:
    """Grant ``table_actions`` on ``spec``'s table (and indexes) in each region, and the table key by alias."""
    for region, alias in sorted(key_alias_by_region.items()):
        aws_iam.Grant.add_to_principal(
            grantee=grantee, actions=list(table_actions), resource_arns=table_and_index_arns(scope, region, spec)
        )
        aws_iam.Grant.add_to_principal(
            grantee=grantee,
            actions=list(key_actions),
            resource_arns=[key_wildcard_arn(scope, region)],
            conditions={
                "StringEquals": {"kms:ViaService": f"dynamodb.{region}.amazonaws.com"},
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": [alias]},
            },
        )


def nag_account(scope: IConstruct) -> str:
    """The account as cdk-nag renders it in a finding id: the literal account, or ``<AWS::AccountId>``."""
    account = Stack.of(scope).account
    return "<AWS::AccountId>" if Token.is_unresolved(account) else account


def nag_partition(scope: IConstruct) -> str:
    """The partition as cdk-nag renders it: literal (``aws``, with a known region) or ``<AWS::Partition>``."""
    partition = Stack.of(scope).partition
    return "<AWS::Partition>" if Token.is_unresolved(partition) else partition


def acknowledge_key_wildcards(policy: IConstruct, regions: Iterable[str]) -> None:
    """Acknowledge cdk-nag's ``key/*`` findings of ``grant_named_tables`` on ``policy`` (one per region)."""
    account, partition = nag_account(policy), nag_partition(policy)
    Validations.of(policy).acknowledge(
        *(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::arn:{partition}:kms:{region}:{account}:key/*]",
                reason=KEY_BY_ALIAS_REASON,
            )
            for region in sorted(set(regions))
        )
    )


def connections_arn(scope: IConstruct, region: str, api_id: str, stage: str, method: str) -> str:
    """``arn:{partition}:execute-api:{region}:{account}:{api_id}/{stage}/{method}/@connections/*``."""
    return Stack.of(scope).format_arn(
        service="execute-api", region=region, resource=api_id, resource_name=f"{stage}/{method}/@connections/*"
    )
