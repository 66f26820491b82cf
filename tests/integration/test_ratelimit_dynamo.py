"""The rate limiter over DynamoDB (moto): atomic counters under concurrency, TTL, fail-closed on outages."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws

from tests.fakes.memory import FakeClock
from wiresocket import names
from wiresocket.adapters.dynamo_ratelimit import DynamoCounterStore, create_rate_limit_table
from wiresocket.domain.errors import DependencyUnavailable
from wiresocket.domain.ratelimit import AUTH_FAILURE, TOKEN_IP, Decision, RatePolicy, with_overrides
from wiresocket.local.moto_atomic import atomic_writes
from wiresocket.local.resources import create_table
from wiresocket.services.ratelimit import RateLimiter

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

REGION = "eu-west-1"
WINDOW_START = 1_800_000_000
LIMIT = 7
CALLERS = 20


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoDBClient]:
    # Fake credentials first, then the mock, then the clients (moto's own order).
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client, names.RATE_LIMIT_TABLE)
        yield client


@pytest.fixture
def serialised_item_writes() -> Iterator[None]:
    """Give moto DynamoDB's per-item write atomicity (``wiresocket.local.moto_atomic``).

    Real DynamoDB applies the UpdateItems on one item one after another; moto's in-process backend runs its
    read → evaluate → store sequence unsynchronised, so threads can lose an ADD (observed: 8 of 20 allowed).
    The lock wraps each single backend write only, so the test still catches an adapter that reads, then
    writes (two calls): that would race exactly as it would on AWS.
    """
    with atomic_writes():
        yield


def _limiter(client: DynamoDBClient, limit: int = LIMIT) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock(WINDOW_START + 5)
    policies = with_overrides({TOKEN_IP: RatePolicy(TOKEN_IP, limit, 60)})
    store = DynamoCounterStore(client, names.RATE_LIMIT_TABLE.default_name)
    return RateLimiter(store, clock, policies), clock


def _unreachable(**_: Any) -> Any:
    raise EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com")


def _throttled(**_: Any) -> Any:
    raise ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "UpdateItem"
    )


# The limiter call that reaches DynamoDB through each operation.
_CALLS_USING: dict[str, Callable[[RateLimiter], Decision]] = {
    "update_item": lambda limiter: limiter.hit(TOKEN_IP, "ip:198.51.100.1"),
    "get_item": lambda limiter: limiter.is_locked("client:abc"),
}


# --- negative cases first -------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["update_item", "get_item"])
def test_dynamodb_unreachable_fails_closed(
    dynamodb: DynamoDBClient, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    # Given DynamoDB cannot be reached
    limiter, _ = _limiter(dynamodb)
    monkeypatch.setattr(dynamodb, operation, _unreachable)
    # When the token endpoint counts a request or checks a lock-out
    # Then DependencyUnavailable (→ 503 temporarily_unavailable), never an implicit "allowed"
    with pytest.raises(DependencyUnavailable) as raised:
        _CALLS_USING[operation](limiter)
    assert raised.value.code == "temporarily_unavailable"
    assert isinstance(raised.value.__cause__, EndpointConnectionError)


def test_dynamodb_throttling_fails_closed(dynamodb: DynamoDBClient, monkeypatch: pytest.MonkeyPatch) -> None:
    limiter, _ = _limiter(dynamodb)
    monkeypatch.setattr(dynamodb, "update_item", _throttled)
    with pytest.raises(DependencyUnavailable):
        limiter.record_failure("client:abc")


def test_missing_table_fails_closed(dynamodb: DynamoDBClient) -> None:
    store = DynamoCounterStore(dynamodb, "no-such-table")
    with pytest.raises(DependencyUnavailable):
        store.increment("k", WINDOW_START, WINDOW_START + 120)


@pytest.mark.usefixtures("serialised_item_writes")
def test_exactly_limit_allowed_under_parallel_callers(dynamodb: DynamoDBClient) -> None:
    # Given 20 callers from one IP racing for a budget of 7 in the same window
    limiter, _ = _limiter(dynamodb)
    barrier = threading.Barrier(CALLERS)

    def call(_: int) -> bool:
        barrier.wait()
        return limiter.hit(TOKEN_IP, "ip:198.51.100.1").allowed

    # When they all hit at once
    with ThreadPoolExecutor(max_workers=CALLERS) as pool:
        results = list(pool.map(call, range(CALLERS)))
    # Then exactly 7 are allowed and 13 denied: the atomic ADD loses and double-counts nothing
    assert results.count(True) == LIMIT
    assert results.count(False) == CALLERS - LIMIT
    assert limiter.check(TOKEN_IP, "ip:198.51.100.1").allowed is False


def test_counter_item_shape_and_ttl(dynamodb: DynamoDBClient) -> None:
    # Given two hits in one window
    limiter, clock = _limiter(dynamodb)
    limiter.hit(TOKEN_IP, "ip:198.51.100.1")
    clock.advance(10)
    limiter.hit(TOKEN_IP, "ip:198.51.100.1")
    # Then there is one counter item, without the IP, whose TTL was set once and lies after the window
    items = dynamodb.scan(TableName=names.RATE_LIMIT_TABLE.default_name)["Items"]
    assert len(items) == 1
    [item] = items
    assert item["count"] == {"N": "2"}
    assert item["pk"]["S"].startswith(f"{TOKEN_IP}#")
    assert item["pk"]["S"].endswith(f"#{WINDOW_START}")
    assert "198.51.100.1" not in str(item)
    assert int(item["expires_at_ttl"]["N"]) == WINDOW_START + 120
    ttl = dynamodb.describe_time_to_live(TableName=names.RATE_LIMIT_TABLE.default_name)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at_ttl"


def test_lock_out_over_dynamodb(dynamodb: DynamoDBClient) -> None:
    # Given alice reached the failure limit
    limiter, clock = _limiter(dynamodb)
    for _ in range(10):
        decision = limiter.record_failure("user:t1:alice")
    # Then she is locked for the rest of the 300 s window, bob is not, and the next window frees her
    assert decision.allowed is False
    assert limiter.is_locked("user:t1:alice").retry_after == 295
    assert limiter.is_locked("user:t1:bob").allowed
    clock.advance(300)
    assert limiter.is_locked("user:t1:alice").allowed
    assert limiter.policy(AUTH_FAILURE).limit == 10


def test_create_rate_limit_table_from_the_shared_spec(dynamodb: DynamoDBClient) -> None:
    # When the helper creates a second counters table / Then its key schema is the TableSpec's
    name = create_rate_limit_table(dynamodb, "wiresocket-rate-limits-2")
    schema = dynamodb.describe_table(TableName=name)["Table"]["KeySchema"]
    assert schema == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert DynamoCounterStore(dynamodb, name).peek("absent", WINDOW_START) == 0
