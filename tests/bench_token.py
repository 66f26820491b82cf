"""``token_issue``: warm client_credentials issuance through the real service code vs raw RS256 ``jwt.encode``.

Both run in the same process, interleaved round by round (so drift, turbo and noisy neighbours hit both
alike); each figure is the median of the rounds' throughputs. The service path is ``TokenService.admit`` +
``TokenService.token`` over in-memory ports: rate limit, client authentication (keyed hash), current-state
reads, scope rules, claims, and signing with the warm unsealed key. The baseline signs a claim set of the
same shape with the same loaded key. Target: ratio ≥ 0.95 (the service adds almost nothing to the RSA
signature). A second, informational line runs the same path through moto-backed adapters and the edge.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import jwt

from tests.benchkit import interleaved, per_second
from tests.fakes.oauth_world import OAuthWorld, memory_world
from wiresocket.domain.keys import select_active
from wiresocket.domain.oauth import AuthMethod, ClientCredentials, OAuthRequest
from wiresocket.domain.ratelimit import DEFAULT_POLICIES, TOKEN_IP, RatePolicy

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
PER_ROUND = int(os.environ.get("BENCH_PER_ROUND", "200"))


def _request(world: OAuthWorld) -> OAuthRequest:
    return OAuthRequest(
        params={"grant_type": "client_credentials", "scope": "WireSocket.API"},
        client=ClientCredentials(world.app.client_id, world.app_secret, AuthMethod.BASIC),
        source_ip="198.51.100.7",
    )


def _service_and_baseline(world: OAuthWorld) -> tuple[Callable[[], object], Callable[[], object]]:
    request = _request(world)
    tokens = world.tokens

    def service() -> object:
        tokens.admit(request.source_ip)
        return tokens.token(request)

    service()  # warm: unwraps the key once
    _, keys = world.store.tenant_with_keys(world.demo_tenant)
    key = select_active(keys)
    assert key is not None
    private = world.cache.private_key(key)
    claims: dict[str, Any] = jwt.decode(tokens.token(request).access_token, options={"verify_signature": False})
    headers = {"kid": key.kid, "typ": "JWT"}

    def baseline() -> object:
        return jwt.encode(claims, private, algorithm="RS256", headers=headers)

    return service, baseline


def _unlimited() -> dict[str, RatePolicy]:
    # The per-IP limit stays in the path (it is counted on every request) but never trips in a benchmark.
    policies = dict(DEFAULT_POLICIES)
    policies[TOKEN_IP] = RatePolicy(TOKEN_IP, limit=10**9, window_seconds=60)
    return policies


def token_issue() -> dict[str, Any]:
    """The ``token_issue`` result."""
    world = memory_world(policies=_unlimited())[0]
    service, baseline = _service_and_baseline(world)
    for _ in range(20):
        service()
        baseline()
    measured = interleaved(service, baseline, rounds=ROUNDS, per_round=PER_ROUND)
    value, base = measured.value, measured.baseline
    return {
        "name": "token_issue",
        "unit": "tokens/s",
        "value": round(value, 1),
        "baseline": round(base, 1),
        "ratio": round(value / base, 4),
        "target": 0.95,
        "rounds": ROUNDS,
        "per_round": PER_ROUND,
    }


def token_issue_moto() -> dict[str, Any]:
    """Informational: the same warm path, through the OAuth edge and moto-backed DynamoDB/KMS adapters."""
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="eu-west-1")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    import boto3
    from moto import mock_aws

    from tests.fakes.oauth_world import build_world
    from wiresocket.adapters.clock import SystemClock
    from wiresocket.adapters.directory_models import bind_directory
    from wiresocket.adapters.dynamo_directory import DynamoDirectory, DynamoLockStore
    from wiresocket.adapters.dynamo_ratelimit import DynamoCounterStore
    from wiresocket.adapters.kms import KmsKeyWrapper
    from wiresocket.local.resources import create_global_resources

    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        resources = create_global_resources(dynamodb, boto3.client("kms"), boto3.client("events"))
        bind_directory(resources.directory_table, "eu-west-1")
        counters = DynamoCounterStore(dynamodb, resources.rate_limit_table)
        world = build_world(
            DynamoDirectory(),
            DynamoLockStore(),
            KmsKeyWrapper(boto3.client("kms"), resources.master_key_alias),
            SystemClock(),
            counters,
        )
        world.client_credentials()
        count = max(20, PER_ROUND // 4)
        rate = per_second(world.client_credentials, count)
    return {
        "name": "token_issue_moto",
        "unit": "tokens/s",
        "value": round(rate, 1),
        "baseline": None,
        "ratio": None,
        "target": None,
        "requests": count,
        "note": "informational: edge + moto DynamoDB (4 directory reads, 2 counter calls) + warm key",
    }


def benchmarks() -> Iterator[dict[str, Any]]:
    """The token-service results."""
    yield token_issue()
    print("# token_issue done; moto-backed path next", file=sys.stderr, flush=True)
    yield token_issue_moto()
