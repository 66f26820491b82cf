"""Snapshot chunks on DynamoDB (moto): a document larger than one API Gateway message is stored as chunks of at
most ``MAX_SYNC_PART_BYTES``, written in one transaction under the version condition, read back in order, and
older versions' chunks are never read and are deleted by a later compaction."""

from __future__ import annotations

import random
import string
from typing import Any

import boto3
import pycrdt
import pytest

from tests.fakes.memory import FakeClock
from tests.integration.conftest import Aws
from wiresocket import names
from wiresocket.adapters.dynamo_documents import SNAPSHOT_SK, DynamoDocumentStore
from wiresocket.local.resources import create_regional_resources
from wiresocket.services.documents import MAX_SYNC_PART_BYTES, DocumentRef, DocumentService

LICENSE_REGION = "aws-eu-west-1"
TABLE = names.DOCUMENTS_TABLE.default_name


def noise(size: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters) for _ in range(size))


def items(ref: DocumentRef) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name=names.aws_region_of(LICENSE_REGION))
    return client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": ref.key}},
        ConsistentRead=True,
    )["Items"]


def text_of(update: bytes) -> str:
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    doc.apply_update(update)
    return str(doc.get("text", type=pycrdt.Text))


def write(service: DocumentService, ref: DocumentRef, edits: int, size: int) -> str:
    """``edits`` updates of ``size`` random letters each, appended to the text one after the other through
    ``service``; the whole text written."""
    writer: pycrdt.Doc[Any] = pycrdt.Doc()
    text = writer.get("text", type=pycrdt.Text)
    for i in range(edits):
        before = writer.get_state()
        text.insert(len(text), noise(size, i))
        assert service.apply(ref, writer.get_update(before))
    return str(text)


def test_large_documents_are_stored_in_chunks_that_each_fit_one_message(aws: Aws) -> None:
    # Given the regional tables, and a document service compacting after every 4 updates
    create_regional_resources(lambda region: boto3.client("dynamodb", region_name=region))
    store = DynamoDocumentStore(lambda region: boto3.client("dynamodb", region_name=region), TABLE)
    service = DocumentService(store, FakeClock(), compact_after=4, ttl_seconds=86400)
    ref = DocumentRef(LICENSE_REGION, "t", "a", "big")

    # When ~360 KB are written in 30 KB edits (two compactions or more)
    text = write(service, ref, edits=12, size=30_000)
    service.compact(ref)

    # Then the head names the chunk count, every stored piece fits one message
    stored = items(ref)
    head = next(i for i in stored if i["sk"]["S"] == SNAPSHOT_SK)
    chunk_count = int(head["chunks"]["N"])
    assert chunk_count >= 4
    assert all(len(bytes(i["data"]["B"])) <= MAX_SYNC_PART_BYTES for i in stored if "data" in i)
    # And only the current version's chunks are read back, in order, giving the whole document
    loaded = store.load(ref)
    assert len(loaded.chunks) == chunk_count and loaded.updates == ()
    assert text_of(service.state(ref)) == text
    # And the chunks of older versions are gone after a later compaction (at most one old version lingers)
    versions = {i["sk"]["S"].split("#")[1] for i in stored if i["sk"]["S"].startswith("snapshot#")}
    assert len(versions) <= 2


def test_a_compaction_that_lost_the_race_writes_no_chunk(aws: Aws) -> None:
    # Given a document compacted once by another writer since our load
    create_regional_resources(lambda region: boto3.client("dynamodb", region_name=region))
    store = DynamoDocumentStore(lambda region: boto3.client("dynamodb", region_name=region), TABLE)
    ref = DocumentRef(LICENSE_REGION, "t", "a", "race")
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    doc.get("text", type=pycrdt.Text).insert(0, "x")
    store.append(ref, doc.get_update(), now=1000.0, expires_at=90_000)
    stale = store.load(ref)
    assert store.compact(
        ref, (doc.get_update(),), expected_version=stale.version, merged_keys=(), loaded_at=1000.0, expires_at=90_000
    )
    before = items(ref)
    # When our compaction, based on the stale version, writes three chunks
    won = store.compact(
        ref,
        (b"\x00\x00", b"\x00\x00", b"\x00\x00"),
        expected_version=stale.version,
        merged_keys=tuple(k for k, _ in stale.updates),
        loaded_at=1000.0,
        expires_at=90_000,
    )
    # Then it lost, and nothing changed (no chunk item, no deleted update)
    assert won is False
    assert items(ref) == before


def test_a_cancelled_compaction_is_a_lost_race_only_when_dynamodb_says_so(aws: Aws) -> None:
    from botocore.exceptions import ClientError

    from wiresocket.domain.errors import DependencyUnavailable

    # Given a large document whose compaction writes its chunks in one transaction
    create_regional_resources(lambda region: boto3.client("dynamodb", region_name=region))
    client = boto3.client("dynamodb", region_name=names.aws_region_of(LICENSE_REGION))
    store = DynamoDocumentStore(lambda region: client, TABLE)
    service = DocumentService(store, FakeClock(), compact_after=1000, ttl_seconds=86400)
    ref = DocumentRef(LICENSE_REGION, "t", "a", "cancelled")
    write(service, ref, edits=4, size=60_000)

    def cancelled(*codes: str) -> Any:
        def raise_it(**kwargs: Any) -> Any:
            reasons = [{"Code": codes[0]}] + [{"Code": "None"}] * (len(kwargs["TransactItems"]) - 1)
            response: Any = {"Error": {"Code": "TransactionCanceledException"}, "CancellationReasons": reasons}
            raise ClientError(response, "TransactWriteItems")

        return raise_it

    # When DynamoDB cancels it over the version condition / Then another compactor won: False
    client.transact_write_items = cancelled("ConditionalCheckFailed")  # type: ignore[method-assign]
    assert service.compact(ref) is False
    # When it cancels it for throttling / Then that is a failure the caller sees, not a lost race
    client.transact_write_items = cancelled("ThrottlingError")  # type: ignore[method-assign]
    with pytest.raises(DependencyUnavailable):
        service.compact(ref)
