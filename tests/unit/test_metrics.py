"""EMF metrics at the edges: what is counted, with which dimensions, and that nothing secret becomes one."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools import Metrics

from wiresocket.domain.audit import Actor, ActorType
from wiresocket.edge.metrics import (
    CONNECTIONS_DENIED,
    NAMESPACE,
    RATE_LIMITED,
    SESSIONS_TERMINATED,
    TOKENS_ISSUED,
    MeteredTerminator,
    count,
    count_http_result,
)
from wiresocket.services.admin_contract import TerminationScope


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def names_in(blobs: list[dict[str, object]]) -> dict[str, object]:
    found: dict[str, object] = {}
    for blob in blobs:
        for directive in blob["_aws"]["CloudWatchMetrics"]:  # type: ignore[index]
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                found[metric["Name"]] = value if isinstance(value, list) else [value]
    return found


def test_token_results_count_issued_tokens_and_rate_limits(capsys: pytest.CaptureFixture[str]) -> None:
    sink = Metrics(namespace=NAMESPACE, service="test")
    count_http_result(sink, {"statusCode": 200}, issued_on_200=True)
    count_http_result(sink, {"statusCode": 200}, issued_on_200=True)
    count_http_result(sink, {"statusCode": 429})
    count_http_result(sink, {"statusCode": 400}, issued_on_200=True)  # refused: counts nothing
    sink.flush_metrics()
    assert names_in(emitted(capsys)) == {TOKENS_ISSUED: [1.0, 1.0], RATE_LIMITED: [1.0]}


def test_denials_carry_only_their_reason_code_as_a_dimension(capsys: pytest.CaptureFixture[str]) -> None:
    count(Metrics(namespace=NAMESPACE, service="test"), CONNECTIONS_DENIED, reason="origin")
    [blob] = emitted(capsys)
    assert blob["reason"] == "origin"
    assert names_in([blob]) == {CONNECTIONS_DENIED: [1.0]}
    assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == NAMESPACE  # type: ignore[index]


def test_a_metered_terminator_counts_what_it_closed(capsys: pytest.CaptureFixture[str]) -> None:
    class Inner:
        def terminate(self, scope: TerminationScope, reason: str, actor: Actor) -> int:
            return 7

    sink = Metrics(namespace=NAMESPACE, service="test")
    closed = MeteredTerminator(Inner(), sink).terminate(
        TerminationScope("0b7c6c5e-8c1f-4a57-9e5e-3f2a1b0c9d8e"), "revoked", Actor(ActorType.USER, "u")
    )
    sink.flush_metrics()
    assert closed == 7 and names_in(emitted(capsys)) == {SESSIONS_TERMINATED: [7.0]}
