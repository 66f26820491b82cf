"""Translate AWS client failures into domain errors, in one place for every adapter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from wiresocket.domain.errors import DependencyUnavailable


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ``ClientError`` (``""`` for anything else)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def cancellation_codes(exc: ClientError, size: int) -> list[str] | None:
    """The per-item cancellation codes of a cancelled transaction of ``size`` items; None for any other error."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    reasons: Any = exc.response.get("CancellationReasons")
    if not isinstance(reasons, list) or len(reasons) != size:
        return ["TransactionConflict"] * size  # no usable reasons: treat as a conflict and retry
    return [str(r.get("Code") or "None") if isinstance(r, dict) else "None" for r in reasons]


LOST_RACE_CODES: Final = frozenset({"None", "ConditionalCheckFailed", "TransactionConflict"})
"""Cancellation codes of a transaction that lost a race (its conditions or a concurrent writer), not a failure."""


@contextmanager
def unavailable_on_aws_failure(service: str) -> Iterator[None]:
    """Turn transport errors and unexpected AWS errors into ``DependencyUnavailable``."""
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise DependencyUnavailable(f"{service} unavailable ({type(exc).__name__} {error_code(exc)})") from exc
