"""CloudWatch EMF metrics, through powertools ``Metrics``: one namespace, a few named counters.

Emitted at the edges (handlers), never by domain code. Dimensions are low-cardinality by construction:
``service`` and, for denials, a reason *code* from a fixed set — never a tenant id, a token or a path.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from wiresocket.domain.audit import Actor
from wiresocket.services.admin_contract import SessionTerminator, TerminationScope

NAMESPACE = "WireSocket"

TOKENS_ISSUED = "TokensIssued"
RATE_LIMITED = "RateLimitedRequests"
CONNECTIONS_AUTHORIZED = "ConnectionsAuthorized"
CONNECTIONS_DENIED = "ConnectionsDenied"
SESSIONS_TERMINATED = "SessionsTerminated"


def metrics(service: str) -> Metrics:
    """The function's metrics (flush with ``@metrics.log_metrics`` on the handler)."""
    return Metrics(namespace=NAMESPACE, service=service)


def count(sink: Metrics, name: str, value: float = 1, **dimensions: str) -> None:
    """Add ``value`` to counter ``name`` (with optional low-cardinality dimensions)."""
    if dimensions:
        # A single metric with its own dimensions, so they never leak onto the function's other metrics.
        with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as metric:
            for key, dim in dimensions.items():
                metric.add_dimension(name=key, value=dim)
        return
    sink.add_metric(name=name, unit=MetricUnit.Count, value=value)


def count_http_result(sink: Metrics, result: dict[str, Any], *, issued_on_200: bool = False) -> None:
    """Token issued (a 200 from the token endpoint) and rate-limited (429) requests."""
    status = result.get("statusCode")
    if status == 429:
        count(sink, RATE_LIMITED)
    elif status == 200 and issued_on_200:
        count(sink, TOKENS_ISSUED)


class MeteredTerminator:
    """A ``SessionTerminator`` that also counts the sessions it closed."""

    def __init__(self, inner: SessionTerminator, sink: Metrics) -> None:
        self._inner = inner
        self._sink = sink

    def terminate(self, scope: TerminationScope, reason: str, actor: Actor) -> int:
        """Delegate, then count."""
        closed = self._inner.terminate(scope, reason, actor)
        count(self._sink, SESSIONS_TERMINATED, closed)
        return closed
