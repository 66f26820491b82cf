"""CloudWatch EMF metrics: one namespace, a few named counters.

Written by ``edge.telemetry.EmfMetrics`` (powertools' EMF shape, without importing powertools, which costs a
third of the hot handlers' cold-start budget: see that module). ``count`` also accepts a powertools
``Metrics`` (anything with ``add_metric``).

Emitted at the edges (handlers), never by domain code. Dimensions are low-cardinality by construction:
``service`` and, for denials, a reason *code* from a fixed set — never a tenant id, a token or a path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from wiresocket.edge.telemetry import EmfMetrics, emit_single

if TYPE_CHECKING:  # annotations only: the hot handlers import this module and need none of the admin code
    from wiresocket.domain.audit import Actor
    from wiresocket.services.admin_contract import SessionTerminator, TerminationScope

NAMESPACE = "WireSocket"

TOKENS_ISSUED = "TokensIssued"
RATE_LIMITED = "RateLimitedRequests"
CONNECTIONS_AUTHORIZED = "ConnectionsAuthorized"
CONNECTIONS_DENIED = "ConnectionsDenied"
SESSIONS_TERMINATED = "SessionsTerminated"


class MetricSink(Protocol):
    """What ``count`` needs of a metrics object (``EmfMetrics`` or powertools ``Metrics``)."""

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        """Add one value."""


def metrics(service: str) -> EmfMetrics:
    """The function's metrics (flush with ``@metrics.log_metrics`` on the handler)."""
    return EmfMetrics(namespace=NAMESPACE, service=service)


def count(sink: MetricSink, name: str, value: float = 1, **dimensions: str) -> None:
    """Add ``value`` to counter ``name`` (with optional low-cardinality dimensions)."""
    if dimensions:
        # A single metric with its own dimensions, so they never leak onto the function's other metrics.
        emit_single(NAMESPACE, name, value, dimensions)
        return
    sink.add_metric(name=name, unit="Count", value=value)


def count_http_result(sink: MetricSink, result: dict[str, Any], *, issued_on_200: bool = False) -> None:
    """Token issued (a 200 from the token endpoint) and rate-limited (429) requests."""
    status = result.get("statusCode")
    if status == 429:
        count(sink, RATE_LIMITED)
    elif status == 200 and issued_on_200:
        count(sink, TOKENS_ISSUED)


class MeteredTerminator:
    """A ``SessionTerminator`` that also counts the sessions it closed."""

    def __init__(self, inner: SessionTerminator, sink: MetricSink) -> None:
        self._inner = inner
        self._sink = sink

    def terminate(self, scope: TerminationScope, reason: str, actor: Actor) -> int:
        """Delegate, then count."""
        closed = self._inner.terminate(scope, reason, actor)
        count(self._sink, SESSIONS_TERMINATED, closed)
        return closed
