"""Region pinning of documents (SPEC §8, §9; public docs "document lifecycle"): pure decisions, no I/O.

A document is pinned to the WebSocket region of its first connection. The pin lives with the document's user
counter (``limits.document_users_key``) in the usage table of the app's **license region**, so every WebSocket
region sees the same pin. While the document has users, or for ``GRACE_SECONDS`` after its last user left, a
connection through another region is refused with 4009 ``REDIRECT:<wss-url>``; after the grace period the
document is *released*: the pin no longer binds and the next first connection may pin it anywhere.

Each pin carries a **session** id: the document's state is stored under it (``DocumentRef.session``). A first
user arriving within the grace period in the pinning region keeps the session (and with it the state); a first
user after the release starts a new session, so a released document starts empty and its old state is never
read again (TTL reaps it).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Final, Protocol

from wiresocket.domain.limits import MAX_CLOSE_REASON_BYTES, CloseCode, Refusal

GRACE_SECONDS: Final = 10
"""How long a document stays pinned (and its state kept) after its last user left."""
SESSION_PATTERN: Final = re.compile(r"[0-9a-f]{16,64}")
"""What a stored session id looks like (``new_session_id``); anything else in the table is ignored."""


@dataclass(frozen=True)
class DocumentPin:
    """Where a document is pinned: the WebSocket region, that region's public ``wss://`` URL (without the
    document), its current user count, since when it has had no user (None while it has users), the session
    its state is stored under, and the grace period the pin was read with."""

    ws_region: str
    ws_url: str
    users: int
    idle_since: int | None = None
    session: str = ""
    grace_seconds: int = GRACE_SECONDS

    def binds(self, now: float) -> bool:
        """True while the pin holds: users connected, or the last left less than ``grace_seconds`` ago."""
        if self.users > 0:
            return True
        return self.idle_since is not None and now < self.idle_since + self.grace_seconds

    def released(self, now: float) -> bool:
        """True once the document had no user for the whole grace period (its state may be discarded)."""
        return not self.binds(now)


class PinLookup(Protocol):
    """Reads a document's pin in its app's license region."""

    def document_pin(self, license_region: str, tenant_id: str, app_id: str, document: str) -> DocumentPin | None:
        """The pin, or None if the document was never pinned (or its pin record is gone)."""
        ...


def document_url(ws_url: str, document: str) -> str:
    """The URL a client connects to for ``document`` through the API at ``ws_url`` (SPEC §8: ``?doc=``)."""
    return f"{ws_url.rstrip('/')}/?doc={document}"


def wrong_region(pin: DocumentPin, document: str) -> Refusal:
    """4009 with ``REDIRECT:<url>``, or, when that would not fit a close reason, the docs' fallback
    ``Document active in region: <region>`` (itself cut to fit)."""
    reason = f"REDIRECT:{document_url(pin.ws_url, document)}"
    if not pin.ws_url or len(reason.encode()) > MAX_CLOSE_REASON_BYTES:
        reason = f"Document active in region: {pin.ws_region}"
        reason = reason.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")
    return Refusal(CloseCode.WRONG_REGION, reason)


def redirect_for(pin: DocumentPin | None, ws_region: str, document: str, now: float) -> Refusal | None:
    """4009 if ``document`` is pinned to a region other than ``ws_region`` and the pin still binds; else None."""
    if pin is None or pin.ws_region == ws_region or not pin.binds(now):
        return None
    return wrong_region(pin, document)


def kept_session(pin: DocumentPin | None, ws_region: str, now: float) -> str | None:
    """The session a *first* user through ``ws_region`` continues: the pin's own while it still binds to this
    region (a reconnect within the grace period keeps the state); None when a new session must start (never
    pinned, released, or a pin without a valid session)."""
    if pin is None or pin.ws_region != ws_region or not pin.binds(now):
        return None
    return pin.session if SESSION_PATTERN.fullmatch(pin.session) else None


def new_session_id() -> str:
    """A fresh, unguessable session id (16 hex digits)."""
    return secrets.token_hex(8)
