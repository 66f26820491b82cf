"""Session termination (SPEC §8) until the data plane provides the real thing.

The admin service calls a ``SessionTerminator`` after it has committed a change that must end live sessions
(suspend a tenant, revoke its keys, disable an app or a user, delete an app). The WebSocket issue provides the
terminator that closes connections through the ``@connections`` API in every region; until then
``RecordingTerminator`` records each request (and logs it), and closes nothing. Connections are still refused
once they re-check the security state, which the committed change has already moved on.
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
