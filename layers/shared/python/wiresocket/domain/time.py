"""Time as the domain sees it: integer epoch seconds and ISO-8601 UTC strings."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(epoch_seconds: float) -> str:
    """Epoch seconds → ``2026-11-29T21:07:25.123Z``."""
    stamp = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
