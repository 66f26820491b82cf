"""DynamoDB document state and usage counters of the data plane (SPEC §8, §9), one table each per license region.

Every call names a license region; the adapter maps it to its AWS region and uses a boto3 client for *that*
region, so nothing of an app lands outside its license region. Items of ``names.DOCUMENTS_TABLE``::

    pk = "{tenantId}#{appId}#{document}#{session}"   (``DocumentRef.key``; without a pin session: no suffix)
    sk = "snapshot"   data (B, chunk 0; absent until the first compaction)  chunks (N)  version (N)  pending (N)
                      oldest (N)  expires_at_ttl (N)
    sk = "snapshot#{version:010d}#{i:03d}"   data (B, chunk i >= 1 of that snapshot version)  expires_at_ttl (N)
    sk = "u#{epochMillis:013d}#{random}"   data (B)  expires_at_ttl (N)

A snapshot is written in one ``TransactWriteItems`` (the head under the version condition, its extra chunks as
new items of the new version), so readers see all of a version's chunks or none; chunk items of other versions
are ignored on read and deleted after the next compaction.

``pending`` counts updates appended since the last compaction and ``oldest`` is when the oldest of them may have
been written: the service compacts when either grows too large, so no update item ever reaches its TTL while
the document is in use (which would leave a partial state). A document released after its grace period is pinned
again under a new session, i.e. a new partition: the old one is never read again and its items expire by TTL.
Items of ``names.USAGE_TABLE``: ``pk`` the counter
key, ``count`` (N), ``expires_at_ttl`` (N). Any AWS failure becomes ``DependencyUnavailable``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from wiresocket import names
from wiresocket.adapters.errors import LOST_RACE_CODES, cancellation_codes, error_code, unavailable_on_aws_failure
from wiresocket.services.documents import DocumentRef, StoredDocument

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SNAPSHOT_SK: Final = "snapshot"
CHUNK_PREFIX: Final = "snapshot#"
UPDATE_PREFIX: Final = "u#"
_TTL = names.DOCUMENTS_TABLE.ttl_attribute or "expires_at_ttl"
_DELETE_BATCH = 25
MAX_CHUNKS: Final = 24
"""At most this many chunks per snapshot (one transaction: 100 items and 4 MB at most)."""


def chunk_key(version: int, index: int) -> str:
    """The sort key of chunk ``index`` (>= 1) of snapshot ``version``."""
    return f"{CHUNK_PREFIX}{version:010d}#{index:03d}"


class DynamoDocumentStore:
    """``DocumentStore`` over ``table_name`` in each license region."""

    def __init__(self, client_for_region: Callable[[str], DynamoDBClient], table_name: str) -> None:
        self._client_for_region = client_for_region
        self._table = table_name

    def _client(self, ref: DocumentRef) -> DynamoDBClient:
        return self._client_for_region(names.aws_region_of(ref.license_region))

    def load(self, ref: DocumentRef) -> StoredDocument:
        """Snapshot chunks and updates, strongly consistent, updates in append order."""
        client = self._client(ref)
        head: bytes | None = None
        version = chunk_count = 0
        extra: dict[str, bytes] = {}
        updates: list[tuple[str, bytes]] = []
        with unavailable_on_aws_failure("DynamoDB documents"):
            pages = client.get_paginator("query").paginate(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": ref.key}},
                ConsistentRead=True,
            )
            for page in pages:
                for item in page.get("Items", []):
                    sk = item["sk"]["S"]
                    if sk == SNAPSHOT_SK:
                        version = int(item.get("version", {}).get("N", "0"))
                        chunk_count = int(item.get("chunks", {}).get("N", "1"))
                        data = item.get("data", {}).get("B")
                        head = bytes(data) if data is not None else None
                    elif sk.startswith(CHUNK_PREFIX) and "data" in item:
                        extra[sk] = bytes(item["data"]["B"])
                    elif sk.startswith(UPDATE_PREFIX) and "data" in item:
                        updates.append((sk, bytes(item["data"]["B"])))
        current = {chunk_key(version, i) for i in range(1, chunk_count)}
        chunks = ([head] if head is not None else []) + [extra[k] for k in sorted(current) if k in extra]
        obsolete = tuple(sorted(k for k in extra if k not in current))
        return StoredDocument(chunks=tuple(chunks), version=version, updates=tuple(updates), obsolete=obsolete)

    def append(self, ref: DocumentRef, update: bytes, *, now: float, expires_at: int) -> tuple[int, int]:
        """Store one update; returns (updates pending since the last compaction, when the oldest was written)."""
        client = self._client(ref)
        sk = f"{UPDATE_PREFIX}{int(now * 1000):013d}#{secrets.token_hex(6)}"
        with unavailable_on_aws_failure("DynamoDB documents"):
            client.put_item(
                TableName=self._table,
                Item={"pk": {"S": ref.key}, "sk": {"S": sk}, "data": {"B": update}, _TTL: {"N": str(expires_at)}},
            )
            got = client.update_item(
                TableName=self._table,
                Key={"pk": {"S": ref.key}, "sk": {"S": SNAPSHOT_SK}},
                UpdateExpression=(
                    "SET #ttl = :exp, version = if_not_exists(version, :zero), oldest = if_not_exists(oldest, :now) "
                    "ADD pending :one"
                ),
                ExpressionAttributeNames={"#ttl": _TTL},
                ExpressionAttributeValues={
                    ":exp": {"N": str(expires_at)},
                    ":zero": {"N": "0"},
                    ":now": {"N": str(int(now))},
                    ":one": {"N": "1"},
                },
                ReturnValues="ALL_NEW",
            )
        attributes = got.get("Attributes", {})
        return int(attributes["pending"]["N"]), int(attributes["oldest"]["N"])

    def compact(
        self,
        ref: DocumentRef,
        chunks: tuple[bytes, ...],
        *,
        expected_version: int,
        merged_keys: tuple[str, ...],
        obsolete_keys: tuple[str, ...] = (),
        loaded_at: float,
        expires_at: int,
    ) -> bool:
        """Write the snapshot's chunks (one transaction) if nobody compacted since the load, then delete the
        merged updates and the obsolete chunk items of older versions."""
        if not chunks or len(chunks) > MAX_CHUNKS:
            raise ValueError(f"a snapshot has 1-{MAX_CHUNKS} chunks")
        client = self._client(ref)
        version = expected_version + 1
        head: dict[str, Any] = {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": {"S": ref.key}, "sk": {"S": SNAPSHOT_SK}},
                # Updates appended after the load are not merged: they were written at or after loaded_at.
                "UpdateExpression": (
                    "SET #data = :data, chunks = :chunks, version = :next, oldest = :loaded, #ttl = :exp "
                    "ADD pending :minus"
                ),
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeNames": {"#data": "data", "#ttl": _TTL},
                "ExpressionAttributeValues": {
                    ":data": {"B": chunks[0]},
                    ":chunks": {"N": str(len(chunks))},
                    ":next": {"N": str(version)},
                    ":expected": {"N": str(expected_version)},
                    ":loaded": {"N": str(int(loaded_at))},
                    ":exp": {"N": str(expires_at)},
                    ":minus": {"N": str(-len(merged_keys))},
                },
            }
        }
        items: list[Any] = [head] + [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        "pk": {"S": ref.key},
                        "sk": {"S": chunk_key(version, i)},
                        "data": {"B": chunk},
                        # Chunks outlive their head by a TTL's length (appends refresh the head's TTL only, and
                        # the service recompacts, renewing every chunk, before half of it has passed).
                        _TTL: {"N": str(expires_at + max(0, expires_at - int(loaded_at)))},
                    },
                }
            }
            for i, chunk in enumerate(chunks[1:], start=1)
        ]
        with unavailable_on_aws_failure("DynamoDB documents"):
            try:
                if len(items) == 1:
                    client.update_item(**head["Update"])
                else:
                    client.transact_write_items(TransactItems=items)
            except ClientError as exc:
                code = error_code(exc)
                if code == "ConditionalCheckFailedException":
                    return False
                codes = cancellation_codes(exc, len(items))
                if codes is not None and set(codes) <= LOST_RACE_CODES:
                    return False  # the version condition failed, or a concurrent compaction conflicted
                raise  # throttling, a rejected item, …: a failure (DependencyUnavailable), not a lost race
        stale = merged_keys + obsolete_keys
        with unavailable_on_aws_failure("DynamoDB documents"):
            for start in range(0, len(stale), _DELETE_BATCH):
                batch = stale[start : start + _DELETE_BATCH]
                requests: list[Any] = [
                    {"DeleteRequest": {"Key": {"pk": {"S": ref.key}, "sk": {"S": sk}}}} for sk in batch
                ]
                pending: dict[str, Any] = {self._table: requests}
                for _ in range(5):
                    left = client.batch_write_item(RequestItems=pending).get("UnprocessedItems", {})
                    if not left:
                        break
                    pending = dict(left)
        return True


class DynamoUsageCounter:
    """Atomic usage counters in ``table_name`` of each license region."""

    def __init__(self, client_for_region: Callable[[str], DynamoDBClient], table_name: str) -> None:
        self._client_for_region = client_for_region
        self._table = table_name

    def increment(self, license_region: str, key: str, *, expires_at: int) -> int:
        """Add one to the counter ``key`` and return its new value."""
        client = self._client_for_region(names.aws_region_of(license_region))
        with unavailable_on_aws_failure("DynamoDB usage counters"):
            got = client.update_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                UpdateExpression="SET #ttl = if_not_exists(#ttl, :exp) ADD #count :one",
                ExpressionAttributeNames={"#ttl": _TTL, "#count": "count"},
                ExpressionAttributeValues={":exp": {"N": str(expires_at)}, ":one": {"N": "1"}},
                ReturnValues="UPDATED_NEW",
            )
        return int(got["Attributes"]["count"]["N"])
