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

**Region pinning** (``domain.pinning``, docs/websocket.md "Region pinning"): the document's user counter item
``users#{t}#{a}#{d}`` also carries its pin: ``wsRegion``, ``wsUrl`` (the pinning region's public ``wss://``
URL), ``wsSession`` (the session the document's state is stored under) and ``idleSince`` (N, set when the last
user leaves, removed when a user arrives; with it the item gets a TTL well after the grace period). Before the
limits, a connection to a document whose pin binds another region (users, or idle for less than the grace
period) is registered as refused with 4009, no counter touched. A first user pins the document in the same
transaction, conditioned on the exact pin state it read, so of two regions racing for a free document exactly
one wins; the loser re-reads and gets 4009. A first user within the grace period in the pinning region keeps
the session; any other first user starts a new one (the released state is never read again).

Records written by ``put`` (no limits enforced) carry no ``counted`` flag and touch no counter.
``delete`` reads the record (strongly consistent) and removes it in one transaction with the counter
decrements it had raised, conditioned on the record still existing: a ``$disconnect`` delivered twice, or a
disconnect racing a 410 prune, decrements exactly once. When the last user of a document leaves, the app's
active-document count drops in the same transaction.

**Presence** (``services.presence``, docs/websocket.md "Presence"): ``$default`` records on the connection's
item the awareness client id it controls and a recent clock (``awClient`` N, ``awClock`` N, ``awLeft`` BOOL),
with conditional ``UpdateItem``s that never create an item and only let the clock grow; ``release_presence``
is ``release`` returning them.

Index reads are eventually consistent (GSIs offer nothing else): a connection registered a moment ago may be
missing from a termination sweep for a fraction of a second, which is why the data plane also re-checks state
on every message. Any AWS failure becomes ``DependencyUnavailable``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from wiresocket import names
from wiresocket.adapters.errors import cancellation_codes, unavailable_on_aws_failure
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
    uncounted_refusal,
    users_per_doc_exceeded,
)
from wiresocket.domain.pinning import GRACE_SECONDS, DocumentPin, kept_session, new_session_id, redirect_for
from wiresocket.domain.yprotocol import MAX_VARUINT, Presence

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_SPEC = names.CONNECTIONS_TABLE
_TTL = _SPEC.ttl_attribute or "expires_at_ttl"
_REFUSED_CODE: Final = "refusedCode"
_REFUSED_REASON: Final = "refusedReason"
_COUNTED: Final = "counted"  # set on records whose admission raised the counters (only those lower them)
_AW_CLIENT, _AW_CLOCK, _AW_LEFT = "awClient", "awClock", "awLeft"  # presence (services.presence)
ATTEMPTS: Final = 50
"""Optimistic retries of one admit/release before giving up (503): only reached under extreme contention."""
_CCF: Final = "ConditionalCheckFailed"
_USAGE_TTL = names.USAGE_TABLE.ttl_attribute or "expires_at_ttl"
IDLE_PIN_RETENTION_SECONDS: Final = 24 * 3600
"""How long after the grace period an idle document's counter/pin item is kept before TTL may reap it."""
_PIN_ATTRIBUTES: Final = {"#region": "wsRegion", "#url": "wsUrl", "#session": "wsSession", "#idle": "idleSince"}


def _usage_table_from_env() -> str:
    return os.environ.get(names.ENV_USAGE_TABLE) or names.USAGE_TABLE.default_name


def _grace_from_env() -> int:
    raw = os.environ.get(names.ENV_PIN_GRACE_SECONDS, "")
    try:
        value = int(raw)
    except ValueError:
        return GRACE_SECONDS
    return value if 1 <= value <= GRACE_SECONDS else GRACE_SECONDS


def _pin(item: Mapping[str, Any] | None, grace_seconds: int) -> DocumentPin | None:
    """The pin stored on a user counter item (None: never pinned, or not a well-formed pin)."""
    if not item:
        return None
    region = item.get("wsRegion", {}).get("S")
    if not isinstance(region, str) or not region:
        return None
    try:
        users = int(item.get("count", {}).get("N", "0"))
        idle_raw = item.get("idleSince", {}).get("N")
        idle = int(idle_raw) if idle_raw is not None else None
    except ValueError:
        return None
    return DocumentPin(
        ws_region=region,
        ws_url=str(item.get("wsUrl", {}).get("S", "")),
        users=max(users, 0),
        idle_since=idle,
        session=str(item.get("wsSession", {}).get("S", "")),
        grace_seconds=grace_seconds,
    )


def _same_as_read(item: Mapping[str, Any] | None, values: dict[str, Any]) -> str:
    """A condition that holds only while the pin attributes are exactly as read (optimistic concurrency)."""
    parts = []
    for placeholder, attribute in _PIN_ATTRIBUTES.items():
        value = (item or {}).get(attribute)
        if value is None:
            parts.append(f"attribute_not_exists({placeholder})")
        else:
            token = f":was_{attribute}"
            values[token] = value
            parts.append(f"{placeholder} = {token}")
    return " AND ".join(parts)


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


def _presence_of(item: Mapping[str, Any] | None) -> Presence | None:
    """The presence on a registry item (None: none, or not well formed)."""
    if not item or _AW_CLIENT not in item:
        return None
    try:
        client_id, clock = int(item[_AW_CLIENT]["N"]), int(item[_AW_CLOCK]["N"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (0 <= client_id <= MAX_VARUINT and 0 <= clock <= MAX_VARUINT):
        return None
    return Presence(client_id, clock, item.get(_AW_LEFT, {}).get("BOOL") is True)


def _count_of(item: Mapping[str, Any] | None) -> int:
    value = (item or {}).get("count", {}).get("N")
    return int(value) if value is not None else 0


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


class DynamoConnectionRegistry:
    """Connection records in ``table_name`` of each license region, through per-region boto3 clients; the
    connect-time limit counters in ``usage_table`` (default: ``WIRESOCKET_USAGE_TABLE`` or ``wiresocket-usage``)
    of the same region."""

    def __init__(
        self,
        client_for_region: Callable[[str], DynamoDBClient],
        table_name: str,
        usage_table: str | None = None,
        *,
        grace_seconds: int | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._client_for_region = client_for_region
        self._table = table_name
        self._usage = usage_table or _usage_table_from_env()
        self._grace = grace_seconds if grace_seconds is not None else _grace_from_env()
        if self._grace < 1:
            raise ValueError("grace_seconds must be positive")
        self._now = now

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
        return _count_of(self._usage_item(client, key))

    def _usage_item(self, client: DynamoDBClient, key: str) -> dict[str, Any] | None:
        got = client.get_item(TableName=self._usage, Key={"pk": {"S": key}}, ConsistentRead=True)
        return got.get("Item")

    def document_pin(self, license_region: str, tenant_id: str, app_id: str, document: str) -> DocumentPin | None:
        """The document's pin (strongly consistent read in its license region); None if never pinned."""
        client = self._client(license_region)
        with unavailable_on_aws_failure("DynamoDB connection registry"):
            item = self._usage_item(client, document_users_key(tenant_id, app_id, document))
        return _pin(item, self._grace)

    def _first_user_update(
        self, users_key: str, item: dict[str, Any] | None, record: ConnectionRecord, ws_url: str, session: str
    ) -> dict[str, Any]:
        """Raise the count from 0 and (re)pin the document here, only if nothing changed since ``item`` was read."""
        values: dict[str, Any] = {
            ":one": _n(1),
            ":zero": _n(0),
            ":region": {"S": record.ws_region},
            ":url": {"S": ws_url},
            ":session": {"S": session},
        }
        same = _same_as_read(item, values)
        return {
            "Update": {
                "TableName": self._usage,
                "Key": {"pk": {"S": users_key}},
                "UpdateExpression": "SET #region = :region, #url = :url, #session = :session "
                "REMOVE #idle, #ttl ADD #c :one",
                "ConditionExpression": f"(attribute_not_exists(#c) OR #c = :zero) AND {same}",
                "ExpressionAttributeNames": {"#c": "count", "#ttl": _USAGE_TTL, **_PIN_ATTRIBUTES},
                "ExpressionAttributeValues": values,
            }
        }

    def _later_user_update(self, users_key: str, pin: DocumentPin | None, max_users: int) -> dict[str, Any]:
        """Raise a count of at least 1 below the limit, only while the pin (if any) is still this region's."""
        values: dict[str, Any] = {":one": _n(1), ":max": _n(max_users)}
        if pin is None:
            where = "attribute_not_exists(#region)"
        else:
            where = "#region = :region"
            values[":region"] = {"S": pin.ws_region}
        return {
            "Update": {
                "TableName": self._usage,
                "Key": {"pk": {"S": users_key}},
                "UpdateExpression": "ADD #c :one",
                "ConditionExpression": f"#c >= :one AND #c < :max AND {where}",
                "ExpressionAttributeNames": {"#c": "count", "#region": "wsRegion"},
                "ExpressionAttributeValues": values,
            }
        }

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

    def admit(self, record: ConnectionRecord, limits: Mapping[str, int], ws_url: str = "") -> Refusal | None:
        """Register ``record`` if the document's pin and the app's limits allow it (counters raised and the pin
        set atomically with the write); else register it as refused and return the refusal (an invalid document
        name 4007, zero limits, then 4009, then 4004, 4008/4005). ``ws_url``: this region's public ``wss://``
        URL, stored in the pin for redirects. ``InvalidInput`` if the key is registered already."""
        max_conn, max_docs, max_users = limits["maxConnections"], limits["maxDocuments"], limits["maxUsersPerDoc"]
        client = self._client(record.license_region)
        t, a, d = record.tenant_id, record.app_id, record.document
        conn_key, docs_key, users_key = (
            connections_counter_key(t, a),
            documents_counter_key(t, a),
            document_users_key(t, a, d),
        )
        with unavailable_on_aws_failure("DynamoDB connection registry"):
            early = uncounted_refusal(d, max_conn, max_users, max_docs)  # 4007, or a zero limit: no pin, no counter
            if early is not None:
                return self._put_refused(client, record, early)
            for _ in range(ATTEMPTS):
                users_item = self._usage_item(client, users_key)
                users = _count_of(users_item)
                pin = _pin(users_item, self._grace)
                now = self._now()
                redirect = redirect_for(pin, record.ws_region, d, now)
                if redirect is not None:
                    return self._put_refused(client, record, redirect)
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
                    session = kept_session(pin, record.ws_region, now) or new_session_id()
                    items.append(self._first_user_update(users_key, users_item, record, ws_url, session))
                    items.append(
                        _counter_update(
                            self._usage, docs_key, 1, "attribute_not_exists(#c) OR #c < :max", {":max": _n(max_docs)}
                        )
                    )
                else:
                    items.append(self._later_user_update(users_key, pin, max_users))
                try:
                    client.transact_write_items(TransactItems=items)
                    return None
                except ClientError as exc:
                    codes = cancellation_codes(exc, len(items))
                    if codes is None:
                        raise
                if codes[0] == _CCF:
                    raise InvalidInput("connection already registered")
                if codes[1] == _CCF and codes[2] != _CCF:  # (a moved pin is re-read first: 4009 before 4004)
                    return self._put_refused(client, record, connection_limit_exceeded(max_conn))
                if len(codes) > 3 and codes[3] == _CCF and codes[2] != _CCF:
                    active = self._count(client, docs_key)
                    return self._put_refused(client, record, document_limit_exceeded(max_docs, active))
                # The user count or the pin moved under us, or a transaction conflict: read again and retry.
            raise DependencyUnavailable("connection limits: too much contention")

    def release(self, license_region: str, key: str) -> bool:
        """Remove the record with ``key`` and lower the counters it raised, atomically; False if it was gone."""
        return self._release(license_region, key) is not None

    def release_presence(self, license_region: str, key: str) -> Presence | None:
        """``release``; the presence the removed record held (None: none, or it was gone already)."""
        return _presence_of(self._release(license_region, key))

    def presence(self, license_region: str, key: str) -> Presence | None:
        """The presence recorded on a connection's record (strongly consistent: the recorded clock is a lower
        bound the relay builds on)."""
        return _presence_of(self._attributes(license_region, key, _AW_CLIENT, _AW_CLOCK, _AW_LEFT))

    def record_presence(self, license_region: str, key: str, presence: Presence, *, claim: bool) -> bool:
        """Record ``presence`` on an existing record: a ``claim`` only where none is recorded, otherwise only for
        the same client id and a higher clock (so concurrent frames never move it back). False if not."""
        client = self._client(license_region)
        condition = "attribute_exists(pk) AND " + ("attribute_not_exists(#i)" if claim else "#i = :i AND #c < :c")
        with unavailable_on_aws_failure("DynamoDB connection registry"):
            try:
                client.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": key}},
                    UpdateExpression="SET #i = :i, #c = :c, #l = :l",
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#i": _AW_CLIENT, "#c": _AW_CLOCK, "#l": _AW_LEFT},
                    ExpressionAttributeValues={
                        ":i": _n(presence.client_id),
                        ":c": _n(presence.clock),
                        ":l": {"BOOL": presence.left},
                    },
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def _release(self, license_region: str, key: str) -> dict[str, Any] | None:
        """``release``: the item removed, or None if it was gone."""
        client = self._client(license_region)
        with unavailable_on_aws_failure("DynamoDB connection registry"):
            for _ in range(ATTEMPTS):
                got = client.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True)
                item = got.get("Item")
                if not item:
                    return None
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
                    if users == 1:  # the last user leaves: the document is no longer active, its grace begins
                        items.append(self._last_user_leaves(document_users_key(t, a, d)))
                        items.append(_counter_update(self._usage, documents_counter_key(t, a), -1, None, {}))
                    elif users > 1:
                        items.append(
                            _counter_update(self._usage, document_users_key(t, a, d), -1, "#c > :one", {":one": _n(1)})
                        )
                    # users <= 0 would be drift; never push a counter below zero.
                try:
                    client.transact_write_items(TransactItems=items)
                    return item
                except ClientError as exc:
                    codes = cancellation_codes(exc, len(items))
                    if codes is None:
                        raise
                    if codes[0] == _CCF:
                        return None  # removed concurrently (a second $disconnect, a 410 prune): counted once
            raise DependencyUnavailable("connection limits: too much contention")

    def _last_user_leaves(self, users_key: str) -> dict[str, Any]:
        """Lower the count from 1 to 0 and start the grace period (``idleSince``); TTL reaps the idle item a
        day after the grace period unless a user arrives (which removes both)."""
        now = int(self._now())
        return {
            "Update": {
                "TableName": self._usage,
                "Key": {"pk": {"S": users_key}},
                "UpdateExpression": "SET #idle = :now, #ttl = :ttl ADD #c :minus",
                "ConditionExpression": "#c = :one",
                "ExpressionAttributeNames": {"#c": "count", "#idle": "idleSince", "#ttl": _USAGE_TTL},
                "ExpressionAttributeValues": {
                    ":now": _n(now),
                    ":ttl": _n(now + self._grace + IDLE_PIN_RETENTION_SECONDS),
                    ":minus": _n(-1),
                    ":one": _n(1),
                },
            }
        }

    def refusal(self, license_region: str, key: str) -> Refusal | None:
        """The refusal stored with a connection ``$connect`` accepted over a limit; None for any other."""
        item = self._attributes(license_region, key, _REFUSED_CODE, _REFUSED_REASON)
        if not item or _REFUSED_CODE not in item:
            return None
        try:
            return connect_refusal(int(item[_REFUSED_CODE]["N"]), item.get(_REFUSED_REASON, {}).get("S", ""))
        except (ValueError, KeyError):
            return connection_limit_exceeded(0)  # a malformed refusal still refuses (fail closed)

    def _attributes(self, license_region: str, key: str, *names: str) -> dict[str, Any] | None:
        """Only ``names`` of the record with ``key`` (one strongly consistent GetItem); None if there is none."""
        client = self._client(license_region)
        aliases = {f"#a{i}": name for i, name in enumerate(names)}
        with unavailable_on_aws_failure("DynamoDB connection registry"):
            got = client.get_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                ConsistentRead=True,
                ProjectionExpression=", ".join(aliases),
                ExpressionAttributeNames=aliases,
            )
        item: dict[str, Any] | None = got.get("Item")
        return item

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
