"""Presence cleanup (docs/websocket.md "Presence"): the awareness client id each connection controls, and its
removal when the connection closes, as the standard y-websocket server does.

``$default`` (``services.relay``) calls ``PresenceService.observe`` with the entries of every awareness update a
connection sends, **before** relaying it; the registry record (license region) then gets the connection's client
id and clock when they change materially (``domain.yprotocol.presence_change``: a claim, a clock
``CLOCK_STRIDE`` ahead, the client's own removal), never on every cursor move. What was recorded is remembered
in memory (a lower bound of the record: it only grows), so most awareness frames cost no registry call at all.

``$disconnect`` (``services.connections``) calls ``depart``: the record is removed as before (``release``, which
already reads it) and, if it held a presence its client did not remove itself, an awareness update setting that
client id to ``null`` at ``removal_clock`` is posted to the document's remaining connections (in parallel,
``services.fanout``; a connection found gone has its stale record removed, as the relay does). Presence is best
effort: a registry or management-API failure is logged (class name only) and never fails the frame or the
disconnect; the others then drop the state after y-protocols' 30 s awareness timeout, as before.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Final, Protocol

from wiresocket.domain.connections import AuthorizedConnection, ConnectionRecord, registry_key
from wiresocket.domain.yprotocol import (
    AwarenessEntry,
    Presence,
    awareness_message,
    awareness_removal,
    encode_frame,
    presence_change,
)
from wiresocket.services.fanout import POST_WORKERS, FramePoster, post_all

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

logger = logging.getLogger(__name__)

CACHE_SIZE: Final = 4096
"""Connections whose recorded presence one function instance remembers (oldest forgotten first)."""


class PresenceRegistry(Protocol):
    """The presence attributes of registry records (``adapters.dynamo_connections.DynamoConnectionRegistry``)."""

    def presence(self, license_region: str, key: str) -> Presence | None:
        """The presence recorded on a connection's record (None: none, or no record)."""
        ...

    def record_presence(self, license_region: str, key: str, presence: Presence, *, claim: bool) -> bool:
        """Record ``presence``: a ``claim`` only if the record has none yet, else only if it names the same
        client id with a lower clock; only on an existing record. False if the condition did not hold."""
        ...

    def release_presence(self, license_region: str, key: str) -> Presence | None:
        """Remove the record as ``delete`` does; the presence it held (None: none, or already gone)."""
        ...

    def by_document(
        self, license_region: str, tenant_id: str, app_id: str, document: str
    ) -> Iterable[ConnectionRecord]:
        """The admitted connections to one document."""
        ...

    def delete(self, license_region: str, key: str) -> None:
        """Remove a record (a stale one: the management API answered 410 for its connection)."""
        ...


class PresenceService:
    """Track the awareness client id of each connection; announce its removal when the connection closes.

    ``poster``: builds the ``@connections`` poster on first use (only ``depart`` needs it: the ``$connect``
    authorizer's cold start never pays for it)."""

    def __init__(
        self,
        registry: PresenceRegistry,
        poster: Callable[[], FramePoster] | None = None,
        *,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self._registry = registry
        self._poster_factory = poster
        self._poster: FramePoster | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._cache: OrderedDict[str, Presence | None] = OrderedDict()
        self._cache_size = cache_size

    # --- $default -------------------------------------------------------------------------------------------

    def _remember(self, key: str, presence: Presence | None) -> None:
        self._cache[key] = presence
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _current(self, license_region: str, key: str) -> Presence | None:
        if key in self._cache:
            return self._cache[key]
        current = self._registry.presence(license_region, key)
        self._remember(key, current)
        return current

    def observe(
        self, license_region: str, ws_region: str, connection_id: str, entries: tuple[AwarenessEntry, ...]
    ) -> str:
        """Record what a connection's awareness update changed (before it is relayed); never raises. Returns
        what happened: ``unchanged``, ``recorded``, ``conflict`` or ``failed``."""
        key = registry_key(ws_region, connection_id)
        try:
            for _ in range(2):  # a lost condition means another instance wrote first: read once more
                current = self._current(license_region, key)
                change = presence_change(current, entries)
                if change is None:
                    return "unchanged"
                if self._registry.record_presence(license_region, key, change, claim=current is None):
                    self._remember(key, change)
                    return "recorded"
                self._cache.pop(key, None)
            return "conflict"
        except Exception as exc:  # presence is best effort: the frame is relayed anyway
            logger.warning("recording presence failed: %s", type(exc).__name__)
            self._cache.pop(key, None)
            return "failed"

    # --- $disconnect ----------------------------------------------------------------------------------------

    def depart(self, authorized: AuthorizedConnection, ws_region: str, connection_id: str) -> int:
        """Remove the connection's record (failures raise, as ``delete``), then post the removal of its awareness
        client id to the document's remaining connections (failures logged, never raised). Returns how many
        connections the removal reached."""
        key = registry_key(ws_region, connection_id)
        self._cache.pop(key, None)
        presence = self._registry.release_presence(authorized.license_region, key)
        if presence is None or presence.left:
            return 0
        try:
            return self._announce(authorized, key, presence)
        except Exception as exc:
            logger.warning("announcing a departure failed: %s", type(exc).__name__)
            return 0

    def _announce(self, authorized: AuthorizedConnection, key: str, presence: Presence) -> int:
        a = authorized
        frame = encode_frame(awareness_message(awareness_removal(presence)))
        if self._poster is None:
            if self._poster_factory is None:
                return 0
            from concurrent.futures import ThreadPoolExecutor  # $disconnect only: not the authorizer's cold start

            self._poster = self._poster_factory()
            self._pool = ThreadPoolExecutor(max_workers=POST_WORKERS)
        found = self._registry.by_document(a.license_region, a.tenant_id, a.app_id, a.document)
        targets = [r for r in found if r.key != key]
        reached = 0
        for record, delivered in zip(targets, post_all(self._poster, targets, frame, self._pool), strict=True):
            if delivered is True:
                reached += 1
            elif delivered is False:  # gone (410): its record is stale, as the relay prunes it
                try:
                    self._registry.delete(record.license_region, record.key)
                except Exception as exc:  # TTL reaps it
                    logger.warning("pruning a gone connection failed: %s", type(exc).__name__)
        return reached
