"""The connection registry (SPEC §8, §9): ``$connect`` registers, ``$disconnect`` removes, termination and relay
query. Every record goes to the table of its app's **license region** and nowhere else; the WebSocket API's
own region is recorded in the record (``ws_region``, ``endpoint``) so a terminator anywhere can reach it.

``handle_connection_event`` maps the ``$connect``/``$disconnect`` integration events to the service and the
results to Lambda proxy responses: ``$connect`` answers 200 (echoing the token's subprotocol marker as the
selected ``Sec-WebSocket-Protocol`` when the token came that way), 403 when the authorizer context is missing
or malformed (fail closed), 503 when the registry cannot be written (nothing is registered, the handshake
fails). ``$disconnect`` always answers 200: API Gateway ignores its result.

**Connect-time plan limits** (``maxConnections`` 4004, ``maxUsersPerDoc`` 4008, ``maxDocuments`` 4005) are
enforced by a ``ConnectionLimits`` registry (``adapters.dynamo_connections``): counters in the license region,
raised atomically with the registry write. API Gateway cannot send a frame during ``$connect``, so a
connection over a limit is **accepted** (200) and registered as refused; its first frame on ``$default`` is
answered with the error frame (``{"type":"error","code":4004,…}``) and the connection is closed
(``services.relay``). Removing a record (``$disconnect``, a 410 prune, termination) returns its counters once.

**Invalid document names** (4007 "Invalid Name"): the authorizer allows a valid token from an allowed Origin
whose ``?doc=`` is missing, repeated or invalid with the document ``domain.connections.INVALID_DOCUMENT``; the
same registry registers it as refused before any pin or counter is read (``domain.limits.uncounted_refusal``),
so it is never a member of any document and its removal touches no counter. Without a limits registry nothing
could refuse it later: ``$connect`` answers 403.

**Region pinning** (``domain.pinning``): the same registry refuses, with 4009 ``REDIRECT:<url>``, a connection
to a document pinned to another WebSocket region, the same way (accepted, refused on its first frame). The URL
is this region's public ``wss://`` URL (``ws_url``; empty: ``wss://{domainName}/{stage}`` of the event).

**Presence** (``services.presence``): with a ``PresenceService`` wired (built on the first ``$disconnect``: the
``$connect`` cold start never imports it), ``$disconnect`` also posts the removal of
the awareness client id the connection controlled to the document's remaining connections (never failing the
disconnect), so the others see the user leave at once rather than after the 30 s awareness timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

from wiresocket.domain.connections import (
    AuthorizedConnection,
    ConnectionRecord,
    event_endpoint,
    new_record,
    registry_key,
)
from wiresocket.domain.errors import InvalidInput
from wiresocket.domain.limits import Refusal
from wiresocket.names import LICENSE_REGIONS
from wiresocket.ports import Clock

if TYPE_CHECKING:
    from wiresocket.services.presence import PresenceService

logger = logging.getLogger(__name__)

SUBPROTOCOL_HEADER: Final = "Sec-WebSocket-Protocol"


class ConnectionRegistry(Protocol):
    """Connection records, partitioned by license region (one table per region)."""

    def put(self, record: ConnectionRecord) -> None:
        """Store ``record`` in its license region's table (overwrites the same key)."""
        ...

    def delete(self, license_region: str, key: str) -> None:
        """Remove the record with ``key`` from ``license_region``'s table (no error if absent)."""
        ...

    def by_tenant(self, license_region: str, tenant_id: str) -> Iterator[ConnectionRecord]:
        """The tenant's connections registered in ``license_region``."""
        ...

    def by_app(self, license_region: str, tenant_id: str, app_id: str) -> Iterator[ConnectionRecord]:
        """The app's connections (an app has exactly one license region)."""
        ...

    def by_document(
        self, license_region: str, tenant_id: str, app_id: str, document: str
    ) -> Iterator[ConnectionRecord]:
        """The connections to one document of one app."""
        ...


class ConnectionLimits(Protocol):
    """A registry that enforces the connect-time plan limits atomically (its ``delete`` returns the counters)."""

    def admit(self, record: ConnectionRecord, limits: Mapping[str, int], ws_url: str = "") -> Refusal | None:
        """Register ``record`` within the document's pin and the limits, or register it as refused and return
        why. ``ws_url``: this region's public ``wss://`` URL (recorded in the pin the connection sets)."""
        ...

    def refusal(self, license_region: str, key: str) -> Refusal | None:
        """The refusal stored with a registered connection (None: admitted, or unknown)."""
        ...


class ConnectionService:
    """Register and remove connections of this region's WebSocket API; find them for termination and relay.

    ``limits``: the connect-time limit enforcement (``DynamoConnectionRegistry`` provides it); without it records
    are written uncounted and no connection is refused."""

    def __init__(
        self,
        registry: ConnectionRegistry,
        clock: Clock,
        *,
        ws_region: str,
        endpoint: str,
        max_lifetime_seconds: int = 2 * 3600,
        limits: ConnectionLimits | None = None,
        ws_url: str = "",
        presence: Callable[[], PresenceService] | None = None,
    ) -> None:
        self._registry = registry
        self._clock = clock
        self._ws_region = ws_region
        self._endpoint = endpoint
        self._max_lifetime = max_lifetime_seconds
        self._limits = limits
        self._ws_url = ws_url
        self._presence = presence

    def register(self, connection_id: str, authorized: AuthorizedConnection, *, endpoint: str = "") -> ConnectionRecord:
        """Record a connection the authorizer allowed, in its license region's table."""
        return self.admit(connection_id, authorized, endpoint=endpoint)[0]

    def admit(
        self, connection_id: str, authorized: AuthorizedConnection, *, endpoint: str = "", ws_url: str = ""
    ) -> tuple[ConnectionRecord, Refusal | None]:
        """Record a connection, counted against the plan limits and held to the document's region pin; the
        refusal if it is over a limit or pinned elsewhere, or its document name was invalid (it is then registered
        as refused, so its first frame can be answered with the close code). ``ws_url``: the public URL when none
        was configured. Without ``limits`` a connection with an invalid name is ``InvalidInput`` (403)."""
        record = new_record(
            connection_id,
            authorized,
            ws_region=self._ws_region,
            endpoint=self._endpoint or endpoint,
            connected_at=int(self._clock.now()),
            max_lifetime_seconds=self._max_lifetime,
        )
        if self._limits is None:
            if not authorized.names_a_document:  # nothing could refuse it after the upgrade: deny it now (403)
                raise InvalidInput("invalid document name")
            self._registry.put(record)
            return record, None
        return record, self._limits.admit(record, authorized.limits, self._ws_url or ws_url)

    def refusal(self, license_region: str, ws_region: str, connection_id: str) -> Refusal | None:
        """Why ``$connect`` refused this connection (None: admitted, unknown, or no limits enforced)."""
        if self._limits is None:
            return None
        return self._limits.refusal(license_region, registry_key(ws_region, connection_id))

    def unregister(
        self, connection_id: str, license_region: str, *, authorized: AuthorizedConnection | None = None
    ) -> None:
        """Forget a connection (idempotent); with its ``authorized`` context and presence wired, also announce the
        removal of its awareness state to the document's other connections (best effort)."""
        if self._presence is not None and authorized is not None and authorized.license_region == license_region:
            self._presence().depart(authorized, self._ws_region, connection_id)
            return
        self._registry.delete(license_region, registry_key(self._ws_region, connection_id))

    def forget(self, record: ConnectionRecord) -> None:
        """Remove a stale record (the management API answered 410 for it)."""
        self._registry.delete(record.license_region, record.key)

    def tenant_connections(
        self, tenant_id: str, regions: Sequence[str] = LICENSE_REGIONS
    ) -> Iterator[ConnectionRecord]:
        """Every connection of the tenant, across ``regions`` (its apps may live in several)."""
        for region in regions:
            yield from self._registry.by_tenant(region, tenant_id)

    def app_connections(self, license_region: str, tenant_id: str, app_id: str) -> Iterator[ConnectionRecord]:
        """Every connection of one app (in its license region)."""
        return self._registry.by_app(license_region, tenant_id, app_id)

    def document_connections(
        self, license_region: str, tenant_id: str, app_id: str, document: str
    ) -> Iterator[ConnectionRecord]:
        """Every connection to one document."""
        return self._registry.by_document(license_region, tenant_id, app_id, document)


# --- $connect / $disconnect events ---------------------------------------------------------------------------


def _response(status: int, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"statusCode": status, "headers": dict(headers or {}), "body": ""}


def handle_connection_event(event: object, service: Callable[[], ConnectionService]) -> tuple[dict[str, Any], str]:
    """Run ``$connect`` or ``$disconnect``; returns the proxy response and a short outcome for the log."""
    context = event.get("requestContext") if isinstance(event, dict) else None
    if not isinstance(context, dict):
        return _response(400), "no requestContext"
    event_type, connection_id = context.get("eventType"), context.get("connectionId")
    if not isinstance(connection_id, str) or not connection_id:
        return _response(400), "no connectionId"
    try:
        authorized = AuthorizedConnection.from_context(context.get("authorizer"))
    except InvalidInput:
        # Only reachable if the route has no authorizer or the context was tampered with: refuse, register nothing.
        return _response(403 if event_type == "CONNECT" else 200), "no valid authorizer context"
    if event_type == "CONNECT":
        try:
            _, refusal = service().admit(
                connection_id, authorized, endpoint=event_endpoint(context), ws_url=event_endpoint(context, "wss")
            )
        except InvalidInput:
            return _response(403), "invalid connection"
        except Exception as exc:
            logger.warning("registering a connection failed: %s", type(exc).__name__)
            return _response(503), "registry unavailable"
        headers = {SUBPROTOCOL_HEADER: authorized.subprotocol} if authorized.subprotocol else None
        if refusal is not None:  # accepted so that its first frame can be answered with the close code
            return _response(200, headers), f"refused {int(refusal.code)}"
        return _response(200, headers), "registered"
    if event_type == "DISCONNECT":
        try:
            service().unregister(connection_id, authorized.license_region, authorized=authorized)
        except Exception as exc:  # TTL reaps it; a terminator's 410 removes it too
            logger.warning("removing a connection failed: %s", type(exc).__name__)
            return _response(200), "removal failed"
        return _response(200), "removed"
    return _response(400), "unsupported event type"
