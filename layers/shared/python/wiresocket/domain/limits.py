"""Close codes after the WebSocket upgrade and the plan-limit decisions of the data plane (SPEC §8).

Pure: no I/O. Codes and reasons as the public docs word them; 4000 is this project's own code for a frame
that is not a well-formed y-websocket message (the public docs name none for it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from wiresocket.domain.connections import INVALID_DOCUMENT


class CloseCode(IntEnum):
    """Application close codes carried in the error frame ``{"type":"error","code":…,"reason":…}``."""

    INVALID_MESSAGE = 4000
    MISSING_TOKEN = 4001
    INVALID_TOKEN = 4002
    FORBIDDEN = 4003
    CONNECTION_LIMIT = 4004
    DOCUMENT_LIMIT = 4005
    RATE_LIMIT = 4006
    INVALID_NAME = 4007
    USERS_PER_DOC = 4008
    WRONG_REGION = 4009


MAX_CLOSE_REASON_BYTES: Final = 123
"""RFC 6455: a close frame's reason is at most 123 bytes."""
OPS_WINDOW_SECONDS: Final = 60
OPS_COUNTER_TTL_SECONDS: Final = 2 * OPS_WINDOW_SECONDS
"""A window's counter outlives its window by this much before TTL may reap it."""


@dataclass(frozen=True)
class Refusal:
    """Why a message or connection is refused: the error frame's code and reason, and whether to close."""

    code: CloseCode
    reason: str
    close: bool = True


def rate_limit_exceeded(limit: int) -> Refusal:
    """4006 with the public docs' reason."""
    return Refusal(CloseCode.RATE_LIMIT, f"Rate limit exceeded: {limit} ops/min")


def connection_limit_exceeded(limit: int) -> Refusal:
    """4004 with the public docs' reason."""
    return Refusal(CloseCode.CONNECTION_LIMIT, f"Connection limit exceeded: {limit}")


def document_limit_exceeded(limit: int, active: int) -> Refusal:
    """4005 with the public docs' reason."""
    return Refusal(CloseCode.DOCUMENT_LIMIT, f"Document limit exceeded: {limit} (active: {active})")


def users_per_doc_exceeded(limit: int) -> Refusal:
    """4008 with the public docs' reason."""
    return Refusal(CloseCode.USERS_PER_DOC, f"Document user limit exceeded: {limit}")


KEY_REVOKED: Final = Refusal(CloseCode.INVALID_TOKEN, "Invalid Token")
FORBIDDEN: Final = Refusal(CloseCode.FORBIDDEN, "Forbidden")
INVALID_NAME: Final = Refusal(CloseCode.INVALID_NAME, "Invalid Name")


def ops_window(now: float) -> int:
    """The fixed one-minute window ``now`` falls in (epoch seconds of its start)."""
    return int(now) // OPS_WINDOW_SECONDS * OPS_WINDOW_SECONDS


def ops_counter_key(tenant_id: str, app_id: str, ws_region: str, window: int) -> str:
    """The ``opsPerMinute`` counter of one app in one WebSocket region and window."""
    return f"ops#{tenant_id}#{app_id}#{ws_region}#{window}"


def within_limit(count: int, limit: int) -> bool:
    """True while ``count`` (this message included) does not exceed ``limit``: the limit-th op passes, the next
    is refused."""
    return count <= limit


# --- connect-time limits (maxConnections 4004, maxDocuments 4005, maxUsersPerDoc 4008) ----------------------
#
# Three counters per app in the usage table of its license region (so they are global for the app, whichever
# WebSocket region a connection came through): live counted connections, active documents (a document is
# active while its user count is above zero), and users per document. ``$connect`` raises them atomically
# with the registry write (conditions on the limits); removing a counted registry record lowers them in the
# same transaction. Counters never expire: they return to zero when every connection is gone.


def connections_counter_key(tenant_id: str, app_id: str) -> str:
    """Live counted connections of one app (``maxConnections``)."""
    return f"conn#{tenant_id}#{app_id}"


def documents_counter_key(tenant_id: str, app_id: str) -> str:
    """Active documents of one app (``maxDocuments``)."""
    return f"docs#{tenant_id}#{app_id}"


def document_users_key(tenant_id: str, app_id: str, document: str) -> str:
    """Connections to one document (``maxUsersPerDoc``)."""
    return f"users#{tenant_id}#{app_id}#{document}"


REFUSABLE_AT_CONNECT: Final = frozenset(
    {
        CloseCode.CONNECTION_LIMIT,
        CloseCode.DOCUMENT_LIMIT,
        CloseCode.INVALID_NAME,
        CloseCode.USERS_PER_DOC,
        CloseCode.WRONG_REGION,
    }
)
"""Codes ``$connect`` stores with a refused connection (4007: the requested document name was invalid; 4009:
the document is pinned to another region)."""


def connect_refusal(code: int, reason: str) -> Refusal:
    """The refusal stored with a connection ``$connect`` accepted over a limit or pinned elsewhere (``ValueError``
    if not one)."""
    close_code = CloseCode(code)
    if close_code not in REFUSABLE_AT_CONNECT or not reason or len(reason.encode()) > MAX_CLOSE_REASON_BYTES:
        raise ValueError("not a connect-time refusal")
    return Refusal(close_code, reason)


def uncounted_refusal(
    document: str, max_connections: int, max_users_per_doc: int, max_documents: int
) -> Refusal | None:
    """What refuses a connection before any pin or counter is read: an invalid document name (4007: the
    authorizer's ``INVALID_DOCUMENT``), then a limit of 0 (``zero_limit_refusal``)."""
    if document == INVALID_DOCUMENT:
        return INVALID_NAME
    return zero_limit_refusal(max_connections, max_users_per_doc, max_documents)


def zero_limit_refusal(max_connections: int, max_users_per_doc: int, max_documents: int) -> Refusal | None:
    """A limit of 0 refuses every connection without touching a counter (4004 before 4008 before 4005)."""
    if max_connections <= 0:
        return connection_limit_exceeded(max_connections)
    if max_users_per_doc <= 0:
        return users_per_doc_exceeded(max_users_per_doc)
    if max_documents <= 0:
        return document_limit_exceeded(max_documents, 0)
    return None
