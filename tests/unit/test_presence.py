"""Presence (docs/websocket.md "Presence"): the strict awareness-update parser, query awareness (3) relayed, the
client id each connection controls recorded only on material changes, and its removal announced on
``$disconnect`` at a clock y-protocols' ``applyAwarenessUpdate`` (pycrdt's port of it here) always accepts."""

from __future__ import annotations

import base64
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pycrdt
import pytest

from tests.unit.test_relay import ENDPOINT, WS_REGION, Client, MemoryRegistry, Plane, error_codes, make_plane
from wiresocket.domain import yprotocol as y
from wiresocket.domain.connections import ConnectionRecord
from wiresocket.services.connections import ConnectionService, handle_connection_event
from wiresocket.services.presence import PresenceService


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def update_of(*entries: tuple[int, int, str]) -> bytes:
    out = y.encode_varuint(len(entries))
    for client, clock, state in entries:
        out += y.encode_varuint(client) + y.encode_varuint(clock) + y.encode_varbytes(state.encode("utf-8"))
    return out


# --- the awareness-update parser: malformed first ----------------------------------------------------------------

MALFORMED_UPDATES: dict[str, bytes] = {
    "empty": b"",
    "count past the end": b"\x02" + update_of((1, 1, "{}"))[1:],
    "truncated client id": b"\x01\x80",
    "truncated clock": b"\x01\x05",
    "truncated state length": b"\x01\x05\x01",
    "state past the end": b"\x01\x05\x01\x09{}",
    "over-long client id varint": b"\x01" + b"\x80" * 8 + b"\x01" + b"\x01\x02{}",
    "client id above 2^53": b"\x01" + b"\xff" * 7 + b"\x7f" + b"\x01\x02{}",
    "non-minimal clock": b"\x01\x05\x81\x00\x02{}",
    "state not JSON": update_of((1, 1, "{nope")),
    "state empty": update_of((1, 1, "")),
    "state not UTF-8": b"\x01\x01\x01" + y.encode_varbytes(b"\xff\xfe"),
    "state nested beyond the JSON parser": update_of((1, 1, "[" * 20_000)),
    "too many entries": update_of(*[(i, 0, "null") for i in range(y.MAX_AWARENESS_ENTRIES + 1)]),
    "trailing bytes": update_of((1, 1, "{}")) + b"\x00",
}


@pytest.mark.parametrize("name", sorted(MALFORMED_UPDATES))
def test_malformed_awareness_updates_are_refused(name: str) -> None:
    # Given a malformed awareness update
    update = MALFORMED_UPDATES[name]
    # When it is parsed, alone and inside an awareness message
    # Then both are refused as malformed awareness
    with pytest.raises(y.MalformedAwareness):
        y.parse_awareness_update(update)
    with pytest.raises(y.FrameError) as raised:
        y.parse_message(y.awareness_message(update))
    assert raised.value.kind == "malformed_awareness"


def test_awareness_entries_parse_with_ids_clocks_and_removals() -> None:
    # Given pycrdt's update for two clients, one of them removed, and the largest update allowed
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    awareness = pycrdt.Awareness(doc)
    awareness.set_local_state({"user": {"name": "Ada"}})
    awareness.set_local_state({"user": {"name": "Ada"}, "cursor": 2})
    update = awareness.encode_awareness_update([doc.client_id])
    clock = awareness.meta[doc.client_id]["clock"]
    largest = update_of(*[(i, i, "null") for i in range(y.MAX_AWARENESS_ENTRIES)])
    # When they are parsed
    parsed = y.parse_awareness_update(update)
    many = y.parse_awareness_update(largest)
    # Then each entry has its id, clock and whether it is a removal
    assert parsed == (y.AwarenessEntry(doc.client_id, clock, removed=False),)
    assert len(many) == y.MAX_AWARENESS_ENTRIES
    assert all(e.removed for e in many)


def test_query_awareness_parses_and_a_payload_after_it_is_refused() -> None:
    # Given y-websocket's query awareness, and the same with a byte after it
    # When they are parsed
    # Then the first is a query, the second is refused for its trailing byte (4000 at the relay)
    assert y.parse_frame(b64(y.query_awareness_message())) == y.QueryAwarenessMessage()
    with pytest.raises(y.TrailingBytes):
        y.parse_frame(b64(b"\x03\x00"))


# --- what is recorded ----------------------------------------------------------------------------------------------


def entries(*items: tuple[int, int, bool]) -> tuple[y.AwarenessEntry, ...]:
    return tuple(y.AwarenessEntry(c, k, r) for c, k, r in items)


def test_only_a_single_entry_with_a_state_claims_a_client_id() -> None:
    # Given a connection with nothing recorded
    # When its frame has several entries (a query answer), a removal, or one state
    # Then only the single state claims
    assert y.presence_change(None, entries((1, 3, False), (2, 5, False))) is None
    assert y.presence_change(None, entries((1, 3, True))) is None
    assert y.presence_change(None, entries()) is None
    assert y.presence_change(None, entries((1, 3, False))) == y.Presence(1, 3)


def test_the_clock_is_recorded_only_once_it_is_a_stride_ahead_and_other_ids_are_ignored() -> None:
    # Given a connection controlling client 1 at clock 10
    current = y.Presence(1, 10)
    stride = y.CLOCK_STRIDE
    # When it relays cursor moves below the stride, echoes of another client, an older clock, then one at the stride
    # Then only the last is recorded
    assert y.presence_change(current, entries((1, 10 + stride - 1, False))) is None
    assert y.presence_change(current, entries((2, 10_000, False))) is None
    assert y.presence_change(current, entries((1, 3, True))) is None
    assert y.presence_change(current, entries((1, 10 + stride, False))) == y.Presence(1, 10 + stride)


def test_a_client_removing_itself_is_recorded_and_so_is_its_return() -> None:
    # Given a connection controlling client 1
    current = y.Presence(1, 10)
    # When its client removes its own state, then sets one again
    left = y.presence_change(current, entries((1, 11, True)))
    back = y.presence_change(y.Presence(1, 11, left=True), entries((1, 12, False)))
    # Then both are recorded at once (no stride)
    assert left == y.Presence(1, 11, left=True)
    assert back == y.Presence(1, 12, left=False)


def test_the_removal_clock_is_capped_at_the_largest_varuint() -> None:
    # Given a presence at the largest clock lib0 can carry
    presence = y.Presence(7, y.MAX_VARUINT)
    # When its removal is encoded
    parsed = y.parse_awareness_update(y.awareness_removal(presence))
    # Then it is still a well-formed removal
    assert parsed == (y.AwarenessEntry(7, y.MAX_VARUINT, removed=True),)


@pytest.mark.parametrize("seed", range(20))
def test_the_removal_is_accepted_by_a_peer_whatever_clocks_it_saw(seed: int) -> None:
    # Given client A's awareness updates (random clock steps, as y-protocols' setLocalState and renewals make),
    # relayed through presence_change, and a peer B that received a random subset of them (possibly echoed)
    rng = random.Random(seed)
    a_doc: pycrdt.Doc[Any] = pycrdt.Doc()
    a = pycrdt.Awareness(a_doc)
    b = pycrdt.Awareness(pycrdt.Doc())
    recorded: y.Presence | None = None
    for step in range(rng.randint(1, 60)):
        for _ in range(rng.choice([1, 1, 1, 2, 5])):
            a.set_local_state({"cursor": step})
        update = a.encode_awareness_update([a_doc.client_id])
        change = y.presence_change(recorded, y.parse_awareness_update(update))
        recorded = change or recorded
        if rng.random() < 0.7:
            b.apply_awareness_update(update, "relay")
    assert recorded is not None
    b.apply_awareness_update(a.encode_awareness_update([a_doc.client_id]), "relay")  # at least the latest
    assert a_doc.client_id in b.states
    # When the server's removal reaches B
    b.apply_awareness_update(y.awareness_removal(recorded), "server")
    # Then B no longer shows A
    assert a_doc.client_id not in b.states


# --- the relay -----------------------------------------------------------------------------------------------------


@dataclass
class PresenceRegistry(MemoryRegistry):
    """``MemoryRegistry`` with presence attributes, counting the presence calls (``log`` also has the posts)."""

    presences: dict[str, y.Presence] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    fail: bool = False
    fail_listing: bool = False

    def __post_init__(self) -> None:
        MemoryRegistry.__init__(self)

    def _check(self, call: str) -> None:
        self.calls.append(call)
        if self.fail:
            raise RuntimeError("registry unavailable")

    def presence(self, license_region: str, key: str) -> y.Presence | None:
        self._check("read")
        return self.presences.get(key)

    def record_presence(self, license_region: str, key: str, presence: y.Presence, *, claim: bool) -> bool:
        self._check("claim" if claim else "advance")
        if (license_region, key) not in self.records:
            return False
        current = self.presences.get(key)
        if (current is not None) if claim else (current is None or current.clock >= presence.clock):
            return False
        self.presences[key] = presence
        return True

    def release_presence(self, license_region: str, key: str) -> y.Presence | None:
        self._check("release")
        if self.records.pop((license_region, key), None) is None:
            return None
        return self.presences.pop(key, None)

    def by_document(
        self, license_region: str, tenant_id: str, app_id: str, document: str
    ) -> Iterator[ConnectionRecord]:
        self.calls.append("by_document")
        if self.fail_listing:
            raise RuntimeError("registry unavailable")
        return super().by_document(license_region, tenant_id, app_id, document)


def presence_plane() -> tuple[Plane, PresenceRegistry]:
    plane = make_plane()
    registry = PresenceRegistry()
    plane.registry = registry
    plane.relay._connections = ConnectionService(registry, plane.clock, ws_region=WS_REGION, endpoint=ENDPOINT)
    plane.relay._presence = PresenceService(registry)
    return plane, registry


def announce(client: Client, state: dict[str, Any]) -> None:
    client.awareness.set_local_state(state)
    update = client.awareness.encode_awareness_update([client.doc.client_id])
    client.send(pycrdt.create_awareness_message(update))


def test_a_malformed_query_awareness_gets_4000_and_is_not_relayed() -> None:
    # Given two connected clients
    plane, _ = presence_plane()
    a, b = plane.connect("a"), plane.connect("b")
    plane.pump()
    # When A sends a query awareness with a payload
    a.send(b"\x03\x00")
    # Then A gets 4000, stays open, and B gets nothing
    plane.pump()
    assert error_codes(a) == [4000]
    assert error_codes(b) == []
    assert "b" not in plane.poster.inbox
    assert plane.poster.closed == []


def test_query_awareness_is_relayed_and_the_answers_reach_the_asker() -> None:
    # Given B and C with awareness states, and A joining after them
    plane, _ = presence_plane()
    b, c = plane.connect("b"), plane.connect("c")
    announce(b, {"user": "B"})
    announce(c, {"user": "C"})
    plane.pump()
    a = plane.connect("a")
    plane.pump()
    # When A queries awareness, and B and C answer as y-websocket's provider does (every state they know)
    body = a.send(y.query_awareness_message())
    queried = [name for name, frames in plane.poster.inbox.items() if body in frames]
    assert [plane.poster.inbox.pop(peer.sender.connection_id) for peer in (b, c)] == [[body], [body]]
    for peer in (b, c):
        known = list(peer.awareness.states)
        peer.send(pycrdt.create_awareness_message(peer.awareness.encode_awareness_update(known)))
    plane.pump()
    # Then the query went to the others only, and A now sees both
    assert sorted(queried) == ["b", "c"]
    assert {s.get("user") for s in a.awareness.states.values()} >= {"B", "C"}


def test_presence_is_recorded_before_relaying_and_only_on_material_changes() -> None:
    # Given a connected client A and a peer, every post logged with the registry's calls
    plane, registry = presence_plane()
    a, _ = plane.connect("a"), plane.connect("b")
    plane.pump()
    registry.calls.clear()
    post = plane.poster.post

    def logged_post(endpoint: str, connection_id: str, region: str, data: str) -> bool:
        registry.calls.append("post")
        return post(endpoint, connection_id, region, data)

    plane.poster.post = logged_post  # type: ignore[method-assign]
    # When A announces itself, then moves its cursor 20 times (clock + 1 each)
    for step in range(21):
        announce(a, {"cursor": step})
    # Then the claim precedes the first relay; one read (cache miss), one claim and a write per CLOCK_STRIDE
    # steps: never one per move
    assert registry.calls[:4] == ["read", "claim", "by_document", "post"]
    writes = [call for call in registry.calls if call in ("claim", "advance")]
    assert registry.calls.count("read") == 1
    assert writes == ["claim"] + ["advance"] * (20 // y.CLOCK_STRIDE)
    latest = a.awareness.meta[a.doc.client_id]["clock"]  # 20 moves after the claim: a multiple of the stride
    assert registry.presences[f"{WS_REGION}#a"] == y.Presence(a.doc.client_id, latest)


def test_echoed_states_of_other_clients_are_never_claimed() -> None:
    # Given A announced itself and B re-broadcasts A's state before its own (y-websocket echoes what it applies)
    plane, registry = presence_plane()
    a, b = plane.connect("a"), plane.connect("b")
    plane.pump()
    announce(a, {"user": "A"})
    plane.pump()
    announce(b, {"user": "B"})
    echo = b.awareness.encode_awareness_update(list(b.awareness.states))
    b.send(pycrdt.create_awareness_message(echo))
    # When the records are read
    # Then each connection controls only its own client id
    assert registry.presences[f"{WS_REGION}#a"].client_id == a.doc.client_id
    assert registry.presences[f"{WS_REGION}#b"].client_id == b.doc.client_id


def test_a_registry_failure_while_recording_still_relays_the_awareness() -> None:
    # Given a registry that fails every presence call
    plane, registry = presence_plane()
    a, b = plane.connect("a"), plane.connect("b")
    plane.pump()
    registry.fail = True
    # When A announces itself
    announce(a, {"user": "A"})
    plane.pump()
    # Then B still sees A
    assert a.doc.client_id in b.awareness.states


# --- $disconnect -----------------------------------------------------------------------------------------------------


@dataclass
class Poster:
    frames: dict[str, list[str]] = field(default_factory=dict)
    fail: bool = False

    def post(self, endpoint: str, connection_id: str, region: str, data: str) -> bool:
        if self.fail:
            raise RuntimeError("management API unavailable")
        self.frames.setdefault(connection_id, []).append(data)
        return True


def disconnect(plane: Plane, registry: PresenceRegistry, client: Client, poster: Poster) -> tuple[int, str]:
    service = ConnectionService(
        registry,
        plane.clock,
        ws_region=WS_REGION,
        endpoint=ENDPOINT,
        presence=lambda: PresenceService(registry, lambda: poster),
    )
    context = {**client.sender.authorized.context(), "principalId": "t/a"}
    authorizer = {k: str(v) for k, v in context.items()}
    event = {
        "requestContext": {
            "eventType": "DISCONNECT",
            "connectionId": client.sender.connection_id,
            "authorizer": authorizer,
        }
    }
    response, outcome = handle_connection_event(event, lambda: service)
    return int(response["statusCode"]), outcome


def apply_frames(client: Client, frames: list[str]) -> None:
    for frame in frames:
        message = base64.b64decode(frame, validate=True)
        client.awareness.apply_awareness_update(pycrdt.read_message(message[1:]), "server")


@pytest.mark.parametrize("failure", ["poster", "registry read"])
def test_a_failing_announcement_never_fails_the_disconnect(failure: str) -> None:
    # Given A and B present, and a management API or registry that fails after the record is removed
    plane, registry = presence_plane()
    a, _ = plane.connect("a"), plane.connect("b")
    announce(a, {"user": "A"})
    plane.pump()
    poster = Poster(fail=failure == "poster")
    if failure == "registry read":
        registry.fail_listing = True
    # When A disconnects
    status, outcome = disconnect(plane, registry, a, poster)
    # Then the disconnect succeeds and A's record is gone
    assert (status, outcome) == (200, "removed")
    assert (a.sender.authorized.license_region, f"{WS_REGION}#a") not in registry.records
    assert len(registry.records) == 1
    assert poster.frames == {}


def test_a_client_that_removed_itself_gets_no_second_removal() -> None:
    # Given A announced itself, then removed its own state (y-websocket does on pagehide/disconnect)
    plane, registry = presence_plane()
    a, _ = plane.connect("a"), plane.connect("b")
    announce(a, {"user": "A"})
    a.awareness.set_local_state(None)
    a.send(pycrdt.create_awareness_message(a.awareness.encode_awareness_update([a.doc.client_id])))
    poster = Poster()
    # When it disconnects
    status, _ = disconnect(plane, registry, a, poster)
    # Then nothing is announced
    assert status == 200
    assert poster.frames == {}


def test_a_connection_without_awareness_disconnects_without_posting() -> None:
    # Given a connection that never sent awareness
    plane, registry = presence_plane()
    a, _ = plane.connect("a"), plane.connect("b")
    poster = Poster()
    # When it disconnects
    status, outcome = disconnect(plane, registry, a, poster)
    # Then it is removed, nothing is posted and the document's connections are not even listed
    assert (status, outcome) == (200, "removed")
    assert poster.frames == {}
    assert "by_document" not in registry.calls


def test_the_others_see_a_disconnected_client_leave_at_once() -> None:
    # Given A, B and C present in a document (A moved its cursor a few times) and D in another document
    plane, registry = presence_plane()
    a, b, c = plane.connect("a"), plane.connect("b"), plane.connect("c")
    d = plane.connect("d", document="other")
    for step in range(7):
        announce(a, {"user": "A", "cursor": step})
    announce(b, {"user": "B"})
    plane.pump()
    assert a.doc.client_id in b.awareness.states and a.doc.client_id in c.awareness.states
    poster = Poster()
    # When A's connection closes without A saying goodbye
    status, _ = disconnect(plane, registry, a, poster)
    # Then B and C (only) get one removal each, which removes A and nobody else
    assert status == 200
    assert sorted(poster.frames) == ["b", "c"]
    for peer in (b, c):
        apply_frames(peer, poster.frames[peer.sender.connection_id])
        assert a.doc.client_id not in peer.awareness.states
    assert b.doc.client_id in c.awareness.states
    assert d.sender.connection_id not in poster.frames


@dataclass
class GatedPoster(Poster):
    """Every post waits until ``together`` posts are in flight at once; ``gone`` connections answer 410."""

    together: int = 1
    gone: frozenset[str] = frozenset()
    barrier: threading.Barrier | None = None

    def post(self, endpoint: str, connection_id: str, region: str, data: str) -> bool:
        if self.barrier is None:
            self.barrier = threading.Barrier(self.together, timeout=5)
        self.barrier.wait()
        if connection_id in self.gone:
            return False
        return super().post(endpoint, connection_id, region, data)


def test_the_departure_reaches_the_others_all_at_once_and_prunes_a_gone_one() -> None:
    # Given A, B, C and D present in a document, and D's connection already gone (its $disconnect was lost)
    plane, registry = presence_plane()
    a, _, _, d = (plane.connect(name) for name in "abcd")
    announce(a, {"user": "A"})
    plane.pump()
    poster = GatedPoster(together=3, gone=frozenset({"d"}))
    # When A disconnects
    status, _ = disconnect(plane, registry, a, poster)
    # Then the three posts were in flight together (one at a time would break the barrier: nothing delivered),
    # B and C got the removal, and D's stale record was removed (410) as the relay removes one
    assert status == 200
    assert sorted(poster.frames) == ["b", "c"]
    assert (d.sender.authorized.license_region, f"{WS_REGION}#d") not in registry.records
    assert {key for _, key in registry.records} == {f"{WS_REGION}#b", f"{WS_REGION}#c"}
