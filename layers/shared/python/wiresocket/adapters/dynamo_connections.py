"""DynamoDB implementation of the ``ConnectionRegistry`` (SPEC §8, §9): one table per license region.

Each call names a license region; the adapter maps it to its AWS region (``names.aws_region_of``) and uses a
boto3 client *for that region* (``client_for_region``, cached by the caller), so a record can only ever land in
the table of its app's license region. Items (``names.CONNECTIONS_TABLE``)::

    pk = "{wsRegion}#{connectionId}"   connectionId  wsRegion  endpoint  tenantId  appId  kid  document
    licenseRegion  connectedAt (N)  tokenExp (N)  expires_at_ttl (N)
    appKey = "{tenantId}#{appId}"   documentKey = "{tenantId}#{appId}#{document}"

Index reads are eventually consistent (GSIs offer nothing else): a connection registered a moment ago may be
missing from a termination sweep for a fraction of a second, which is why the data plane also re-checks state
on every message. Any AWS failure becomes ``DependencyUnavailable``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from wiresocket import names
from wiresocket.adapters.errors import unavailable_on_aws_failure
from wiresocket.domain.connections import ConnectionRecord, app_key, document_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_SPEC = names.CONNECTIONS_TABLE
_TTL = _SPEC.ttl_attribute or "expires_at_ttl"


def _item(record: ConnectionRecord) -> dict[str, Any]:
    return {
        "pk": {"S": record.key},
        "connectionId": {"S": record.connection_id},
        "wsRegion": {"S": record.ws_region},
        "endpoint": {"S": record.endpoint},
        "tenantId": {"S": record.tenant_id},
        "appId": {"S": record.app_id},
        "kid": {"S": record.kid},
        "document": {"S": record.document},
        "licenseRegion": {"S": record.license_region},
        "appKey": {"S": app_key(record.tenant_id, record.app_id)},
        "documentKey": {"S": document_key(record.tenant_id, record.app_id, record.document)},
        "connectedAt": {"N": str(record.connected_at)},
        "tokenExp": {"N": str(record.token_exp)},
        _TTL: {"N": str(record.expires_at)},
    }


def _record(item: dict[str, Any]) -> ConnectionRecord:
    return ConnectionRecord(
        connection_id=item["connectionId"]["S"],
        ws_region=item["wsRegion"]["S"],
        endpoint=item["endpoint"]["S"],
        tenant_id=item["tenantId"]["S"],
        app_id=item["appId"]["S"],
        kid=item["kid"]["S"],
        document=item["document"]["S"],
        license_region=item["licenseRegion"]["S"],
        connected_at=int(item["connectedAt"]["N"]),
        token_exp=int(item["tokenExp"]["N"]),
        expires_at=int(item[_TTL]["N"]),
    )


class DynamoConnectionRegistry:
    """Connection records in ``table_name`` of each license region, through per-region boto3 clients."""

    def __init__(self, client_for_region: Callable[[str], DynamoDBClient], table_name: str) -> None:
        self._client_for_region = client_for_region
        self._table = table_name

    def _client(self, license_region: str) -> DynamoDBClient:
        return self._client_for_region(names.aws_region_of(license_region))

    def put(self, record: ConnectionRecord) -> None:
        """Store ``record`` in its license region's table."""
        client = self._client(record.license_region)
        with unavailable_on_aws_failure("DynamoDB connection registry"):
            client.put_item(TableName=self._table, Item=_item(record))

    def delete(self, license_region: str, key: str) -> None:
        """Remove the record with ``key`` (no error if it is gone already)."""
        client = self._client(license_region)
        with unavailable_on_aws_failure("DynamoDB connection registry"):
            client.delete_item(TableName=self._table, Key={"pk": {"S": key}})

    def _query(self, license_region: str, index: str, attribute: str, value: str) -> Iterator[ConnectionRecord]:
        client = self._client(license_region)
        paginator = client.get_paginator("query")
        with unavailable_on_aws_failure("DynamoDB connection registry"):
            pages = paginator.paginate(
                TableName=self._table,
                IndexName=index,
                KeyConditionExpression="#k = :v",
                ExpressionAttributeNames={"#k": attribute},
                ExpressionAttributeValues={":v": {"S": value}},
            )
            for page in pages:
                for item in page.get("Items", []):
                    yield _record(item)

    def by_tenant(self, license_region: str, tenant_id: str) -> Iterator[ConnectionRecord]:
        """The tenant's connections in ``license_region``."""
        return self._query(license_region, "by-tenant", "tenantId", tenant_id)

    def by_app(self, license_region: str, tenant_id: str, app_id: str) -> Iterator[ConnectionRecord]:
        """The app's connections."""
        return self._query(license_region, "by-app", "appKey", app_key(tenant_id, app_id))

    def by_document(
        self, license_region: str, tenant_id: str, app_id: str, document: str
    ) -> Iterator[ConnectionRecord]:
        """The connections to one document."""
        return self._query(license_region, "by-document", "documentKey", document_key(tenant_id, app_id, document))
