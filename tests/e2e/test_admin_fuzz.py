"""Schema-driven fuzzing of the admin API against the running local stack: zero 5xx responses.

schemathesis loads ``/openapi.json`` from the stack and generates requests for every operation, in both its
positive (schema-valid) and negative (schema-violating) modes, authenticated as the demo owner on
``/admin/...`` and as the operator on ``/platform/...``. Mutating calls beyond the ``account_management`` rate
limit get 429 and a revoked key turns the owner's token into a 401 (a new one is minted when that happens):
both are fine answers; a 5xx is never one.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import RunningStack

TARGET_REQUESTS = int(os.environ.get("WIRESOCKET_FUZZ_REQUESTS", "2000"))


class Tokens:
    """Owner and operator access tokens from the password grant, re-minted after a 401."""

    def __init__(self, stack: RunningStack) -> None:
        self.stack = stack
        self._cache: dict[str, str] = {}

    def get(self, who: str, *, fresh: bool = False) -> str:
        if fresh or who not in self._cache:
            state = self.stack.state
            user = state["operator"] if who == "operator" else state["demo"]["owner"]
            client = state["dashboard_client"]
            response = requests.post(
                f"{self.stack.control_plane_url}/connect/token",
                data={"grant_type": "password", "username": user["username"], "password": user["password"]},
                auth=(client["client_id"], client["client_secret"]),
                timeout=10,
            )
            if response.status_code == 200:
                self._cache[who] = response.json()["access_token"]
            else:  # the token endpoint's own per-IP limit: go on with what we have
                assert response.status_code == 429 and who in self._cache, response.text
        return self._cache[who]


@pytest.mark.slow
def test_fuzz_admin_api_has_no_5xx(start_local_stack: Callable[[], RunningStack]) -> None:
    # A private stack: the fuzzer drains rate-limit buckets and revokes keys, which must not leak into the
    # shared stack the other e2e tests use.
    local_stack = start_local_stack()
    # Given the stack's OpenAPI document and tokens for both kinds of principal
    base = local_stack.control_plane_url
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 30
    tokens = Tokens(local_stack)
    session = requests.Session()
    statuses: Counter[int] = Counter()
    reminted: Counter[str] = Counter()
    failures: list[str] = []
    per_operation = max(1, TARGET_REQUESTS // (2 * len(operations)) + 1)
    started = time.monotonic()

    def send(case: Any) -> None:
        who = "operator" if case.path.startswith("/platform") else "owner"
        headers = {"Authorization": f"Bearer {tokens.get(who)}"} if case.operation.security else {}
        response = case.call(base_url=base, session=session, headers=headers, timeout=30)
        if response.status_code == 401 and headers:
            reminted[who] += 1
            tokens.get(who, fresh=True)  # a fuzzed key revocation killed the token: carry on with a new one
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}")

    # When every operation gets its share of generated requests, valid and invalid
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            fuzz(operation.as_strategy(generation_mode=mode), per_operation, send)

    elapsed = time.monotonic() - started
    total = sum(statuses.values())
    print(
        f"\nadmin fuzz: {total} requests in {elapsed:.1f}s, statuses {dict(sorted(statuses.items()))}, "
        f"tokens re-minted after 401: {dict(reminted)}"
    )
    # Then there were enough requests, and none of them got a 5xx
    assert total >= TARGET_REQUESTS
    assert failures == [], failures[:20]


def fuzz(strategy: st.SearchStrategy[Any], examples: int, send: Any) -> None:
    """Draw ``examples`` cases from ``strategy`` and send each."""

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        send(case)

    run()
