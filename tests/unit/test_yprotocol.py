"""The y-websocket framing (``domain.yprotocol``): every malformed case first, then round trips against pycrdt's
own encoder (the y-protocols reference encoding)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pycrdt
import pytest

from wiresocket.domain import yprotocol as y


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def awareness_update(*entries: tuple[int, int, str]) -> bytes:
    out = y.encode_varuint(len(entries))
    for client, clock, state in entries:
        out += y.encode_varuint(client) + y.encode_varuint(clock) + y.encode_varbytes(state.encode("utf-8"))
    return out


# --- malformed frames -------------------------------------------------------------------------------------------

MALFORMED: dict[str, tuple[str, type[y.FrameError]]] = {
    "empty text": ("", y.EmptyFrame),
    "not base64 (JSON)": ('{"type":"sync"}', y.NotBase64),
    "not base64 (alphabet)": ("AA*A", y.NotBase64),
    "url-safe alphabet": ("-_-_", y.NotBase64),
    "missing padding": ("AAE", y.NotBase64),
    "whitespace": ("AAEA AA==", y.NotBase64),
    "trailing newline": ("AAEAAA==\n", y.NotBase64),
    "non-canonical padding bits": ("AB==", y.NotBase64),
    "non-ascii": ("AAÉA", y.NotBase64),
    "over 128 KB text": ("A" * (y.MAX_FRAME_CHARS + 4), y.FrameTooLarge),
    "1 MB frame": (b64(b"\x00\x02" + y.encode_varbytes(b"\x00" * (1024 * 1024))), y.FrameTooLarge),
    "just over 128 KB decoded": (b64(b"\x00" * (y.MAX_MESSAGE_BYTES + 1)), y.FrameTooLarge),
    "truncated message type varint": (b64(b"\x80"), y.TruncatedVarint),
    "truncated sync type varint": (b64(b"\x00\xff"), y.TruncatedVarint),
    "truncated length varint": (b64(b"\x00\x02\x81"), y.TruncatedVarint),
    "sync message without payload": (b64(b"\x00\x00"), y.TruncatedVarint),
    "varint over 8 bytes": (b64(b"\x80" * 8 + b"\x01"), y.VarintOverflow),
    "varint above 2^53": (b64(b"\xff" * 7 + b"\x7f"), y.VarintOverflow),
    "non-minimal varint": (b64(b"\x80\x00"), y.VarintOverflow),
    "length past the end": (b64(b"\x00\x02\x05abc"), y.TruncatedData),
    "huge length": (b64(b"\x00\x02\xff\xff\xff\x0f"), y.TruncatedData),
    "auth message (2)": (b64(b"\x02\x00"), y.UnknownMessageType),
    "query awareness (3) with a payload": (b64(b"\x03\x00"), y.TrailingBytes),
    "unknown message type 7": (b64(b"\x07\x00"), y.UnknownMessageType),
    "unknown sync type 3": (b64(b"\x00\x03\x00"), y.UnknownSyncType),
    "trailing bytes after sync": (b64(b"\x00\x02\x02\x00\x00\xff"), y.TrailingBytes),
    "trailing bytes after awareness": (b64(b"\x01\x01\x00\x00"), y.TrailingBytes),
    "awareness count past the end": (b64(y.awareness_message(b"\x02\x01\x01\x02{}")), y.MalformedAwareness),
    "awareness state not JSON": (b64(y.awareness_message(awareness_update((1, 1, "{nope")))), y.MalformedAwareness),
    "awareness state not UTF-8": (
        b64(y.awareness_message(b"\x01\x01\x01" + y.encode_varbytes(b"\xff\xfe"))),
        y.MalformedAwareness,
    ),
    "awareness trailing bytes": (b64(y.awareness_message(awareness_update((1, 1, "{}")) + b"x")), y.MalformedAwareness),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_frames_raise_the_specific_error(name: str) -> None:
    # Given a malformed text frame
    text, expected = MALFORMED[name]
    # When it is parsed
    # Then the error names exactly this defect
    with pytest.raises(y.FrameError) as raised:
        y.parse_frame(text)
    assert type(raised.value) is expected
    assert raised.value.kind == expected.kind


def test_every_error_kind_is_covered_by_a_malformed_case() -> None:
    # Given every FrameError subclass
    kinds = {cls.kind for cls in y.FrameError.__subclasses__()}
    # Then the malformed table exercises each of them
    assert kinds == {expected.kind for _, expected in MALFORMED.values()}


def test_the_largest_allowed_message_decodes() -> None:
    # Given an update message of exactly 128 KB
    payload = b"\x00" * (y.MAX_MESSAGE_BYTES - 5)
    message = y.sync_message(y.SyncType.UPDATE, payload)
    assert len(message) == y.MAX_MESSAGE_BYTES
    # When it is parsed
    parsed = y.parse_frame(b64(message))
    # Then it is accepted whole
    assert parsed == y.SyncMessage(y.SyncType.UPDATE, payload)


def test_encode_varuint_refuses_out_of_range_values() -> None:
    # Given values lib0 cannot represent
    # Then encoding them fails
    for bad in (-1, 2**53):
        with pytest.raises(ValueError, match="range"):
            y.encode_varuint(bad)


# --- well-formed frames, against pycrdt's encoder --------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 16383, 16384, 2**32, 2**53 - 1])
def test_varuints_round_trip_and_match_pycrdt(value: int) -> None:
    # Given a value
    # When it is encoded
    encoded = y.encode_varuint(value)
    # Then it is lib0's encoding (pycrdt's) and decodes back
    assert encoded == pycrdt.write_var_uint(value)
    assert y.Reader(encoded).varuint() == value


def test_sync_messages_of_pycrdt_parse_to_their_parts() -> None:
    # Given a document with some text, and pycrdt's own sync step 1 and update messages for it
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    doc.get("text", type=pycrdt.Text).insert(0, "hello")
    step1 = pycrdt.create_sync_message(doc)
    update = pycrdt.create_update_message(doc.get_update())
    # When they travel as frames and are parsed
    parsed_step1 = y.parse_frame(b64(step1))
    parsed_update = y.parse_frame(b64(update))
    # Then the payloads are the state vector and the update
    assert parsed_step1 == y.SyncMessage(y.SyncType.STEP1, doc.get_state())
    assert parsed_update == y.SyncMessage(y.SyncType.UPDATE, doc.get_update())
    # And our encoder produces the same bytes
    assert y.sync_message(y.SyncType.STEP1, doc.get_state()) == step1
    assert y.encode_frame(update) == b64(update)


def test_awareness_messages_parse_with_their_client_ids() -> None:
    # Given pycrdt's awareness message for a local state
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    awareness = pycrdt.Awareness(doc)
    awareness.set_local_state({"user": {"name": "Ada"}, "cursor": 3})
    update = awareness.encode_awareness_update([doc.client_id])
    message = pycrdt.create_awareness_message(update)
    # When it is parsed
    parsed = y.parse_frame(b64(message))
    # Then it is the awareness update as received, naming the client
    assert isinstance(parsed, y.AwarenessMessage)
    assert parsed.update == update
    assert parsed.client_ids == (doc.client_id,)
    assert parsed.entries[0].removed is False
    assert y.awareness_message(update) == message


def test_a_removed_awareness_state_is_well_formed() -> None:
    # Given an awareness entry whose state is null (a client leaving)
    update = awareness_update((42, 7, "null"))
    # When it is parsed
    parsed = y.parse_frame(b64(y.awareness_message(update)))
    # Then it is accepted
    assert parsed == y.AwarenessMessage(update, (y.AwarenessEntry(42, 7, removed=True),))


def test_the_error_frame_is_compact_json() -> None:
    # Given a refusal
    # When it is encoded
    frame = y.error_frame(4006, "Rate limit exceeded: 10 ops/min")
    # Then it is the documented shape
    assert json.loads(frame) == {"type": "error", "code": 4006, "reason": "Rate limit exceeded: 10 ops/min"}
