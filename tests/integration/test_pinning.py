"""Region pinning on moto (domain.pinning, adapters.dynamo_connections): two WebSocket regions (A, B) share one
license region's usage table. A race for the first pin has exactly one winner; a document with users, or within
its grace period, redirects the other region with 4009; after the grace period it can be pinned anywhere and
starts empty; counters and the pin after disconnects. Time comes from an injected clock (no sleeps)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import boto3
import pycrdt
import pytest

from tests.fakes.memory import FakeClock
from tests.integration.conftest import Aws
from wiresocket import names
from wiresocket.adapters.dynamo_connections import DynamoConnectionRegistry
from wiresocket.adapters.dynamo_documents import DynamoDocumentStore
from wiresocket.domain.connections import AuthorizedConnection
from wiresocket.domain.limits import (
    CloseCode,
    connections_counter_key,
    document_users_key,
    documents_counter_key,
)
from wiresocket.domain.pinning import GRACE_SECONDS
from wiresocket.local.resources import create_regional_resources
from wiresocket.local.ws_events import stringify_context_value
from wiresocket.services.connections import ConnectionService, handle_connection_event
from wiresocket.services.documents import DocumentRef, DocumentService

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TENANT, APP = "t-pin", "a-pin"
LICENSE = "aws-us-east-2"
A, B = "eu-west-1", "us-east-1"
URL = {A: "wss://a.example/prod", B: "wss://b.example/prod"}
START = 1_800_000_000.0


class Plane:
    """Two regions' connection services over one registry, and the clock they share."""

    def __init__(self) -> None:
        self.clock = FakeClock(START)
        clients = {r: boto3.client("dynamodb", region_name=r) for r in (A, B, names.aws_region_of(LICENSE))}
        self.usage: DynamoDBClient = clients[names.aws_region_of(LICENSE)]
        self.registry = DynamoConnectionRegistry(
            clients.__getitem__,
            names.CONNECTIONS_TABLE.default_name,
            names.USAGE_TABLE.default_name,
            grace_seconds=GRACE_SECONDS,
            now=self.clock.now,
        )
        self.services = {
            region: ConnectionService(
                self.registry,
                self.clock,
                ws_region=region,
                endpoint=f"https://{region}.example/prod",
                limits=self.registry,
                ws_url=URL[region],
            )
            for region in (A, B)
        }
        store = DynamoDocumentStore(clients.__getitem__, names.DOCUMENTS_TABLE.default_name)
        self.documents = DocumentService(store, self.clock, ttl_seconds=86400, pins=self.registry)

    def connect(self, region: str, connection_id: str, doc: str = "doc", **limits: int) -> tuple[int, str] | None:
        """$connect through ``region``; the stored refusal (code, reason), None if admitted."""
        _, refusal = self.services[region].admit(connection_id, auth(doc, **limits))
        stored = self.services[region].refusal(LICENSE, region, connection_id)
        assert (stored is None) == (refusal is None)
        return None if refusal is None else (int(refusal.code), refusal.reason)

    def disconnect(self, region: str, connection_id: str) -> None:
        self.services[region].unregister(connection_id, LICENSE)

    def item(self, key: str) -> dict[str, Any]:
        got = self.usage.get_item(TableName=names.USAGE_TABLE.default_name, Key={"pk": {"S": key}}, ConsistentRead=True)
        return dict(got.get("Item", {}))

    def count(self, key: str) -> int:
        return int(self.item(key).get("count", {}).get("N", "0"))

    def counters(self, doc: str = "doc") -> tuple[int, int, int]:
        return (
            self.count(connections_counter_key(TENANT, APP)),
            self.count(documents_counter_key(TENANT, APP)),
            self.count(document_users_key(TENANT, APP, doc)),
        )

    def text(self, doc: str = "doc") -> str:
        ydoc: pycrdt.Doc[Any] = pycrdt.Doc()
        ydoc.apply_update(self.documents.state(DocumentRef(LICENSE, TENANT, APP, doc)))
        return str(ydoc.get("t", type=pycrdt.Text))

    def write(self, value: str, doc: str = "doc") -> None:
        ydoc: pycrdt.Doc[Any] = pycrdt.Doc()
        ydoc.get("t", type=pycrdt.Text).insert(0, value)
        assert self.documents.apply(DocumentRef(LICENSE, TENANT, APP, doc), ydoc.get_update())


def auth(doc: str, *, conns: int = 100, docs: int = 100, users: int = 100) -> AuthorizedConnection:
    limits = {"maxConnections": conns, "maxDocuments": docs, "maxUsersPerDoc": users, "opsPerMinute": 1000}
    return AuthorizedConnection(TENANT, APP, "kid-1", LICENSE, limits, (), doc, "access_token", 1_900_000_000)


def redirect_to(region: str, doc: str = "doc") -> tuple[int, str]:
    return int(CloseCode.WRONG_REGION), f"REDIRECT:{URL[region]}/?doc={doc}"


@pytest.fixture
def plane(aws: Aws) -> Plane:
    create_regional_resources(lambda region: boto3.client("dynamodb", region_name=region))
    return Plane()


def test_later_refusals_come_in_the_documented_order(plane: Plane) -> None:
    # Given a document pinned to A by its first user
    assert plane.connect(A, "a1") is None
    # When B connects with a zero limit, then with the app's connection limit already reached
    zero = plane.connect(B, "b0", conns=0)
    over = plane.connect(B, "b1", conns=1)
    # Then the zero limit wins over 4009, and 4009 over 4004
    assert zero is not None and zero[0] == CloseCode.CONNECTION_LIMIT
    assert over == redirect_to(A)
    # And in A, the connection limit still applies (4004 after the pin check)
    refused = plane.connect(A, "a2", conns=1)
    assert refused is not None and refused[0] == CloseCode.CONNECTION_LIMIT


def test_first_pin_race_between_two_regions_has_exactly_one_winner(plane: Plane) -> None:
    # Given eight free documents, and for each one connection per region starting at the same moment
    docs = [f"race-{i}" for i in range(8)]
    barrier = threading.Barrier(2 * len(docs))

    def connect(region: str, doc: str) -> tuple[str, tuple[int, str] | None]:
        barrier.wait()
        return region, plane.connect(region, f"{region}-{doc}", doc)

    with ThreadPoolExecutor(max_workers=2 * len(docs)) as pool:
        futures = {doc: [pool.submit(connect, r, doc) for r in (A, B)] for doc in docs}
        results = {doc: [f.result() for f in fs] for doc, fs in futures.items()}
    for doc, outcomes in results.items():
        # Then for each document exactly one region won the pin, the other was redirected to it
        winners = [region for region, refusal in outcomes if refusal is None]
        assert len(winners) == 1, outcomes
        losers = [refusal for region, refusal in outcomes if refusal is not None]
        assert losers == [redirect_to(winners[0], doc)]
        pin = plane.registry.document_pin(LICENSE, TENANT, APP, doc)
        assert pin is not None and pin.ws_region == winners[0] and pin.users == 1
    # And each document counts one user, the app one connection per document
    assert plane.count(connections_counter_key(TENANT, APP)) == len(docs)
    assert plane.count(documents_counter_key(TENANT, APP)) == len(docs)


def test_document_with_users_redirects_other_region_and_touches_no_counter(plane: Plane) -> None:
    # Given a document with two users in A
    assert plane.connect(A, "a1") is None
    assert plane.connect(A, "a2") is None
    # When a client connects through B
    refusal = plane.connect(B, "b1")
    # Then it gets 4009 with A's URL for the document, and no counter moved
    assert refusal == redirect_to(A)
    assert plane.counters() == (2, 1, 2)
    # And it is no relay target
    targets = plane.services[A].document_connections(LICENSE, TENANT, APP, "doc")
    assert sorted(r.connection_id for r in targets) == ["a1", "a2"]
    # When the refused connection disconnects (twice), nothing changes either
    plane.disconnect(B, "b1")
    plane.disconnect(B, "b1")
    assert plane.counters() == (2, 1, 2)


def test_grace_period_redirects_then_keeps_state_for_a_reconnect_in_the_same_region(plane: Plane) -> None:
    # Given a document edited in A whose only user left
    assert plane.connect(A, "a1") is None
    plane.write("hello")
    plane.disconnect(A, "a1")
    # Then the counters are back to zero but the pin records when it went idle
    assert plane.counters() == (0, 0, 0)
    pin = plane.registry.document_pin(LICENSE, TENANT, APP, "doc")
    assert pin is not None and pin.ws_region == A and pin.idle_since == int(START)
    # When B connects 9 s later (within the grace period)
    plane.clock.advance(GRACE_SECONDS - 1)
    # Then it is redirected to A
    assert plane.connect(B, "b1") == redirect_to(A)
    # When A's client reconnects within the grace period
    assert plane.connect(A, "a2") is None
    # Then the pin and the state are kept, the grace period is over (no idleSince)
    again = plane.registry.document_pin(LICENSE, TENANT, APP, "doc")
    assert again is not None and again.session == pin.session and again.idle_since is None and again.users == 1
    assert plane.text() == "hello"
    # And the grace period does not run while a user is connected
    plane.clock.advance(10 * GRACE_SECONDS)
    assert plane.connect(B, "b2") == redirect_to(A)


def test_after_the_grace_period_the_document_is_released_and_may_be_pinned_elsewhere_empty(plane: Plane) -> None:
    # Given a document edited in A whose only user left exactly the grace period ago
    assert plane.connect(A, "a1") is None
    plane.write("old state")
    plane.disconnect(A, "a1")
    old = plane.registry.document_pin(LICENSE, TENANT, APP, "doc")
    assert old is not None
    plane.clock.advance(GRACE_SECONDS)
    assert old.released(plane.clock.now())
    # When a client connects through B
    assert plane.connect(B, "b1") is None
    # Then B holds the pin in a new session, with an empty document
    pin = plane.registry.document_pin(LICENSE, TENANT, APP, "doc")
    assert pin is not None and pin.ws_region == B and pin.session != old.session and pin.ws_url == URL[B]
    assert plane.text() == ""
    plane.write("new state")
    # And A is now redirected to B
    assert plane.connect(A, "a2") == redirect_to(B)
    # When B's client leaves and the grace passes, a first user back in B starts empty too
    plane.disconnect(B, "b1")
    plane.clock.advance(GRACE_SECONDS + 1)
    assert plane.connect(B, "b3") is None
    assert plane.text() == ""
    assert plane.counters() == (1, 1, 1)


def test_counters_and_pin_after_all_disconnects(plane: Plane) -> None:
    # Given three users in A on two documents and a refused one in B
    for cid, doc in (("a1", "x"), ("a2", "x"), ("a3", "y")):
        assert plane.connect(A, cid, doc) is None
    assert plane.connect(B, "b1", "x") == redirect_to(A, "x")
    # When everyone disconnects, one of them twice
    for cid in ("a1", "a2", "a3", "a1"):
        plane.disconnect(A, cid)
    plane.disconnect(B, "b1")
    # Then every counter is zero, and both pins are idle since now (TTL set to reap them later)
    assert plane.counters("x") == (0, 0, 0) and plane.count(document_users_key(TENANT, APP, "y")) == 0
    for doc in ("x", "y"):
        pin = plane.registry.document_pin(LICENSE, TENANT, APP, doc)
        assert pin is not None and pin.users == 0 and pin.idle_since == int(START)
        item = plane.item(document_users_key(TENANT, APP, doc))
        assert int(item["expires_at_ttl"]["N"]) > START + GRACE_SECONDS
    # And a new first user removes the idle mark and the TTL
    assert plane.connect(A, "a4", "x") is None
    assert "idleSince" not in plane.item(document_users_key(TENANT, APP, "x"))
    assert "expires_at_ttl" not in plane.item(document_users_key(TENANT, APP, "x"))


def test_public_url_comes_from_the_event_when_not_configured(plane: Plane) -> None:
    # Given a connection service without a configured public URL
    service = ConnectionService(plane.registry, plane.clock, ws_region=A, endpoint="", limits=plane.registry)
    context: dict[str, Any] = {k: stringify_context_value(v) for k, v in auth("doc").context().items()}
    context["principalId"] = auth("doc").principal_id
    event = {
        "requestContext": {
            "eventType": "CONNECT",
            "connectionId": "e1",
            "domainName": "api1.execute-api.eu-west-1.amazonaws.com",
            "stage": "prod",
            "authorizer": context,
        }
    }
    # When $connect runs
    response, _ = handle_connection_event(event, lambda: service)
    # Then the pin points at wss://{domainName}/{stage}
    assert response["statusCode"] == 200
    pin = plane.registry.document_pin(LICENSE, TENANT, APP, "doc")
    assert pin is not None and pin.ws_url == "wss://api1.execute-api.eu-west-1.amazonaws.com/prod"
