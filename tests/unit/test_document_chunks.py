"""Documents larger than one API Gateway message (SPEC §8 framing; ``services.documents`` "Sizes"): compaction
keeps every stored piece within ``MAX_SYNC_PART_BYTES``, and a late joiner receives a large state as several
messages — updates first, the last part as sync step 2 — each within the 128 KB ``@connections`` quota, that
together are exactly the document."""

from __future__ import annotations

import base64
import random
import string
from typing import Any

import pycrdt
import pytest

from tests.unit.test_relay import Plane, append_text, make_plane
from wiresocket.domain.yprotocol import EMPTY_UPDATE, SyncType
from wiresocket.services.documents import MAX_SYNC_PART_BYTES, group_parts

API_GATEWAY_MESSAGE_QUOTA = 128 * 1024


def noise(size: int, seed: int) -> str:
    """Text Yjs cannot shrink (random letters)."""
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters) for _ in range(size))


@pytest.fixture
def plane() -> Plane:
    return make_plane()


def type_noise(client: Any, size: int, seed: int) -> None:
    client.edit(lambda t: append_text(noise(size, seed), t))


def frames_to(plane: Plane, name: str) -> list[bytes]:
    return [base64.b64decode(f, validate=True) for f in plane.poster.inbox.pop(name, [])]


def test_group_parts_never_exceeds_the_limit_and_keeps_every_part() -> None:
    # Given twelve updates of ~30 KB from one writer
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    text = doc.get("text", type=pycrdt.Text)
    parts = []
    for i in range(12):
        before = doc.get_state()
        append_text(noise(30_000, i), text)
        parts.append(doc.get_update(before))
    # When they are grouped (with empty updates mixed in)
    groups = group_parts([EMPTY_UPDATE, *parts, EMPTY_UPDATE])
    # Then every group fits one message, there are fewer groups than parts, and together they are the document
    assert all(len(g) <= MAX_SYNC_PART_BYTES for g in groups)
    assert 3 <= len(groups) < len(parts)
    replica: pycrdt.Doc[Any] = pycrdt.Doc()
    for group in groups:
        replica.apply_update(group)
    assert str(replica.get("text", type=pycrdt.Text)) == str(text)
    # And nothing but empty updates groups to the one empty update
    assert group_parts([EMPTY_UPDATE, EMPTY_UPDATE]) == [EMPTY_UPDATE]


def test_a_late_joiner_receives_a_large_document_in_messages_that_each_fit_api_gateway(plane: Plane) -> None:
    # Given a writer that typed ~400 KB in 30 KB edits (compaction every 5 updates)
    writer = plane.connect("w=")
    for i in range(14):
        type_noise(writer, 30_000, i)
    plane.pump()
    expected = str(writer.text)
    assert len(expected) == 14 * 30_000
    # Then every stored snapshot chunk fits one message
    stored = next(iter(plane.documents.docs.values()))
    chunks = stored["snapshot"]
    assert isinstance(chunks, tuple) and len(chunks) >= 4
    assert all(len(c) <= MAX_SYNC_PART_BYTES for c in chunks)

    # When a late joiner sends sync step 1 with an empty state vector
    late = plane.connect("late=", sync=False)
    late.send(pycrdt.create_sync_message(late.doc))
    frames = frames_to(plane, "late=")
    # Then it receives updates, then one sync step 2, then the server's sync step 1 — every frame within quota
    kinds = [(f[0], f[1]) for f in frames]
    assert kinds[-2:] == [(0, SyncType.STEP2), (0, SyncType.STEP1)]
    assert set(kinds[:-2]) == {(0, SyncType.UPDATE)} and len(kinds) >= 6
    assert all(len(base64.b64encode(f)) <= API_GATEWAY_MESSAGE_QUOTA for f in frames)
    # And applying them gives exactly the writer's document
    for frame in frames[:-1]:
        late.doc.apply_update(pycrdt.read_message(frame[2:]))
    assert str(late.text) == expected


def test_a_client_lacking_little_of_a_large_document_gets_one_small_sync_step_2(plane: Plane) -> None:
    # Given a large document and a replica that has all but the last small edit
    writer = plane.connect("w=")
    for i in range(6):
        type_noise(writer, 30_000, i)
    plane.pump()
    replica: pycrdt.Doc[Any] = pycrdt.Doc()
    replica.apply_update(writer.doc.get_update())
    writer.edit(lambda t: append_text("!", t))
    # When the replica's connection sends sync step 1
    joiner = plane.connect("j=", sync=False)
    joiner.send(pycrdt.create_sync_message(replica))
    frames = frames_to(plane, "j=")
    # Then one small sync step 2 carries exactly the missing edit
    assert [(f[0], f[1]) for f in frames] == [(0, SyncType.STEP2), (0, SyncType.STEP1)]
    assert len(frames[0]) < 200
    replica.apply_update(pycrdt.read_message(frames[0][2:]))
    assert str(replica.get("text", type=pycrdt.Text)) == str(writer.text)
