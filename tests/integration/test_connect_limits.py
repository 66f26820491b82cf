"""Connect-time plan limits on moto through the real ``ws_connect`` handler (SPEC §8, issue 6):
``maxConnections`` 4004, ``maxUsersPerDoc`` 4008, ``maxDocuments`` 4005, each reached exactly at its number
(also with 10 connects racing), counted in the app's license region, and every counter back to zero after all
disconnects, including a disconnect delivered twice."""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from tests.integration import rest
from tests.integration.conftest import REGION, Aws
from wiresocket import names, wiring
from wiresocket.domain.connections import AuthorizedConnection
from wiresocket.domain.limits import (
    CloseCode,
    connections_counter_key,
    document_users_key,
    documents_counter_key,
)
from wiresocket.local.resources import create_regional_resources
from wiresocket.local.ws_events import stringify_context_value
from wiresocket.services.connections import ConnectionService

TENANT, APP = "t-limits", "a-limits"
LICENSE = "aws-us-east-1"  # an app whose license region differs from the API's region (eu-west-1)
DOMAIN = f"api1.execute-api.{REGION}.amazonaws.com"


@pytest.fixture
def plane(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Aws:
    create_regional_resources(lambda region: boto3.client("dynamodb", region_name=region))
    monkeypatch.setenv(names.ENV_WS_MANAGEMENT_ENDPOINT, f"https://{DOMAIN}/prod")
    monkeypatch.setenv(names.ENV_DATA_REGION, REGION)
    # The limits wired in as wiring.connection_service() should wire them (see docs/websocket.md).
    monkeypatch.setattr(wiring, "connection_service", functools.cache(limited_connection_service))
    return aws


def limited_connection_service() -> ConnectionService:
    s = wiring.ws_connect_settings()
    registry = wiring.connection_registry(s.connections_table)
    return ConnectionService(
        registry,
        wiring.clock(),
        ws_region=s.websocket_region,
        endpoint=s.ws_management_endpoint,
        max_lifetime_seconds=s.connection_max_seconds,
        limits=registry,
    )


def authorized(doc: str, *, conns: int = 100, docs: int = 100, users: int = 100) -> AuthorizedConnection:
    limits = {"maxConnections": conns, "maxDocuments": docs, "maxUsersPerDoc": users, "opsPerMinute": 1000}
    return AuthorizedConnection(TENANT, APP, "kid-1", LICENSE, limits, (), doc, "access_token", 1_900_000_000)


def event(event_type: str, connection_id: str, auth: AuthorizedConnection) -> dict[str, Any]:
    context: dict[str, Any] = {k: stringify_context_value(v) for k, v in auth.context().items()}
    context["principalId"] = auth.principal_id
    return {
        "requestContext": {
            "routeKey": "$connect" if event_type == "CONNECT" else "$disconnect",
            "eventType": event_type,
            "connectionId": connection_id,
            "domainName": DOMAIN,
            "stage": "prod",
            "authorizer": context,
        },
    }


def connect(connection_id: str, auth: AuthorizedConnection) -> int | None:
    """Run $connect; the refusal code stored for it (None: admitted)."""
    result = rest.invoke("ws_connect", event("CONNECT", connection_id, auth))
    assert result["statusCode"] == 200
    refusal = wiring.connection_service().refusal(LICENSE, REGION, connection_id)
    return None if refusal is None else int(refusal.code)


def disconnect(connection_id: str, auth: AuthorizedConnection) -> None:
    assert rest.invoke("ws_connect", event("DISCONNECT", connection_id, auth))["statusCode"] == 200


def counter(key: str) -> int:
    client = boto3.client("dynamodb", region_name=names.aws_region_of(LICENSE))
    item = client.get_item(TableName=names.USAGE_TABLE.default_name, Key={"pk": {"S": key}}, ConsistentRead=True)
    return int(item.get("Item", {}).get("count", {}).get("N", "0"))


def counters(*docs: str) -> tuple[int, int, list[int]]:
    return (
        counter(connections_counter_key(TENANT, APP)),
        counter(documents_counter_key(TENANT, APP)),
        [counter(document_users_key(TENANT, APP, d)) for d in docs],
    )


def refusal_reason(connection_id: str) -> str:
    refusal = wiring.connection_service().refusal(LICENSE, REGION, connection_id)
    assert refusal is not None
    return refusal.reason


def test_connection_limit_is_reached_exactly_at_its_number_and_counters_return_to_zero(plane: Aws) -> None:
    # Given maxConnections = 3, connections spread over two documents
    auths = [authorized("a" if i % 2 else "b", conns=3) for i in range(5)]
    # When five connect one after the other
    codes = [connect(f"c{i}=", auths[i]) for i in range(5)]
    # Then the first three are admitted, the fourth and fifth get 4004 with the documented reason
    assert codes == [None, None, None, CloseCode.CONNECTION_LIMIT, CloseCode.CONNECTION_LIMIT]
    assert refusal_reason("c3=") == "Connection limit exceeded: 3"
    assert counters("a", "b") == (3, 2, [1, 2])
    # And a refused connection is never a relay target
    doc_b = list(wiring.connection_service().document_connections(LICENSE, TENANT, APP, "b"))
    assert sorted(r.connection_id for r in doc_b) == ["c0=", "c2="]
    # When everyone disconnects, one of them twice (and a refused one twice)
    for i in range(5):
        disconnect(f"c{i}=", auths[i])
    disconnect("c1=", auths[1])
    disconnect("c4=", auths[4])
    # Then every counter is back to zero and the registry is empty
    assert counters("a", "b") == (0, 0, [0, 0])
    # And the counters live only in the license region
    other = boto3.client("dynamodb", region_name=REGION)
    assert other.scan(TableName=names.USAGE_TABLE.default_name)["Items"] == []


def test_users_per_doc_and_document_limits_are_reached_exactly(plane: Aws) -> None:
    # Given maxUsersPerDoc = 2 and maxDocuments = 2
    def auth(doc: str) -> AuthorizedConnection:
        return authorized(doc, users=2, docs=2)

    # When three users join "a", then "b" opens, then "c" would be a third active document
    assert [connect(f"a{i}=", auth("a")) for i in range(3)] == [None, None, CloseCode.USERS_PER_DOC]
    assert refusal_reason("a2=") == "Document user limit exceeded: 2"
    assert connect("b0=", auth("b")) is None
    assert connect("c0=", auth("c")) == CloseCode.DOCUMENT_LIMIT
    # Then 4005 names the limit and the active count
    assert refusal_reason("c0=") == "Document limit exceeded: 2 (active: 2)"
    assert counters("a", "b", "c") == (3, 2, [2, 1, 0])
    # When "b" is left by its only user, "c" becomes possible (active documents count live users only)
    disconnect("b0=", auth("b"))
    assert counters("a", "b", "c")[1] == 1
    assert connect("c1=", auth("c")) is None
    # When everyone leaves (c0 twice)
    for cid, doc in [("a0=", "a"), ("a1=", "a"), ("a2=", "a"), ("c0=", "c"), ("c0=", "c"), ("c1=", "c")]:
        disconnect(cid, auth(doc))
    # Then all counters are zero
    assert counters("a", "b", "c") == (0, 0, [0, 0, 0])


def race(ids_and_auths: list[tuple[str, AuthorizedConnection]]) -> list[int | None]:
    with ThreadPoolExecutor(max_workers=len(ids_and_auths)) as pool:
        return list(pool.map(lambda pair: connect(*pair), ids_and_auths))


def test_ten_parallel_connects_admit_exactly_the_limits(plane: Aws) -> None:
    # Given maxConnections = 4, ten clients connecting at once to ten documents
    wiring.connection_service()  # build the cached service before the threads race for it
    conns = [(f"p{i}=", authorized(f"d{i}", conns=4)) for i in range(10)]
    codes = race(conns)
    # Then exactly four are admitted, six refused with 4004
    assert codes.count(None) == 4 and codes.count(CloseCode.CONNECTION_LIMIT) == 6
    assert counters()[:2] == (4, 4)
    # When they all disconnect twice, concurrently
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda pair: disconnect(*pair), conns + conns))
    assert counters()[:2] == (0, 0)

    # Given maxUsersPerDoc = 3: ten clients race into one document
    users = [(f"u{i}=", authorized("shared", users=3)) for i in range(10)]
    codes = race(users)
    assert codes.count(None) == 3 and codes.count(CloseCode.USERS_PER_DOC) == 7
    assert counters("shared") == (3, 1, [3])

    # Given maxDocuments = 2 (one active already: "shared"): ten clients race to open ten new documents
    docs = [(f"n{i}=", authorized(f"new{i}", docs=2)) for i in range(10)]
    codes = race(docs)
    assert codes.count(None) == 1 and codes.count(CloseCode.DOCUMENT_LIMIT) == 9
    assert counters()[:2] == (4, 2)

    # When everybody leaves, concurrently and twice
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda pair: disconnect(*pair), users + docs + users))
    # Then every counter is back to zero
    assert counters("shared", *(f"new{i}" for i in range(10))) == (0, 0, [0] * 11)
