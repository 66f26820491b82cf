"""``$default`` (``ws_message``): y-websocket sync and awareness over base64 text frames (SPEC §8, §9).

For every text frame of a connection, in this order (the first refusal decides):

0. **Refused at connect** — a connection ``$connect`` accepted over ``maxConnections``/``maxUsersPerDoc``/
   ``maxDocuments``, to a document pinned elsewhere, or with an invalid document name (registered as refused:
   API Gateway cannot send during ``$connect``) gets its error frame (4004/4008/4005/4009, or 4007 "Invalid
   Name", with the public docs' reason) on its first frame and is closed; the frame is not counted. A
   connection whose context carries ``INVALID_DOCUMENT`` gets 4007 whatever the registry holds (fail closed:
   it never reaches a document). An admitted connection's admission and its document's pin session cannot
   change while it lives, so a warm container reads each once per connection (bounded memo).
1. **Integrity** — the connection's security state, read through a cache of at most a few seconds: tenant
   active (else 4003), the token's ``kid`` still published (else 4002), app enabled (else 4003). The error
   frame is sent, then the connection is closed with ``DeleteConnection``, even if termination missed it.
2. **opsPerMinute** — every frame counts (well-formed or not) against an atomic per-app, per-WebSocket-region,
   per-minute counter in the app's license-region usage table; the frame over the limit gets 4006
   ``Rate limit exceeded: <LIMIT> ops/min`` and the connection is closed.
3. **Framing** — a frame that is not a well-formed y-websocket message (``domain.yprotocol``) gets 4000 with
   the defect; the connection stays open and the frame is dropped, except a frame over 128 KB of text (96 KB
   decoded), which closes it.
4. **Protocol** — sync step 1: the sender gets sync step 2 with exactly the update it lacks (a state over one
   message's size comes as update messages first, the last part in the sync step 2: ``services.documents``),
   then the server's sync step 1 (so it sends what the server lacks). Sync step 2 and update: validated by pycrdt,
   appended to the document's state (license region), relayed to the document's other connections as an
   update message; data pycrdt cannot decode gets 4000, is dropped and changes nothing. Awareness: relayed
   to the others as received, never stored; the client id the connection controls and a recent clock are
   recorded on its registry record first (``services.presence``, only on material changes) so that
   ``$disconnect`` can announce its removal. Query awareness (3): relayed to the others, whose clients answer
   with every state they know (docs/websocket.md "Presence").

Relaying goes to every connection of the document in the registry (any WebSocket region: each record names
its own endpoint); a connection the management API reports gone (410) is removed from the registry.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from wiresocket.domain.apps import App
from wiresocket.domain.connections import AuthorizedConnection, ConnectionRecord, event_endpoint
from wiresocket.domain.errors import InvalidInput
from wiresocket.domain.keys import SigningKey, honoured_key
from wiresocket.domain.limits import (
    FORBIDDEN,
    INVALID_NAME,
    KEY_REVOKED,
    OPS_COUNTER_TTL_SECONDS,
    CloseCode,
    Refusal,
    ops_counter_key,
    ops_window,
    rate_limit_exceeded,
    within_limit,
)
from wiresocket.domain.plans import Plan
from wiresocket.domain.tenants import Tenant
from wiresocket.domain.yprotocol import (
    AwarenessMessage,
    FrameError,
    FrameTooLarge,
    QueryAwarenessMessage,
    SyncMessage,
    SyncType,
    encode_frame,
    error_frame,
    parse_frame,
    sync_message,
)
from wiresocket.ports import Clock
from wiresocket.services.documents import DocumentRef, DocumentService, InvalidCrdt
from wiresocket.services.fanout import POST_WORKERS, post_all
from wiresocket.services.presence import PresenceService

logger = logging.getLogger(__name__)

RELAY_WORKERS: Final = POST_WORKERS
MAX_ADMITTED_MEMO: Final = 10_000
"""Connections whose admission (and document session) a warm container remembers; flushed when full."""


class SecurityState(Protocol):
    """The reads the integrity check makes (``services.authorize.CachedStateDirectory`` provides them)."""

    def tenant_with_keys(self, tenant_id: str) -> tuple[Tenant | None, list[SigningKey]]:
        """The tenant and its keys."""
        ...

    def app(self, tenant_id: str, app_id: str) -> App | None:
        """The app."""
        ...

    def plan(self, plan_id: str) -> Plan | None:
        """The plan (may be cached: plan changes are not revocations)."""
        ...


class UsageCounter(Protocol):
    """Atomic counters in a license region."""

    def increment(self, license_region: str, key: str, *, expires_at: int) -> int:
        """Add one to ``key``; the new value."""
        ...


class ConnectionPoster(Protocol):
    """The ``@connections`` management API of the WebSocket API holding a connection."""

    def post(self, endpoint: str, connection_id: str, region: str, data: str) -> bool:
        """Send one text frame; False if the connection is gone (410)."""
        ...

    def close(self, endpoint: str, connection_id: str, region: str) -> bool:
        """``DeleteConnection``; False if it was gone already."""
        ...


class DocumentConnections(Protocol):
    """The registry's view the relay needs (``services.connections.ConnectionService``)."""

    def document_connections(
        self, license_region: str, tenant_id: str, app_id: str, document: str
    ) -> Iterable[ConnectionRecord]:
        """Every connection to one document."""
        ...

    def forget(self, record: ConnectionRecord) -> None:
        """Remove a stale record."""
        ...

    def refusal(self, license_region: str, ws_region: str, connection_id: str) -> Refusal | None:
        """Why ``$connect`` refused this connection over a plan limit (None: admitted)."""
        ...


@dataclass(frozen=True)
class Sender:
    """The connection a frame came from."""

    connection_id: str
    authorized: AuthorizedConnection
    endpoint: str  # its @connections endpoint
    ws_region: str

    @property
    def document(self) -> DocumentRef:
        """Its document, in its app's license region."""
        a = self.authorized
        return DocumentRef(a.license_region, a.tenant_id, a.app_id, a.document)


@dataclass
class Outcome:
    """What happened to one frame (for the log and the tests)."""

    kind: str  # "sync_step1" | "update" | "empty_update" | "awareness" | "query_awareness" | "refused" | "gone"
    refusal: Refusal | None = None
    sent: list[str] = field(default_factory=list)  # frames posted to the sender
    relayed: int = 0  # connections the frame reached
    pruned: int = 0  # gone connections removed from the registry


def security_refusal(state: SecurityState, authorized: AuthorizedConnection, now: float) -> Refusal | None:
    """The authorizer's state checks again (``TokenVerifier``): 4003 for a tenant not active, an app not enabled
    or without an active plan, 4002 for a key no longer honoured (``domain.keys.honoured_key``); else None."""
    tenant, keys = state.tenant_with_keys(authorized.tenant_id)
    if tenant is None or not tenant.is_active:
        return FORBIDDEN
    if honoured_key(keys, authorized.kid, now) is None:
        return KEY_REVOKED
    app = state.app(authorized.tenant_id, authorized.app_id)
    if app is None or not app.is_enabled:
        return FORBIDDEN
    plan = state.plan(app.plan_id) if app.plan_id else None
    if plan is None or not plan.is_active:
        return FORBIDDEN
    return None


class RelayService:
    """Handles one text frame of a data-plane connection."""

    def __init__(
        self,
        documents: DocumentService,
        connections: DocumentConnections,
        state: SecurityState,
        usage: UsageCounter,
        poster: ConnectionPoster,
        clock: Clock,
        *,
        relay_workers: int = RELAY_WORKERS,
        presence: PresenceService | None = None,
    ) -> None:
        self._documents = documents
        self._connections = connections
        self._state = state
        self._usage = usage
        self._poster = poster
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=relay_workers) if relay_workers > 1 else None
        self._presence = presence
        # Per connection, what cannot change while it lives: ``$connect`` wrote its refusal once (an admitted
        # connection is remembered here, a refused one is closed), and an admitted connection counts itself as a
        # user of its document, so the document's pin — and with it the state's session — holds until it leaves.
        # Remembering both saves two strongly consistent reads on every later frame.
        self._admitted: dict[tuple[str, str], DocumentRef] = {}
        self._admitted_lock = threading.Lock()

    def refuse_unknown(self, endpoint: str, connection_id: str, ws_region: str, frame: str) -> None:
        """Send ``frame`` to a connection we know nothing else about, then close it."""
        if self._poster.post(endpoint, connection_id, ws_region, frame):
            self._poster.close(endpoint, connection_id, ws_region)

    # --- the steps ---------------------------------------------------------------------------------------------

    def _refuse(self, sender: Sender, refusal: Refusal) -> Outcome:
        frame = error_frame(refusal.code, refusal.reason)
        outcome = Outcome("refused", refusal, sent=[frame])
        if self._poster.post(sender.endpoint, sender.connection_id, sender.ws_region, frame) and refusal.close:
            self._poster.close(sender.endpoint, sender.connection_id, sender.ws_region)
        return outcome

    def _rate_refusal(self, sender: Sender, now: float) -> Refusal | None:
        a = sender.authorized
        limit = a.limits["opsPerMinute"]
        window = ops_window(now)
        count = self._usage.increment(
            a.license_region,
            ops_counter_key(a.tenant_id, a.app_id, sender.ws_region, window),
            expires_at=window + OPS_COUNTER_TTL_SECONDS,
        )
        return None if within_limit(count, limit) else rate_limit_exceeded(limit)

    def handle(self, sender: Sender, body: str) -> Outcome:
        """Check, count, parse and act on one frame; see the module docstring."""
        a = sender.authorized
        if not a.names_a_document:  # invalid name (4007): never a member of any document, whatever is registered
            return self._refuse(sender, INVALID_NAME)
        if (sender.ws_region, sender.connection_id) not in self._admitted:
            refused = self._connections.refusal(a.license_region, sender.ws_region, sender.connection_id)
            if refused is not None:  # refused at connect (4004/4005/4008/4009): the close code, then closed
                return self._refuse(sender, refused)
            self._remember(sender, sender.document)
        now = self._clock.now()
        refusal = security_refusal(self._state, sender.authorized, now) or self._rate_refusal(sender, now)
        if refusal is not None:
            return self._refuse(sender, refusal)
        try:
            message = parse_frame(body)
        except FrameError as exc:
            close = isinstance(exc, FrameTooLarge)
            return self._refuse(sender, Refusal(CloseCode.INVALID_MESSAGE, exc.reason, close=close))
        try:
            if isinstance(message, AwarenessMessage):
                if self._presence is not None:  # recorded before relaying: see domain.yprotocol.removal_clock
                    self._presence.observe(a.license_region, sender.ws_region, sender.connection_id, message.entries)
                return self._relay(sender, "awareness", body)
            if isinstance(message, QueryAwarenessMessage):
                return self._relay(sender, "query_awareness", body)
            assert isinstance(message, SyncMessage)
            if message.sync_type is SyncType.STEP1:
                return self._answer_step1(sender, message.payload)
            return self._apply(sender, message.payload, body if message.sync_type is SyncType.UPDATE else None)
        except InvalidCrdt:
            return self._refuse(sender, Refusal(CloseCode.INVALID_MESSAGE, "Invalid Yjs data", close=False))

    def _remember(self, sender: Sender, ref: DocumentRef) -> None:
        with self._admitted_lock:
            if len(self._admitted) >= MAX_ADMITTED_MEMO:
                self._admitted.clear()
            self._admitted[(sender.ws_region, sender.connection_id)] = ref

    def _document(self, sender: Sender) -> DocumentRef:
        """The sender's document in its current pin session (read once per connection, then remembered)."""
        ref = self._admitted.get((sender.ws_region, sender.connection_id)) or sender.document
        if not ref.session:
            ref = self._documents.current(ref)
            if ref.session:
                self._remember(sender, ref)
        return ref

    def _answer_step1(self, sender: Sender, state_vector: bytes) -> Outcome:
        answer = self._documents.answer_step1(self._document(sender), state_vector)
        # A state too large for one message comes in parts: all but the last as updates, the last as the sync
        # step 2 (y-websocket reports "synced" on it), each within API Gateway's 128 KB message quota.
        *leading, last = answer.parts
        frames = [encode_frame(sync_message(SyncType.UPDATE, part)) for part in leading]
        frames.append(encode_frame(sync_message(SyncType.STEP2, last)))
        frames.append(encode_frame(sync_message(SyncType.STEP1, answer.server_state_vector)))
        outcome = Outcome("sync_step1")
        for frame in frames:
            if not self._poster.post(sender.endpoint, sender.connection_id, sender.ws_region, frame):
                outcome.kind = "gone"
                break
            outcome.sent.append(frame)
        return outcome

    def _apply(self, sender: Sender, update: bytes, original: str | None) -> Outcome:
        if not self._documents.apply(self._document(sender), update):
            return Outcome("empty_update")
        frame = original if original is not None else encode_frame(sync_message(SyncType.UPDATE, update))
        return self._relay(sender, "update", frame)

    def _relay(self, sender: Sender, kind: str, frame: str) -> Outcome:
        a = sender.authorized
        found = self._connections.document_connections(a.license_region, a.tenant_id, a.app_id, a.document)
        targets: list[ConnectionRecord] = [
            r for r in found if not (r.connection_id == sender.connection_id and r.ws_region == sender.ws_region)
        ]
        outcome = Outcome(kind)
        results = post_all(self._poster, targets, frame, self._pool)
        for record, delivered in zip(targets, results, strict=True):
            if delivered is True:
                outcome.relayed += 1
            elif delivered is False:
                try:
                    self._connections.forget(record)
                    outcome.pruned += 1
                except Exception as exc:  # TTL reaps it
                    logger.warning("pruning a gone connection failed: %s", type(exc).__name__)
        return outcome


# --- the $default event ------------------------------------------------------------------------------------------


def handle_message_event(
    event: object, service: Callable[[], RelayService], *, endpoint: str, ws_region: str
) -> tuple[dict[str, Any], str]:
    """Run one ``$default`` event; returns the proxy response and a short outcome for the log.

    ``endpoint``: this WebSocket API's ``@connections`` URL (empty: derived from the event). A missing or
    malformed authorizer context (a route without the authorizer, tampering) is refused with 4003 and closed.
    A dependency failure is logged and the frame dropped (500, nothing sent): the client's next sync repairs it.
    """
    context = event.get("requestContext") if isinstance(event, dict) else None
    if not isinstance(context, dict):
        return {"statusCode": 400}, "no requestContext"
    connection_id = context.get("connectionId")
    if not isinstance(connection_id, str) or not connection_id:
        return {"statusCode": 400}, "no connectionId"
    endpoint = endpoint or event_endpoint(context)
    body = event.get("body") if isinstance(event, dict) else None
    try:
        authorized = AuthorizedConnection.from_context(context.get("authorizer"))
    except InvalidInput:
        frame = error_frame(FORBIDDEN.code, FORBIDDEN.reason)
        try:
            service().refuse_unknown(endpoint, connection_id, ws_region, frame)
        except Exception as exc:
            logger.warning("closing a connection without context failed: %s", type(exc).__name__)
        return {"statusCode": 403}, "no valid authorizer context"
    if not isinstance(body, str) or (isinstance(event, dict) and event.get("isBase64Encoded") is True):
        body = ""  # not a text frame: refused as an empty frame by the framing check
    sender = Sender(connection_id, authorized, endpoint, ws_region)
    try:
        outcome = service().handle(sender, body)
    except Exception as exc:
        logger.warning("handling a message failed: %s", type(exc).__name__)
        return {"statusCode": 500}, "dependency failure"
    if outcome.refusal is not None:
        return {"statusCode": 200}, f"refused {int(outcome.refusal.code)}"
    return {"statusCode": 200}, outcome.kind
