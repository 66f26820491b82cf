"""Shared measurement for the benchmarks: throughput of a service path against its baseline, interleaved.

Both run in the same process, round by round, alternating which goes first (so drift, turbo and noisy
neighbours hit both alike and neither always gets the warmer cache); each figure is the median of the rounds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def per_second(action: Callable[[], object], count: int) -> float:
    """How many calls of ``action`` per second, over ``count`` calls."""
    start = time.perf_counter()
    for _ in range(count):
        action()
    return count / (time.perf_counter() - start)


@dataclass
class Interleaved:
    """Medians of interleaved rounds (calls per second)."""

    value: float
    baseline: float
    extras: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """``value / baseline``."""
        return self.value / self.baseline


def interleaved(
    service: Callable[[], object],
    baseline: Callable[[], object],
    *,
    rounds: int,
    per_round: int,
    extras: dict[str, Callable[[], object]] | None = None,
) -> Interleaved:
    """Median throughput of ``service`` and ``baseline`` (and any ``extras``, measured after each pair)."""
    service_rates: list[float] = []
    baseline_rates: list[float] = []
    extra_rates: dict[str, list[float]] = {name: [] for name in extras or {}}
    for round_number in range(rounds):
        if round_number % 2 == 0:
            service_rates.append(per_second(service, per_round))
            baseline_rates.append(per_second(baseline, per_round))
        else:
            baseline_rates.append(per_second(baseline, per_round))
            service_rates.append(per_second(service, per_round))
        for name, action in (extras or {}).items():
            extra_rates[name].append(per_second(action, per_round))
    return Interleaved(
        statistics.median(service_rates),
        statistics.median(baseline_rates),
        {name: statistics.median(rates) for name, rates in extra_rates.items()},
    )
