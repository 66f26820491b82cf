"""Presence through the real ``ws_message`` and ``ws_connect`` handlers on moto (docs/websocket.md "Presence"):
query awareness relayed, the awareness client id recorded on the license-region registry record, and its
removal announced to the others on ``$disconnect``. The ``@connections`` API is ``test_ws_message``'s recorder."""

from __future__ import annotations

from typing import Any

import pycrdt

from tests.integration import rest
from tests.integration.test_ws_connect import integration_event
from tests.integration.test_ws_message import US, Plane, plane  # noqa: F401 (the fixture)
from wiresocket import names
from wiresocket.domain.yprotocol import query_awareness_message


def awareness_frame(awareness: pycrdt.Awareness, client_id: int) -> bytes:
    return pycrdt.create_awareness_message(awareness.encode_awareness_update([client_id]))


def registry_item(world: Plane, connection_id: str) -> dict[str, Any]:
    items = world.items(names.CONNECTIONS_TABLE.default_name)[US]
    [item] = [i for i in items if i["connectionId"]["S"] == connection_id]
    return item


def test_a_malformed_query_awareness_is_refused_and_a_query_is_relayed(plane: Plane) -> None:  # noqa: F811
    # Given two connections to one document
    plane.connect("a=")
    plane.connect("b=")
    # When a sends a query awareness with a payload, then a well-formed one
    plane.send("a=", b"\x03\x00")
    refused = plane.take("a=")
    plane.send("a=", query_awareness_message())
    # Then the first gets 4000 and reaches nobody, the second reaches b only
    assert [f["code"] for f in refused if isinstance(f, dict)] == [4000]
    assert plane.take("b=") == [b"\x03"]
    assert plane.take("a=") == []


def test_a_disconnect_announces_the_removal_of_the_connections_awareness(plane: Plane) -> None:  # noqa: F811
    # Given a and b present in one document, a having moved its cursor a few times
    policy = plane.connect("a=")
    plane.connect("b=")
    a_doc: pycrdt.Doc[Any] = pycrdt.Doc()
    a = pycrdt.Awareness(a_doc)
    for cursor in range(6):
        a.set_local_state({"user": "A", "cursor": cursor})
        assert plane.send("a=", awareness_frame(a, a_doc.client_id))["statusCode"] == 200
    b = pycrdt.Awareness(pycrdt.Doc())
    for frame in plane.take("b="):
        assert isinstance(frame, bytes)
        b.apply_awareness_update(pycrdt.read_message(frame[1:]), "relay")
    assert a_doc.client_id in b.states
    # (the license-region record names a's client id, with a clock recorded only on material changes)
    item = registry_item(plane, "a=")
    assert item["awClient"] == {"N": str(a_doc.client_id)}
    assert int(item["awClock"]["N"]) <= a.meta[a_doc.client_id]["clock"]
    # When a's connection closes without a goodbye
    response = rest.invoke("ws_connect", integration_event("DISCONNECT", "a=", policy))
    # Then the disconnect succeeds, a's record is gone, and b gets the removal that drops a
    assert response["statusCode"] == 200
    assert [i["connectionId"]["S"] for i in plane.items(names.CONNECTIONS_TABLE.default_name)[US]] == ["b="]
    [removal] = plane.take("b=")
    assert isinstance(removal, bytes) and removal[0] == 1
    b.apply_awareness_update(pycrdt.read_message(removal[1:]), "server")
    assert a_doc.client_id not in b.states
    assert plane.take("a=") == []
