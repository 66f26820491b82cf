"""The y-websocket wire protocol (y-protocols' ``sync`` and ``awareness`` messages) over base64 text frames.

Pure: no I/O. API Gateway refuses binary WebSocket frames, so every y-websocket message travels as the standard
base64 (RFC 4648 §4, padded) of its binary encoding, one message per text frame. The binary encoding is lib0's:

    message     = varUint(messageType) payload
    sync        = varUint(0) varUint(syncType) varBytes(data)     syncType 0 step 1 (data = state vector),
                                                                  1 step 2 (data = update), 2 update
    awareness   = varUint(1) varBytes(awarenessUpdate)
    query       = varUint(3)                                      "query awareness": nothing follows
    awarenessUpdate = varUint(n) n times (varUint(clientID) varUint(clock) varString(JSON state))
    varUint     = 7 bits per byte, least significant group first, high bit set on every byte but the last
    varBytes    = varUint(length) length bytes;  varString = varBytes of UTF-8

Decoding is strict, every input is hostile: a frame that is not canonical base64, empty, larger than
``MAX_MESSAGE_BYTES`` decoded, has a truncated or over-long varint, a length running past its end, an unknown
message or sync type, trailing bytes, or an awareness update that is not well formed (more than
``MAX_AWARENESS_ENTRIES`` entries, a state that is not UTF-8 JSON) raises a ``FrameError`` subclass naming what is
wrong. Whether the CRDT data inside parses is left to the document service (pycrdt).

**Presence** (docs/websocket.md "Presence"): ``Presence`` is the awareness client id a connection controls and
the highest clock it has been seen with, as the registry stores it (only when it changes materially:
``presence_change``), and ``awareness_removal`` the update the server sends for it when the connection closes.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

MAX_MESSAGE_BYTES: Final = 96 * 1024
"""The largest decoded message accepted: what API Gateway's 128 KB message quota (on the base64 text) can carry,
4 * 98,304 / 3 = 131,072 characters, and what ``services.documents`` sizes its stored parts by."""
MAX_FRAME_CHARS: Final = 4 * ((MAX_MESSAGE_BYTES + 2) // 3)
"""The longest base64 text that can decode to at most ``MAX_MESSAGE_BYTES``."""
MAX_VARUINT: Final = 2**53 - 1
"""lib0 reads varints into JavaScript numbers: nothing above 2^53 - 1 is meaningful."""
MAX_VARUINT_BYTES: Final = 8  # ceil(53 / 7)
MAX_AWARENESS_ENTRIES: Final = 256
"""The most entries one awareness update may carry (a y-websocket client answering "query awareness" sends every
state it knows: one per user of the document, far below this)."""
CLOCK_STRIDE: Final = 4
"""The registry records a connection's awareness clock only when it has advanced by at least this much since the
clock recorded (see ``presence_change``), so a removal at ``removal_clock`` is accepted by every peer."""
EMPTY_UPDATE: Final = b"\x00\x00"
"""A Yjs update with no structs and an empty delete set (what a client in sync answers to step 1)."""


class MessageType(IntEnum):
    """y-websocket's top-level message types accepted from clients (``auth`` (2) is not)."""

    SYNC = 0
    AWARENESS = 1
    QUERY_AWARENESS = 3


class SyncType(IntEnum):
    """y-protocols' sync message types."""

    STEP1 = 0
    STEP2 = 1
    UPDATE = 2


class FrameError(ValueError):
    """A frame that is not a well-formed y-websocket message; ``kind`` names the defect (stable, for tests)."""

    kind: str = "malformed"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotBase64(FrameError):
    """The text frame is not canonical, padded standard base64."""

    kind = "not_base64"


class EmptyFrame(FrameError):
    """Nothing in the frame."""

    kind = "empty"


class FrameTooLarge(FrameError):
    """Over ``MAX_MESSAGE_BYTES`` decoded."""

    kind = "too_large"


class TruncatedVarint(FrameError):
    """A varint whose last byte still has the continuation bit set at the end of the data."""

    kind = "truncated_varint"


class VarintOverflow(FrameError):
    """A varint longer than 8 bytes or above 2^53 - 1."""

    kind = "varint_overflow"


class TruncatedData(FrameError):
    """A length prefix running past the end of the data."""

    kind = "truncated_data"


class UnknownMessageType(FrameError):
    """A message type other than sync (0), awareness (1) and query awareness (3)."""

    kind = "unknown_message_type"


class UnknownSyncType(FrameError):
    """A sync type other than step 1 (0), step 2 (1) and update (2)."""

    kind = "unknown_sync_type"


class TrailingBytes(FrameError):
    """Bytes after the end of the message."""

    kind = "trailing_bytes"


class MalformedAwareness(FrameError):
    """An awareness update whose entries do not parse (count, client id, clock, UTF-8 JSON state)."""

    kind = "malformed_awareness"


# --- lib0 varint encoding --------------------------------------------------------------------------------------


def encode_varuint(value: int) -> bytes:
    """lib0 ``writeVarUint``."""
    if value < 0 or value > MAX_VARUINT:
        raise ValueError("varuint out of range")
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_varbytes(data: bytes) -> bytes:
    """lib0 ``writeVarUint8Array``: the length, then the bytes."""
    return encode_varuint(len(data)) + data


class Reader:
    """A strict cursor over a message's bytes."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        """Bytes not read yet."""
        return len(self._data) - self._pos

    def varuint(self) -> int:
        """lib0 ``readVarUint``, refusing truncation and values lib0 cannot represent."""
        value, shift = 0, 0
        for count in range(1, MAX_VARUINT_BYTES + 1):
            if self._pos >= len(self._data):
                raise TruncatedVarint("truncated varint")
            byte = self._data[self._pos]
            self._pos += 1
            value |= (byte & 0x7F) << shift
            if value > MAX_VARUINT:
                raise VarintOverflow("varint too large")
            if byte < 0x80:
                if count > 1 and byte == 0:
                    raise VarintOverflow("varint not minimally encoded")
                return value
            shift += 7
        raise VarintOverflow("varint too long")

    def varbytes(self) -> bytes:
        """lib0 ``readVarUint8Array``."""
        length = self.varuint()
        if length > self.remaining:
            raise TruncatedData("length runs past the end of the message")
        out = self._data[self._pos : self._pos + length]
        self._pos += length
        return out

    def end(self) -> None:
        """Refuse anything after the message."""
        if self.remaining:
            raise TrailingBytes("trailing bytes after the message")


# --- messages --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncMessage:
    """A sync message: ``payload`` is a state vector (step 1) or a Yjs update (step 2, update)."""

    sync_type: SyncType
    payload: bytes


@dataclass(frozen=True)
class AwarenessEntry:
    """One entry of an awareness update: ``removed`` when its state is JSON ``null`` (the client left)."""

    client_id: int
    clock: int
    removed: bool


@dataclass(frozen=True)
class AwarenessMessage:
    """An awareness message; ``update`` is the awareness update exactly as received (relayed, never stored)."""

    update: bytes
    entries: tuple[AwarenessEntry, ...]

    @property
    def client_ids(self) -> tuple[int, ...]:
        """The client ids of the entries, in order."""
        return tuple(e.client_id for e in self.entries)


@dataclass(frozen=True)
class QueryAwarenessMessage:
    """y-websocket's "query awareness" (3): the receivers answer with every awareness state they know."""


Message = SyncMessage | AwarenessMessage | QueryAwarenessMessage


def decode_frame(text: str) -> bytes:
    """The binary message in a text frame: canonical padded base64, non-empty, at most ``MAX_MESSAGE_BYTES``."""
    if len(text) > MAX_FRAME_CHARS:
        raise FrameTooLarge(f"message larger than {MAX_MESSAGE_BYTES} bytes")
    if not text:
        raise EmptyFrame("empty frame")
    if not text.isascii():
        raise NotBase64("frame is not base64")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NotBase64("frame is not base64") from exc
    if base64.b64encode(data).decode("ascii") != text:  # non-zero padding bits: not the canonical encoding
        raise NotBase64("frame is not canonical base64")
    if not data:
        raise EmptyFrame("empty frame")
    if len(data) > MAX_MESSAGE_BYTES:
        raise FrameTooLarge(f"message larger than {MAX_MESSAGE_BYTES} bytes")
    return data


def encode_frame(message: bytes) -> str:
    """The text frame carrying ``message``."""
    return base64.b64encode(message).decode("ascii")


def parse_awareness_update(update: bytes) -> tuple[AwarenessEntry, ...]:
    """The entries of an awareness update (y-protocols ``applyAwarenessUpdate``'s format), strictly: at most
    ``MAX_AWARENESS_ENTRIES``, minimal varints within 2^53 - 1, every state UTF-8 JSON, nothing after the last."""
    reader = Reader(update)
    try:
        count = reader.varuint()
        if count > MAX_AWARENESS_ENTRIES:
            raise MalformedAwareness(f"more than {MAX_AWARENESS_ENTRIES} awareness entries")
        entries: list[AwarenessEntry] = []
        for _ in range(count):
            client_id = reader.varuint()
            clock = reader.varuint()
            state = json.loads(reader.varbytes().decode("utf-8"))
            entries.append(AwarenessEntry(client_id, clock, state is None))
        reader.end()
    except MalformedAwareness:
        raise
    except FrameError as exc:
        raise MalformedAwareness(f"malformed awareness update: {exc.reason}") from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedAwareness("awareness state is not UTF-8 JSON") from exc
    return tuple(entries)


def parse_message(data: bytes) -> Message:
    """One y-websocket message from its binary encoding (strict; see the module docstring)."""
    if not data:
        raise EmptyFrame("empty message")
    if len(data) > MAX_MESSAGE_BYTES:
        raise FrameTooLarge(f"message larger than {MAX_MESSAGE_BYTES} bytes")
    reader = Reader(data)
    kind = reader.varuint()
    if kind == MessageType.SYNC:
        sync_type = reader.varuint()
        if sync_type not in (SyncType.STEP1, SyncType.STEP2, SyncType.UPDATE):
            raise UnknownSyncType(f"unknown sync message type {sync_type}")
        payload = reader.varbytes()
        reader.end()
        return SyncMessage(SyncType(sync_type), payload)
    if kind == MessageType.AWARENESS:
        update = reader.varbytes()
        reader.end()
        return AwarenessMessage(update, parse_awareness_update(update))
    if kind == MessageType.QUERY_AWARENESS:
        reader.end()
        return QueryAwarenessMessage()
    raise UnknownMessageType(f"unknown message type {kind}")


def parse_frame(text: str) -> Message:
    """Decode and parse one text frame."""
    return parse_message(decode_frame(text))


def sync_message(sync_type: SyncType, payload: bytes) -> bytes:
    """The binary sync message."""
    return encode_varuint(MessageType.SYNC) + encode_varuint(sync_type) + encode_varbytes(payload)


def awareness_message(update: bytes) -> bytes:
    """The binary awareness message."""
    return encode_varuint(MessageType.AWARENESS) + encode_varbytes(update)


def query_awareness_message() -> bytes:
    """The binary "query awareness" message."""
    return encode_varuint(MessageType.QUERY_AWARENESS)


# --- presence ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Presence:
    """The awareness client id a connection controls, the highest clock recorded for it (at most
    ``CLOCK_STRIDE - 1`` below the highest the connection has sent), and whether it removed its state itself."""

    client_id: int
    clock: int
    left: bool = False


def presence_change(current: Presence | None, entries: tuple[AwarenessEntry, ...]) -> Presence | None:
    """What the registry must record after a connection sent ``entries`` (None: nothing material changed).

    - No presence yet: a single entry with a state claims its client id. That is what a y-websocket client sends
      first on a new connection (its own state, in ``onopen``); later frames may carry *other* clients' states
      (y-websocket re-broadcasts every awareness change it applies, and answers a query with everything it
      knows), so they never claim.
    - The controlled id seen ``CLOCK_STRIDE`` or more above the recorded clock: record the new clock. So the
      recorded clock is always more than the highest relayed minus ``CLOCK_STRIDE`` (see ``removal_clock``).
    - The controlled id removed by its client (state ``null``) or set again after that: record it, so a
      connection whose client said goodbye itself gets no second removal.
    """
    if current is None:
        if len(entries) == 1 and not entries[0].removed:
            return Presence(entries[0].client_id, entries[0].clock)
        return None
    own = [e for e in entries if e.client_id == current.client_id and e.clock >= current.clock]
    if not own:
        return None
    latest = max(own, key=lambda e: e.clock)
    if latest.removed != current.left and latest.clock > current.clock:
        return Presence(current.client_id, latest.clock, latest.removed)
    if latest.clock >= current.clock + CLOCK_STRIDE:
        return Presence(current.client_id, latest.clock, latest.removed)
    return None


def removal_clock(presence: Presence) -> int:
    """The clock of the server's removal of ``presence``: ``clock + CLOCK_STRIDE - 1``, capped at 2^53 - 1.

    y-protocols' ``applyAwarenessUpdate`` applies an entry when ``clock > current`` or when ``clock == current``
    and the state is ``null`` for a client it has. Every clock a peer has for this client id came through the
    relay from this connection (directly, or echoed by another client), and ``presence_change`` records a clock
    whenever the relayed one reaches ``recorded + CLOCK_STRIDE``: so every relayed clock is at most
    ``recorded + CLOCK_STRIDE - 1`` and the removal is always applied. The price: a client that reconnects with
    the same id (y-websocket keeps it) is shown again by the others once its own clock passes this value (at
    most ``CLOCK_STRIDE - 1`` awareness updates later; the returning client renews its state every 15 s).
    """
    return min(presence.clock + CLOCK_STRIDE - 1, MAX_VARUINT)


def awareness_removal(presence: Presence) -> bytes:
    """The awareness update removing ``presence``'s client (one entry, state ``null`` at ``removal_clock``)."""
    return (
        encode_varuint(1)
        + encode_varuint(presence.client_id)
        + encode_varuint(removal_clock(presence))
        + encode_varbytes(b"null")
    )


def error_frame(code: int, reason: str) -> str:
    """The JSON error frame sent before the server closes a connection (SPEC §8)."""
    return json.dumps({"type": "error", "code": code, "reason": reason}, separators=(",", ":"))
