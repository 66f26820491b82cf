"""DynamoDB implementation of the rate limiter's ``CounterStore`` (SPEC §7): atomic counters with TTL.

One item per counter in ``names.RATE_LIMIT_TABLE``::

    pk = "{policy}#{subject hash}#{window_start}"   count (N)   window_start (N)   expires_at_ttl (N)

``UpdateItem`` with ``ADD`` is atomic on the server, so concurrent Lambdas never lose a count, and needs no
read first (one round trip per request). DynamoDB's TTL reaper deletes counters some time after
``expires_at_ttl``; since the window is part of the key, a not-yet-reaped counter is never counted again.

Any AWS failure becomes ``DependencyUnavailable``: the limiter fails closed (see
``wiresocket.services.ratelimit``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from wiresocket import names
from wiresocket.adapters.errors import unavailable_on_aws_failure

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

COUNT_ATTRIBUTE = "count"
_WINDOW = "window_start"


def stored_count(item: Mapping[str, Any] | None) -> int:
    """The count held by a counter item as DynamoDB returns it (0 for no item or no count)."""
    if not item or COUNT_ATTRIBUTE not in item:
        return 0
    return int(item[COUNT_ATTRIBUTE]["N"])


class DynamoCounterStore:
    """Counters in a DynamoDB table shaped like ``names.RATE_LIMIT_TABLE``, over an injected boto3 client."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name
        self._pk = names.RATE_LIMIT_TABLE.partition_key
        self._ttl = names.RATE_LIMIT_TABLE.ttl_attribute or "expires_at_ttl"

    def increment(self, key: str, window_start: int, ttl_at: int) -> int:
        """Atomically add 1 to counter ``key`` (created on first use, expiring at ``ttl_at``); the new count.

        Raises ``DependencyUnavailable`` if DynamoDB cannot be reached or refuses the request.
        """
        with unavailable_on_aws_failure("DynamoDB rate-limit counters"):
            out = self._client.update_item(
                TableName=self._table,
                Key={self._pk: {"S": key}},
                UpdateExpression="ADD #c :one SET #ttl = if_not_exists(#ttl, :ttl), #w = if_not_exists(#w, :w)",
                ExpressionAttributeNames={"#c": COUNT_ATTRIBUTE, "#ttl": self._ttl, "#w": _WINDOW},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":ttl": {"N": str(ttl_at)},
                    ":w": {"N": str(window_start)},
                },
                ReturnValues="UPDATED_NEW",
            )
        return int(out["Attributes"][COUNT_ATTRIBUTE]["N"])

    def peek(self, key: str, window_start: int) -> int:
        """The current count of ``key`` (0 if it does not exist), read strongly consistently.

        Raises ``DependencyUnavailable`` if DynamoDB cannot be reached or refuses the request.
        """
        with unavailable_on_aws_failure("DynamoDB rate-limit counters"):
            out = self._client.get_item(
                TableName=self._table,
                Key={self._pk: {"S": key}},
                ConsistentRead=True,
                ProjectionExpression="#c",
                ExpressionAttributeNames={"#c": COUNT_ATTRIBUTE},
            )
        return stored_count(out.get("Item"))


def create_rate_limit_table(client: DynamoDBClient, table_name: str | None = None) -> str:
    """Create the counters table (with its TTL) from ``names.RATE_LIMIT_TABLE``; returns its name.

    For the local stack and the integration tests only (the CDK app creates it in AWS).
    """
    from wiresocket.local.resources import create_table  # local tooling: never loaded on the request path

    return create_table(client, names.RATE_LIMIT_TABLE, table_name)
