"""The y-websocket wire protocol (y-protocols' ``sync`` and ``awareness`` messages) over base64 text frames.

Pure: no I/O. API Gateway refuses binary WebSocket frames, so every y-websocket message travels as the standard
base64 (RFC 4648 §4, padded) of its binary encoding, one message per text frame. The binary encoding is lib0's:

    message     = varUint(messageType) payload
    sync        = varUint(0) varUint(syncType) varBytes(data)     syncType 0 step 1 (data = state vector),
                                                                  1 step 2 (data = update), 2 update
    awareness   = varUint(1) varBytes(awarenessUpdate)
    awarenessUpdate = varUint(n) n times (varUint(clientID) varUint(clock) varString(JSON state))
    varUint     = 7 bits per byte, least significant group first, high bit set on every byte but the last
    varBytes    = varUint(length) length bytes;  varString = varBytes of UTF-8

Decoding is strict, every input is hostile: a frame that is not canonical base64, empty, larger than
``MAX_MESSAGE_BYTES`` decoded, has a truncated or over-long varint, a length running past its end, an unknown
message or sync type, trailing bytes, or an awareness update that is not well formed raises a ``FrameError``
subclass naming what is wrong. Whether the CRDT data inside parses is left to the document service (pycrdt).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

MAX_MESSAGE_BYTES: Final = 128 * 1024
"""The largest decoded message accepted (API Gateway's own 128 KB message quota bounds the base64 text)."""
MAX_FRAME_CHARS: Final = 4 * ((MAX_MESSAGE_BYTES + 2) // 3)
"""The longest base64 text that can decode to at most ``MAX_MESSAGE_BYTES``."""
MAX_VARUINT: Final = 2**53 - 1
"""lib0 reads varints into JavaScript numbers: nothing above 2^53 - 1 is meaningful."""
MAX_VARUINT_BYTES: Final = 8  # ceil(53 / 7)
EMPTY_UPDATE: Final = b"\x00\x00"
"""A Yjs update with no structs and an empty delete set (what a client in sync answers to step 1)."""


class MessageType(IntEnum):
    """y-websocket's top-level message types (only these two are accepted from clients)."""

    SYNC = 0
    AWARENESS = 1


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
    """A message type other than sync (0) and awareness (1)."""

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
class AwarenessMessage:
    """An awareness message; ``update`` is the awareness update exactly as received (relayed, never stored)."""

    update: bytes
    client_ids: tuple[int, ...]


Message = SyncMessage | AwarenessMessage


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


def _awareness_client_ids(update: bytes) -> tuple[int, ...]:
    reader = Reader(update)
    try:
        count = reader.varuint()
        ids: list[int] = []
        for _ in range(count):
            ids.append(reader.varuint())
            reader.varuint()  # clock
            state = reader.varbytes().decode("utf-8")
            json.loads(state)
        reader.end()
    except FrameError as exc:
        raise MalformedAwareness(f"malformed awareness update: {exc.reason}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedAwareness("awareness state is not UTF-8 JSON") from exc
    return tuple(ids)


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
        return AwarenessMessage(update, _awareness_client_ids(update))
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


def error_frame(code: int, reason: str) -> str:
    """The JSON error frame sent before the server closes a connection (SPEC §8)."""
    return json.dumps({"type": "error", "code": code, "reason": reason}, separators=(",", ":"))
