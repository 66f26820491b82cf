"""A recording ``SessionTerminator`` for tests: keeps every request, closes nothing.

Production uses ``services.sessions.SessionTerminationService`` (wired in ``wiring.session_terminator``).
"""

from __future__ import annotations

import logging
import threading

from wiresocket.domain.audit import Actor
from wiresocket.services.admin_contract import TerminationScope

logger = logging.getLogger(__name__)

MAX_LOGGED_REASON = 200


class RecordingTerminator:
    """A ``SessionTerminator`` that keeps every request in ``requests`` and terminates nothing (returns 0)."""

    def __init__(self) -> None:
        self.requests: list[tuple[TerminationScope, str, Actor]] = []
        self._lock = threading.Lock()

    def terminate(self, scope: TerminationScope, reason: str, actor: Actor) -> int:
        """Record the request; log whose sessions should end (ids and the reason only, never a credential)."""
        with self._lock:
            self.requests.append((scope, reason, actor))
        logger.info(
            "session termination requested (recorded only)",
            extra={
                "tenant_id": scope.tenant_id,
                "app_id": scope.app_id,
                "user_id": scope.user_id,
                "reason": reason[:MAX_LOGGED_REASON],
                "actor_type": actor.type.value,
                "actor_id": actor.id,
            },
        )
        return 0
