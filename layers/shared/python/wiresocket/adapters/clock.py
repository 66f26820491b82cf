"""The system clock."""

from __future__ import annotations

import time


class SystemClock:
    """Wall-clock time from ``time.time()``."""

    def now(self) -> float:
        """The current epoch time in seconds."""
        return time.time()
