"""DynamoDB implementation of the ``ConnectionRegistry`` (SPEC §8, §9): one table per license region.

Each call names a license region; the adapter maps it to its AWS region (``names.aws_region_of``) and uses a
boto3 client *for that region* (``client_for_region``, cached by the caller), so a record can only ever land in
the table of its app's license region. Items (``names.CONNECTIONS_TABLE``)::

    pk = "{wsRegion}#{connectionId}"   connectionId  wsRegion  endpoint  tenantId  appId  kid  document
    licenseRegion  connectedAt (N)  tokenExp (N)  expires_at_ttl (N)
    appKey = "{tenantId}#{appId}"   documentKey = "{tenantId}#{appId}#{document}"

**Connect-time limits** (``admit``): the registry write and three counters in the usage table
(``names.USAGE_TABLE``, same license region) commit in one ``TransactWriteItems``::

    Put    registry item                      IF attribute_not_exists(pk)
    Update conn#{t}#{a}       ADD count 1     IF count < maxConnections   (or absent)
    Update users#{t}#{a}#{d}  ADD count 1     IF count = 0 (or absent)     -- first user: the document becomes active
           + Update docs#{t}#{a} ADD count 1  IF count < maxDocuments      (or absent)
      or   users#{t}#{a}#{d}  ADD count 1     IF 1 <= count < maxUsersPerDoc  -- later users

Which branch is chosen depends on a strongly consistent read of the document's user count; if it changed
meanwhile the condition fails and the attempt is retried with a fresh read (optimistic concurrency), as is a
transaction conflict. So each limit is reached exactly at its number under any concurrency. A connection
over a limit is **still registered** (the handshake succeeds: API Gateway cannot send a frame during
``$connect``), with ``refusedCode``/``refusedReason`` and no counter touched; ``$default`` answers its first
frame with the error frame and closes it (``refusal``), and ``by_document`` never returns it.

Records written by ``put`` (no limits enforced) carry no ``counted`` flag and touch no counter.
``delete`` reads the record (strongly consistent) and removes it in one transaction with the counter
decrements it had raised, conditioned on the record still existing: a ``$disconnect`` delivered twice, or a
disconnect racing a 410 prune, decrements exactly once. When the last user of a document leaves, the app's
active-document count drops in the same transaction.

Index reads are eventually consistent (GSIs offer nothing else): a connection registered a moment ago may be
missing from a termination sweep for a fraction of a second, which is why the data plane also re-checks state
on every message. Any AWS failure becomes ``DependencyUnavailable``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from wiresocket import names
from wiresocket.adapters.errors import unavailable_on_aws_failure
from wiresocket.domain.connections import ConnectionRecord, app_key, document_key
from wiresocket.domain.errors import DependencyUnavailable, InvalidInput
from wiresocket.domain.limits import (
    Refusal,
    connect_refusal,
    connection_limit_exceeded,
    connections_counter_key,
    document_limit_exceeded,
    document_users_key,
    documents_counter_key,
    users_per_doc_exceeded,
    zero_limit_refusal,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_SPEC = names.CONNECTIONS_TABLE
_TTL = _SPEC.ttl_attribute or "expires_at_ttl"
_REFUSED_CODE: Final = "refusedCode"
_REFUSED_REASON: Final = "refusedReason"
_COUNTED: Final = "counted"  # set on records whose admission raised the counters (only those lower them)
ATTEMPTS: Final = 50
"""Optimistic retries of one admit/release before giving up (503): only reached under extreme contention."""
_CCF: Final = "ConditionalCheckFailed"


def _usage_table_from_env() -> str:
    return os.environ.get(names.ENV_USAGE_TABLE) or names.USAGE_TABLE.default_name


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


def _counter_update(table: str, key: str, delta: int, condition: str | None, values: dict[str, Any]) -> dict[str, Any]:
    update: dict[str, Any] = {
        "TableName": table,
        "Key": {"pk": {"S": key}},
        "UpdateExpression": "ADD #c :d",
        "ExpressionAttributeNames": {"#c": "count"},
        "ExpressionAttributeValues": {":d": {"N": str(delta)}, **values},
    }
    if condition:
        update["ConditionExpression"] = condition
    if not update["ExpressionAttributeValues"]:
        del update["ExpressionAttributeValues"]
    return {"Update": update}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _cancel_codes(exc: ClientError, size: int) -> list[str] | None:
    """The per-item cancellation codes of a cancelled transaction; None for any other error."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    reasons: Any = exc.response.get("CancellationReasons")
    if not isinstance(reasons, list) or len(reasons) != size:
        return ["TransactionConflict"] * size  # no usable reasons: treat as a conflict and retry
    return [str(r.get("Code") or "None") if isinstance(r, dict) else "None" for r in reasons]


class DynamoConnectionRegistry:
    """Connection records in ``table_name`` of each license region, through per-region boto3 clients; the
    connect-time limit counters in ``usage_table`` (default: ``WIRESOCKET_USAGE_TABLE`` or ``wiresocket-usage``)
    of the same region."""

    def __init__(
        self,
        client_for_region: Callable[[str], DynamoDBClient],
        table_name: str,
        usage_table: str | None = None,
    ) -> None:
        self._client_for_region = client_for_region
        self._table = table_name
        self._usage = usage_table or _usage_table_from_env()

    def _client(self, license_region: str) -> DynamoDBClient:
        return self._client_for_region(names.aws_region_of(license_region))

    def put(self, record: ConnectionRecord) -> None:
        """Store ``record`` in its license region's table."""
        client = self._client(record.license_region)
        with unavailable_on_aws_failure("DynamoDB connection registry"):
            client.put_item(TableName=self._table, Item=_item(record))

    def delete(self, license_region: str, key: str) -> None:
        """Remove the record with ``key`` (no error if it is gone already), returning the counters it raised."""
        self.release(license_region, key)

    # --- connect-time limits ---------------------------------------------------------------------------------

    def _count(self, client: DynamoDBClient, key: str) -> int:
        got = client.get_item(TableName=self._usage, Key={"pk": {"S": key}}, ConsistentRead=True)
        value = got.get("Item", {}).get("count", {}).get("N")
        return int(value) if value is not None else 0

    def _put_refused(self, client: DynamoDBClient, record: ConnectionRecord, refusal: Refusal) -> Refusal:
        item = _item(record)
        item[_REFUSED_CODE] = _n(int(refusal.code))
        item[_REFUSED_REASON] = {"S": refusal.reason}
        try:
            client.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise InvalidInput("connection already registered") from exc
            raise
        return refusal

    def admit(self, record: ConnectionRecord, limits: Mapping[str, int]) -> Refusal | None:
        """Register ``record`` if the app's limits allow it (counters raised atomically with the write); else
        register it as refused and return the refusal. ``InvalidInput`` if the key is registered already."""
        max_conn, max_docs, max_users = limits["maxConnections"], limits["maxDocuments"], limits["maxUsersPerDoc"]
        client = self._client(record.license_region)
        t, a, d = record.tenant_id, record.app_id, record.document
        conn_key, docs_key, users_key = (
            connections_counter_key(t, a),
            documents_counter_key(t, a),
            document_users_key(t, a, d),
        )
        with unavailable_on_aws_failure("DynamoDB connection registry"):
            zero = zero_limit_refusal(max_conn, max_users, max_docs)
            if zero is not None:
                return self._put_refused(client, record, zero)
            for _ in range(ATTEMPTS):
                users = self._count(client, users_key)
                if users >= max_users:
                    # Still check the app-wide limit first: 4004 wins over 4008 (as in the transaction below).
                    if self._count(client, conn_key) >= max_conn:
                        return self._put_refused(client, record, connection_limit_exceeded(max_conn))
                    return self._put_refused(client, record, users_per_doc_exceeded(max_users))
                first = users == 0
                items: list[Any] = [
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {**_item(record), _COUNTED: {"BOOL": True}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    _counter_update(
                        self._usage, conn_key, 1, "attribute_not_exists(#c) OR #c < :max", {":max": _n(max_conn)}
                    ),
                ]
                if first:
                    items.append(
                        _counter_update(
                            self._usage, users_key, 1, "attribute_not_exists(#c) OR #c = :zero", {":zero": _n(0)}
                        )
                    )
                    items.append(
                        _counter_update(
                            self._usage, docs_key, 1, "attribute_not_exists(#c) OR #c < :max", {":max": _n(max_docs)}
                        )
                    )
                else:
                    items.append(
                        _counter_update(
                            self._usage,
                            users_key,
                            1,
                            "#c >= :one AND #c < :max",
                            {":one": _n(1), ":max": _n(max_users)},
                        )
                    )
                try:
                    client.transact_write_items(TransactItems=items)
                    return None
                except ClientError as exc:
                    codes = _cancel_codes(exc, len(items))
                    if codes is None:
                        raise
                if codes[0] == _CCF:
                    raise InvalidInput("connection already registered")
                if codes[1] == _CCF:
                    return self._put_refused(client, record, connection_limit_exceeded(max_conn))
                if len(codes) > 3 and codes[3] == _CCF and codes[2] != _CCF:
                    active = self._count(client, docs_key)
                    return self._put_refused(client, record, document_limit_exceeded(max_docs, active))
                # The user count moved under us, or a transaction conflict: read again and retry.
            raise DependencyUnavailable("connection limits: too much contention")

    def release(self, license_region: str, key: str) -> bool:
        """Remove the record with ``key`` and lower the counters it raised, atomically; False if it was gone."""
        client = self._client(license_region)
        with unavailable_on_aws_failure("DynamoDB connection registry"):
            for _ in range(ATTEMPTS):
                got = client.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True)
                item = got.get("Item")
                if not item:
                    return False
                delete: dict[str, Any] = {
                    "Delete": {
                        "TableName": self._table,
                        "Key": {"pk": {"S": key}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                }
                items: list[Any] = [delete]
                if item.get(_COUNTED, {}).get("BOOL") is True:  # admitted by ``admit``: give its counters back
                    t, a, d = item["tenantId"]["S"], item["appId"]["S"], item["document"]["S"]
                    items.append(_counter_update(self._usage, connections_counter_key(t, a), -1, None, {}))
                    users = self._count(client, document_users_key(t, a, d))
                    if users == 1:  # the last user leaves: the document is no longer active
                        items.append(
                            _counter_update(self._usage, document_users_key(t, a, d), -1, "#c = :one", {":one": _n(1)})
                        )
                        items.append(_counter_update(self._usage, documents_counter_key(t, a), -1, None, {}))
                    elif users > 1:
                        items.append(
                            _counter_update(self._usage, document_users_key(t, a, d), -1, "#c > :one", {":one": _n(1)})
                        )
                    # users <= 0 would be drift; never push a counter below zero.
                try:
                    client.transact_write_items(TransactItems=items)
                    return True
                except ClientError as exc:
                    codes = _cancel_codes(exc, len(items))
                    if codes is None:
                        raise
                    if codes[0] == _CCF:
                        return False  # removed concurrently (a second $disconnect, a 410 prune): counted once
            raise DependencyUnavailable("connection limits: too much contention")

    def refusal(self, license_region: str, key: str) -> Refusal | None:
        """The refusal stored with a connection ``$connect`` accepted over a limit; None for any other."""
        client = self._client(license_region)
        with unavailable_on_aws_failure("DynamoDB connection registry"):
            got = client.get_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                ConsistentRead=True,
                ProjectionExpression="#c, #r",
                ExpressionAttributeNames={"#c": _REFUSED_CODE, "#r": _REFUSED_REASON},
            )
        item = got.get("Item")
        if not item or _REFUSED_CODE not in item:
            return None
        try:
            return connect_refusal(int(item[_REFUSED_CODE]["N"]), item.get(_REFUSED_REASON, {}).get("S", ""))
        except (ValueError, KeyError):
            return connection_limit_exceeded(0)  # a malformed refusal still refuses (fail closed)

    def _query(
        self, license_region: str, index: str, attribute: str, value: str, *, include_refused: bool = True
    ) -> Iterator[ConnectionRecord]:
        client = self._client(license_region)
        paginator = client.get_paginator("query")
        with unavailable_on_aws_failure("DynamoDB connection registry"):
            extra: dict[str, Any] = {}
            if not include_refused:
                extra = {"FilterExpression": "attribute_not_exists(#refused)"}
            pages = paginator.paginate(
                TableName=self._table,
                IndexName=index,
                KeyConditionExpression="#k = :v",
                ExpressionAttributeNames={"#k": attribute, **({"#refused": _REFUSED_CODE} if extra else {})},
                ExpressionAttributeValues={":v": {"S": value}},
                **extra,
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
        """The connections to one document that were admitted (a refused connection never receives its updates)."""
        return self._query(
            license_region,
            "by-document",
            "documentKey",
            document_key(tenant_id, app_id, document),
            include_refused=False,
        )
