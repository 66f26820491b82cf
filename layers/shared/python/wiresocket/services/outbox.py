"""The audit outbox publisher (SPEC §7): at-least-once delivery, nothing lost.

Events are recorded in the directory in the same transaction as the change they describe. This publisher
puts pending events on the bus and only then marks them published; anything that fails stays pending and is
retried by the next run (inline after a change, from the table's stream, and on a schedule). Consumers
de-duplicate on ``detail.eventId``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from wiresocket.domain.errors import DependencyUnavailable
from wiresocket.ports import Clock, EventBus, Outbox

logger = logging.getLogger(__name__)

BATCH_SIZE = 10  # EventBridge PutEvents takes at most 10 entries


@dataclass
class PublishReport:
    """What one publisher run did."""

    published: int = 0
    failed: int = 0


class OutboxPublisher:
    """Moves pending audit events from the outbox to the bus."""

    def __init__(self, outbox: Outbox, bus: EventBus, clock: Clock, *, max_batches: int = 100) -> None:
        self._outbox = outbox
        self._bus = bus
        self._clock = clock
        self._max_batches = max_batches

    def publish_pending(self) -> PublishReport:
        """Publish pending events in batches until none is left, a batch fails, or ``max_batches``."""
        report = PublishReport()
        for _ in range(self._max_batches):
            batch = self._outbox.pending(BATCH_SIZE)
            if not batch:
                break
            try:
                failed_ids = self._bus.put(batch)
            except DependencyUnavailable:
                report.failed += len(batch)
                break
            delivered = [e for e in batch if e.event_id not in failed_ids]
            if delivered:
                self._outbox.mark_published(delivered, self._clock.now())
            report.published += len(delivered)
            if failed_ids:
                report.failed += len(failed_ids)
                break  # leave the rest for the next run rather than spin on a failing bus
        return report


def publish_after_commit(publish: Callable[[], object] | None) -> None:
    """Publish right after a committed change, best effort: a failure never fails the committed change (the
    outbox sweep delivers what this misses) but is logged, so a bus that keeps failing is visible."""
    if publish is None:
        return
    try:
        publish()
    except Exception as exc:  # the change is committed; its events wait in the outbox
        logger.warning("audit publish after commit deferred to the outbox sweep (%s)", type(exc).__name__)
