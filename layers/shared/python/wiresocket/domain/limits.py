"""Close codes after the WebSocket upgrade and the plan-limit decisions of the data plane (SPEC §8).

Pure: no I/O. Codes and reasons as the public docs word them; 4000 is this project's own code for a frame
that is not a well-formed y-websocket message (the public docs name none for it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final


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
