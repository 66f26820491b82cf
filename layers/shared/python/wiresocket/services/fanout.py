"""One frame to many connections through the ``@connections`` management API (``PostToConnection``).

Shared by the ``$default`` relay (``services.relay``) and the departure announcement of ``$disconnect``
(``services.presence``). Each post is one HTTPS round trip to API Gateway, so they run in parallel on a pool the
caller owns; one unreachable peer never stops the others. A post answers True (delivered), False (the
connection is gone: ``410``, its registry record is stale and the caller prunes it) or None (failed; logged by
class name only, never the frame).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from wiresocket.domain.connections import ConnectionRecord

logger = logging.getLogger(__name__)

POST_WORKERS: Final = 16
"""Posts in flight at once per function instance (the relay's and the departure announcement's pools)."""


class FramePoster(Protocol):
    """``PostToConnection`` (``adapters.apigw_post.ManagementApiPoster``)."""

    def post(self, endpoint: str, connection_id: str, region: str, data: str) -> bool:
        """Send one text frame; False if the connection is gone (410)."""
        ...


def post_one(poster: FramePoster, record: ConnectionRecord, frame: str) -> bool | None:
    """Post ``frame`` to one connection: True delivered, False gone (410), None failed (logged)."""
    try:
        return poster.post(record.endpoint, record.connection_id, record.ws_region, frame)
    except Exception as exc:  # one unreachable peer must not stop the others
        logger.warning("posting to a connection failed: %s", type(exc).__name__)
        return None


def post_all(
    poster: FramePoster, targets: Sequence[ConnectionRecord], frame: str, pool: ThreadPoolExecutor | None
) -> list[bool | None]:
    """``post_one`` to every target, in parallel on ``pool`` (in order without one, or for a single target);
    the results in the order of ``targets``."""
    if pool is None or len(targets) <= 1:
        return [post_one(poster, r, frame) for r in targets]
    return list(pool.map(lambda r: post_one(poster, r, frame), targets))
