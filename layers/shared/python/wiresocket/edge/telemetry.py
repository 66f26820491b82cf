"""Structured JSON logs and CloudWatch EMF metrics for the hot handlers, without importing powertools.

Why not powertools here: the ``$connect`` authorizer and the token endpoint are on the user's critical path at
cold start (the ``cold_start`` benchmark: import + first invocation within 1.3x of a process that only creates
a DynamoDB client). Importing *any* part of ``aws_lambda_powertools`` runs its package ``__init__``, which
loads Logger, Metrics and Tracer together (about 25 ms of CPU, plus 14 ms for the event data classes'
package, which imports every event type) — a third of the budget. These two classes write the same shapes
powertools writes, so CloudWatch, the metric filters and log queries see no difference:

- ``JsonLogger``: one JSON object per line on stdout with ``level``, ``location``, ``message``,
  ``timestamp``, ``service`` and, inside ``inject_lambda_context``, ``cold_start``, ``function_name``,
  ``function_memory_size``, ``function_arn``, ``function_request_id``; ``extra`` keys are merged in. The
  threshold comes from ``POWERTOOLS_LOG_LEVEL`` / ``LOG_LEVEL`` (default ``INFO``), as powertools reads it.
- ``EmfMetrics``: ``add_metric`` collects values; ``log_metrics`` flushes one EMF document per invocation
  (``Namespace``, dimension ``service``); the module's ``emit_single`` writes one document with its own
  dimensions at once.

What is logged is decided by the callers, exactly as before: decisions and reason codes, never a token, a
secret or a password (the logger adds nothing from the event).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_F = TypeVar("_F", bound=Callable[..., Any])


def _write(document: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


class JsonLogger:
    """A structured logger writing powertools' JSON shape (see the module docstring)."""

    def __init__(self, service: str) -> None:
        self.service = service
        level = os.environ.get("POWERTOOLS_LOG_LEVEL") or os.environ.get("LOG_LEVEL") or "INFO"
        self._threshold = _LEVELS.get(level.upper(), 20)
        self._context: dict[str, Any] = {}
        self._cold_start = True

    def inject_lambda_context(self, *, clear_state: bool = True) -> Callable[[_F], _F]:
        """Decorate a handler: every record of the invocation carries the Lambda context keys."""

        def decorate(handler: _F) -> _F:
            @functools.wraps(handler)
            def wrapper(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
                if clear_state:
                    self._context = {}
                self._context.update(
                    cold_start=self._cold_start,
                    function_name=getattr(context, "function_name", None),
                    function_memory_size=getattr(context, "memory_limit_in_mb", None),
                    function_arn=getattr(context, "invoked_function_arn", None),
                    function_request_id=getattr(context, "aws_request_id", None),
                )
                self._cold_start = False
                return handler(event, context, *args, **kwargs)

            return wrapper  # type: ignore[return-value]

        return decorate

    def _log(self, level: str, message: str, extra: Mapping[str, Any] | None) -> None:
        if _LEVELS[level] < self._threshold:
            return
        caller = sys._getframe(2)
        now = time.time()
        record: dict[str, Any] = {
            "level": level,
            "location": f"{caller.f_code.co_name}:{caller.f_lineno}",
            "message": message,
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)) + f",{int(now % 1 * 1000):03d}+0000",
            "service": self.service,
        }
        # The record's own keys win: a context or ``extra`` key can never overwrite its level or message.
        _write({**self._context, **(extra or {}), **record})

    def debug(self, message: str, *, extra: Mapping[str, Any] | None = None) -> None:
        """A DEBUG record."""
        self._log("DEBUG", message, extra)

    def info(self, message: str, *, extra: Mapping[str, Any] | None = None) -> None:
        """An INFO record."""
        self._log("INFO", message, extra)

    def warning(self, message: str, *, extra: Mapping[str, Any] | None = None) -> None:
        """A WARNING record."""
        self._log("WARNING", message, extra)

    def error(self, message: str, *, extra: Mapping[str, Any] | None = None) -> None:
        """An ERROR record."""
        self._log("ERROR", message, extra)


def emf_document(namespace: str, values: Mapping[str, list[float]], dimensions: Mapping[str, str]) -> dict[str, Any]:
    """One CloudWatch embedded-metric-format document (all metrics are counts)."""
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [list(dimensions)],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in values],
                }
            ],
        },
        **dimensions,
        **values,
    }


def emit_single(namespace: str, name: str, value: float, dimensions: Mapping[str, str]) -> None:
    """Write one EMF document for one value of ``name`` with exactly ``dimensions``."""
    _write(emf_document(namespace, {name: [float(value)]}, dimensions))


class EmfMetrics:
    """Counters flushed as one EMF document per invocation (the subset of powertools ``Metrics`` we use)."""

    def __init__(self, namespace: str, service: str) -> None:
        self.namespace = namespace
        self.service = service
        self._values: dict[str, list[float]] = {}

    def add_metric(self, name: str, unit: object, value: float) -> None:
        """Add one value of ``name`` (every metric here is a count; ``unit`` is accepted for compatibility)."""
        self._values.setdefault(name, []).append(float(value))

    def flush_metrics(self) -> None:
        """Write what was collected (nothing if nothing was) and start afresh."""
        values, self._values = self._values, {}
        if values:
            _write(emf_document(self.namespace, values, {"service": self.service}))

    def log_metrics(self, handler: _F) -> _F:
        """Decorate a handler: flush after every invocation, also when it raised."""

        @functools.wraps(handler)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return handler(*args, **kwargs)
            finally:
                self.flush_metrics()

        return wrapper  # type: ignore[return-value]
