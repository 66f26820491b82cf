"""The ``$default`` relay (``services.relay``) with in-memory fakes and real pycrdt clients: refusals first
(integrity 4002/4003, rate limit 4006, malformed frames 4000), then sync: convergence of three clients,
a late joiner, awareness relay, pruning of gone connections, compaction."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pycrdt
import pytest

from tests.fakes.memory import FakeClock, MemoryStore
from tests.fakes.oauth_world import OAuthWorld, memory_world
from wiresocket.domain.apps import AppStatus
from wiresocket.domain.audit import SYSTEM_ACTOR
from wiresocket.domain.connections import AuthorizedConnection, ConnectionRecord, document_key
from wiresocket.domain.keys import KeyState
from wiresocket.domain.plans import PlanStatus
from wiresocket.domain.tenants import TenantStatus
from wiresocket.domain.yprotocol import MAX_MESSAGE_BYTES, SyncType, encode_varbytes, sync_message
from wiresocket.services.authorize import CachedStateDirectory
from wiresocket.services.connections import ConnectionService
from wiresocket.services.documents import DocumentRef, DocumentService, StoredDocument
from wiresocket.services.relay import RelayService, Sender

WS_REGION = "eu-west-1"
ENDPOINT = "https://abc.execute-api.eu-west-1.amazonaws.com/prod"


# --- fakes --------------------------------------------------------------------------------------------------------


class MemoryDocumentStore:
    """``DocumentStore`` with DynamoDB's semantics: append order, a versioned snapshot, pending counter."""

    def __init__(self) -> None:
        self.docs: dict[tuple[str, str], dict[str, object]] = {}
        self.seq = 0

    def _doc(self, ref: DocumentRef) -> dict[str, object]:
        return self.docs.setdefault(
            (ref.license_region, ref.key), {"snapshot": None, "version": 0, "updates": {}, "pending": 0, "oldest": None}
        )

    def load(self, ref: DocumentRef) -> StoredDocument:
        d = self._doc(ref)
        updates = d["updates"]
        assert isinstance(updates, dict)
        chunks, version = d["snapshot"], d["version"]
        assert chunks is None or isinstance(chunks, tuple)
        assert isinstance(version, int)
        return StoredDocument(chunks or (), version, tuple(sorted(updates.items())))

    def append(self, ref: DocumentRef, update: bytes, *, now: float, expires_at: int) -> tuple[int, int]:
        d = self._doc(ref)
        self.seq += 1
        updates = d["updates"]
        assert isinstance(updates, dict)
        updates[f"u#{self.seq:08d}"] = update
        d["pending"] = int(str(d["pending"])) + 1
        if d["oldest"] is None:
            d["oldest"] = int(now)
        return int(str(d["pending"])), int(str(d["oldest"]))

    def compact(
        self,
        ref: DocumentRef,
        chunks: tuple[bytes, ...],
        *,
        expected_version: int,
        merged_keys: tuple[str, ...],
        obsolete_keys: tuple[str, ...] = (),
        loaded_at: float,
        expires_at: int,
    ) -> bool:
        d = self._doc(ref)
        if d["version"] != expected_version:
            return False
        updates = d["updates"]
        assert isinstance(updates, dict)
        d.update(snapshot=chunks, version=expected_version + 1, oldest=int(loaded_at))
        d["pending"] = int(str(d["pending"])) - len(merged_keys)
        for key in merged_keys:
            updates.pop(key, None)
        return True

    def regions(self) -> set[str]:
        return {region for region, _ in self.docs}


class MemoryUsage:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def increment(self, license_region: str, key: str, *, expires_at: int) -> int:
        self.counts[(license_region, key)] = self.counts.get((license_region, key), 0) + 1
        return self.counts[(license_region, key)]


class MemoryRegistry:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], ConnectionRecord] = {}

    def put(self, record: ConnectionRecord) -> None:
        self.records[(record.license_region, record.key)] = record

    def delete(self, license_region: str, key: str) -> None:
        self.records.pop((license_region, key), None)

    def _all(self, license_region: str) -> Iterator[ConnectionRecord]:
        return iter([r for (region, _), r in sorted(self.records.items()) if region == license_region])

    def by_tenant(self, license_region: str, tenant_id: str) -> Iterator[ConnectionRecord]:
        return (r for r in self._all(license_region) if r.tenant_id == tenant_id)

    def by_app(self, license_region: str, tenant_id: str, app_id: str) -> Iterator[ConnectionRecord]:
        return (r for r in self.by_tenant(license_region, tenant_id) if r.app_id == app_id)

    def by_document(
        self, license_region: str, tenant_id: str, app_id: str, document: str
    ) -> Iterator[ConnectionRecord]:
        return (r for r in self.by_app(license_region, tenant_id, app_id) if r.document == document)


@dataclass
class FakePoster:
    inbox: dict[str, list[str]] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    closed: list[str] = field(default_factory=list)

    def post(self, endpoint: str, connection_id: str, region: str, data: str) -> bool:
        if connection_id in self.gone:
            return False
        self.inbox.setdefault(connection_id, []).append(data)
        return True

    def close(self, endpoint: str, connection_id: str, region: str) -> bool:
        if connection_id in self.gone:
            return False
        self.closed.append(connection_id)
        self.gone.add(connection_id)
        return True


# --- a world of pycrdt clients -------------------------------------------------------------------------------------


@dataclass
class Plane:
    world: OAuthWorld
    store: MemoryStore
    clock: FakeClock
    documents: MemoryDocumentStore
    usage: MemoryUsage
    registry: MemoryRegistry
    poster: FakePoster
    relay: RelayService
    kid: str
    clients: list[Client] = field(default_factory=list)

    def authorized(self, document: str = "notes", ops: int = 1000) -> AuthorizedConnection:
        app = self.world.app
        return AuthorizedConnection(
            tenant_id=self.world.demo_tenant,
            app_id=app.app_id,
            kid=self.kid,
            license_region=app.license_region,
            limits={"maxConnections": 100, "maxDocuments": 10, "maxUsersPerDoc": 5, "opsPerMinute": ops},
            domains=(),
            document=document,
            subprotocol="access_token",
            exp=int(self.clock.now()) + 900,
        )

    def connect(self, name: str, document: str = "notes", ops: int = 1000, *, sync: bool = True) -> Client:
        authorized = self.authorized(document, ops)
        ConnectionService(self.registry, self.clock, ws_region=WS_REGION, endpoint=ENDPOINT).register(name, authorized)
        client = Client(self, Sender(name, authorized, ENDPOINT, WS_REGION))
        self.clients.append(client)
        if sync:
            client.send(pycrdt.create_sync_message(client.doc))
        return client

    def pump(self) -> None:
        """Deliver every pending frame until nothing moves (clients answer as y-websocket does)."""
        moved = True
        while moved:
            moved = False
            for client in self.clients:
                frames = self.poster.inbox.pop(client.sender.connection_id, [])
                for frame in frames:
                    moved = True
                    client.receive(frame)


class Client:
    """A y-websocket client over a pycrdt document, speaking base64 text frames."""

    def __init__(self, plane: Plane, sender: Sender) -> None:
        self.plane, self.sender = plane, sender
        self.doc: pycrdt.Doc[Any] = pycrdt.Doc()
        self.text = self.doc.get("text", type=pycrdt.Text)
        self.awareness = pycrdt.Awareness(self.doc)
        self.errors: list[dict[str, object]] = []
        self.awareness_seen: list[bytes] = []

    def send(self, message: bytes) -> str:
        body = base64.b64encode(message).decode("ascii")
        self.plane.relay.handle(self.sender, body)
        return body

    def edit(self, change: Callable[[pycrdt.Text], None]) -> None:
        before = self.doc.get_state()
        change(self.text)
        self.send(pycrdt.create_update_message(self.doc.get_update(before)))

    def receive(self, frame: str) -> None:
        if frame.startswith("{"):
            self.errors.append(json.loads(frame))
            return
        message = base64.b64decode(frame, validate=True)
        if message[0] == pycrdt.YMessageType.SYNC:
            reply = pycrdt.handle_sync_message(message[1:], self.doc)
            if reply is not None:
                self.send(reply)
        else:
            self.awareness_seen.append(message)
            self.awareness.apply_awareness_update(pycrdt.read_message(message[1:]), "remote")


@pytest.fixture
def plane() -> Plane:
    return make_plane()


def make_plane() -> Plane:
    """A relay over in-memory ports, with the demo world (compaction after 5 updates)."""
    world, store, _, clock, _ = memory_world()
    _, keys = store.tenant_with_keys(world.demo_tenant)
    kid = next(k.kid for k in keys if k.state is KeyState.ACTIVE)
    documents, usage, registry, poster = MemoryDocumentStore(), MemoryUsage(), MemoryRegistry(), FakePoster()
    relay = RelayService(
        DocumentService(documents, clock, compact_after=5, ttl_seconds=86400),
        ConnectionService(registry, clock, ws_region=WS_REGION, endpoint=ENDPOINT),
        CachedStateDirectory(store, clock, ttl_seconds=5),
        usage,
        poster,
        clock,
        relay_workers=4,
    )
    return Plane(world, store, clock, documents, usage, registry, poster, relay, kid)


def append_text(value: str, text: pycrdt.Text) -> None:
    text.insert(len(text), value)


def error_codes(client: Client) -> list[object]:
    return [e["code"] for e in client.errors]


# --- refusals -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "code"),
    [("revoke keys", 4002), ("suspend tenant", 4003), ("disable app", 4003), ("retire the app's plan", 4003)],
)
def test_a_connection_whose_security_state_changed_gets_an_error_frame_and_is_closed(
    plane: Plane, change: str, code: int
) -> None:
    # Given two synced clients
    a, b = plane.connect("a"), plane.connect("b")
    plane.pump()
    world, s = plane.world, plane.store
    # When the state changes (and termination missed the connection) and the cache has expired
    if change == "revoke keys":
        world.vault.revoke_all(world.demo_tenant, SYSTEM_ACTOR)
    elif change == "suspend tenant":
        s.tenants[world.demo_tenant] = replace(s.tenants[world.demo_tenant], status=TenantStatus.SUSPENDED)
    elif change == "retire the app's plan":  # the authorizer refuses an app without an active plan: so does $default
        assert world.app.plan_id is not None
        s.plans[world.app.plan_id] = replace(s.plans[world.app.plan_id], status=PlanStatus.RETIRED)
    else:
        key = (world.demo_tenant, world.app.app_id)
        s.apps[key] = replace(s.apps[key], status=AppStatus.DISABLED)
    plane.clock.advance(6)
    a.edit(lambda t: t.insert(0, "secret"))
    plane.pump()
    # Then the sender gets the error frame and is closed, and nothing was stored or relayed
    assert error_codes(a) == [code]
    assert plane.poster.closed == ["a"]
    assert str(b.text) == ""
    assert plane.relay._documents.state(a.sender.document) == b"\x00\x00"


def test_the_security_state_is_cached_for_at_most_five_seconds(plane: Plane) -> None:
    # Given a client whose tenant was suspended a moment after its last message
    a = plane.connect("a")
    plane.pump()
    world, s = plane.world, plane.store
    s.tenants[world.demo_tenant] = replace(s.tenants[world.demo_tenant], status=TenantStatus.SUSPENDED)
    # When it sends within the cache time, and again after it
    plane.clock.advance(4)
    a.edit(lambda t: t.insert(0, "x"))
    plane.pump()
    within = list(error_codes(a))
    plane.clock.advance(2)
    a.edit(lambda t: t.insert(0, "y"))
    plane.pump()
    # Then the first may pass and the second is refused
    assert within == []
    assert error_codes(a) == [4003]


def test_ops_per_minute_admits_exactly_the_limit_then_refuses_with_4006(plane: Plane) -> None:
    # Given a limit of 3 ops/min (the connect's sync step 1 is the first op)
    a = plane.connect("a", ops=3)
    plane.pump()  # the client answers the server's step 1: op 2
    # When it sends one more (op 3) and then another (op 4)
    a.edit(lambda t: t.insert(0, "ok"))
    assert error_codes(a) == []
    a.edit(lambda t: t.insert(0, "over"))
    plane.pump()
    # Then the fourth is refused with the documented reason and the connection closed
    assert a.errors == [{"type": "error", "code": 4006, "reason": "Rate limit exceeded: 3 ops/min"}]
    assert plane.poster.closed == ["a"]
    assert plane.relay._documents.state(a.sender.document) != b"\x00\x00"
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    doc.apply_update(plane.relay._documents.state(a.sender.document))
    assert str(doc.get("text", type=pycrdt.Text)) == "ok"


def test_the_rate_window_resets_after_a_minute(plane: Plane) -> None:
    # Given a client at its limit of 2
    a = plane.connect("a", ops=2, sync=False)
    plane.clock.advance(60 - plane.clock.now() % 60)  # the start of a window
    a.edit(lambda t: t.insert(0, "1"))
    a.edit(lambda t: t.insert(0, "2"))
    # When the next minute starts
    plane.clock.advance(60)
    a.edit(lambda t: t.insert(0, "3"))
    # Then it may send again
    assert error_codes(a) == []


MALFORMED_FRAMES = {
    "not base64": "hello there",
    "unknown message type": base64.b64encode(b"\x05\x00").decode(),
    "truncated varint": base64.b64encode(b"\x00\x02\x80").decode(),
    "garbage update": base64.b64encode(sync_message(SyncType.UPDATE, b"\xff\xff\xff")).decode(),
    "garbage state vector": base64.b64encode(sync_message(SyncType.STEP1, b"\x05\x01")).decode(),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_FRAMES))
def test_malformed_frames_get_4000_are_dropped_and_leave_the_document_unharmed(plane: Plane, name: str) -> None:
    # Given a document with content and two clients
    a, b = plane.connect("a"), plane.connect("b")
    plane.pump()
    a.edit(lambda t: t.insert(0, "kept"))
    plane.pump()
    before = plane.documents.load(a.sender.document)
    # When a malformed frame arrives
    plane.relay.handle(a.sender, MALFORMED_FRAMES[name])
    plane.pump()
    # Then the sender gets 4000, stays open, nothing is relayed and the state is unchanged
    assert error_codes(a) == [4000]
    assert plane.poster.closed == []
    assert b.errors == [] and str(b.text) == "kept"
    assert plane.documents.load(a.sender.document) == before


def test_a_one_megabyte_frame_gets_4000_and_closes_the_connection(plane: Plane) -> None:
    # Given a client
    a = plane.connect("a")
    plane.pump()
    # When it sends a frame over 128 KB decoded (1 MB)
    big = base64.b64encode(b"\x00\x02" + encode_varbytes(b"\x00" * (1024 * 1024))).decode()
    plane.relay.handle(a.sender, big)
    plane.pump()
    # Then it gets 4000 and is closed
    assert error_codes(a) == [4000]
    assert plane.poster.closed == ["a"]
    assert len(big) > MAX_MESSAGE_BYTES


# --- sync ---------------------------------------------------------------------------------------------------------


def test_three_clients_converge_on_concurrent_edits(plane: Plane) -> None:
    # Given three synced clients on one document
    a, b, c = plane.connect("a"), plane.connect("b"), plane.connect("c")
    plane.pump()
    # When they edit concurrently (all edits sent before any is delivered)
    a.edit(lambda t: t.insert(0, "alpha "))
    b.edit(lambda t: t.insert(0, "beta "))
    c.edit(lambda t: t.insert(0, "gamma "))
    a.edit(lambda t: t.insert(len(t), "!"))
    plane.pump()
    # Then all three hold the same text, containing every edit, and the stored state agrees
    texts = {str(x.text) for x in (a, b, c)}
    assert len(texts) == 1
    text = texts.pop()
    for part in ("alpha ", "beta ", "gamma ", "!"):
        assert part in text
    stored: pycrdt.Doc[Any] = pycrdt.Doc()
    stored.apply_update(plane.relay._documents.state(a.sender.document))
    assert str(stored.get("text", type=pycrdt.Text)) == text


def test_a_late_joiner_gets_the_whole_state_from_sync_step_1(plane: Plane) -> None:
    # Given a document edited many times (compacted along the way) and then left by everyone
    a = plane.connect("a")
    plane.pump()
    for i in range(12):
        a.edit(functools.partial(append_text, f"{i},"))
    plane.pump()
    plane.poster.gone.add("a")
    assert plane.documents.load(a.sender.document).version >= 1  # compacted at least once
    # When a new client connects and sends its sync step 1
    late = plane.connect("late")
    plane.pump()
    # Then it has the whole state
    assert str(late.text) == str(a.text)
    assert str(late.text).startswith("0,1,2,")


def test_sync_step_1_is_answered_with_exactly_what_the_client_lacks_and_the_servers_step_1(plane: Plane) -> None:
    # Given a stored document, and a client that already holds part of it
    a = plane.connect("a")
    plane.pump()
    a.edit(lambda t: t.insert(0, "one"))
    partial = a.doc.get_update()
    a.edit(lambda t: t.insert(3, " two"))
    b = Client(plane, Sender("b", plane.authorized(), ENDPOINT, WS_REGION))
    b.doc.apply_update(partial)
    # When it sends sync step 1
    b.send(pycrdt.create_sync_message(b.doc))
    frames = [base64.b64decode(f) for f in plane.poster.inbox.pop("b")]
    # Then the answer is step 2 with the missing part only, then the server's step 1 with the state vector
    assert [f[:2] for f in frames] == [b"\x00\x01", b"\x00\x00"]
    step2 = pycrdt.read_message(frames[0][2:])
    assert step2 == a.doc.get_update(b.doc.get_state())
    assert b"one" not in step2 and b" two" in step2
    b.doc.apply_update(step2)
    assert str(b.text) == "one two"
    assert pycrdt.read_message(frames[1][2:]) == a.doc.get_state()


def test_awareness_is_relayed_to_the_others_and_never_stored(plane: Plane) -> None:
    # Given three synced clients
    a, b, c = plane.connect("a"), plane.connect("b"), plane.connect("c")
    plane.pump()
    stored_before = plane.documents.load(a.sender.document)
    # When one sets its presence
    a.awareness.set_local_state({"user": {"name": "Ada"}, "cursor": 1})
    body = a.send(pycrdt.create_awareness_message(a.awareness.encode_awareness_update([a.doc.client_id])))
    plane.pump()
    # Then the others got it byte for byte, the sender did not, and nothing was stored
    assert [base64.b64encode(m).decode() for m in b.awareness_seen] == [body]
    assert c.awareness.states[a.doc.client_id]["user"] == {"name": "Ada"}
    assert a.awareness_seen == []
    assert plane.documents.load(a.sender.document) == stored_before


def test_updates_reach_only_the_same_document(plane: Plane) -> None:
    # Given clients on two documents of the same app
    a, b = plane.connect("a", "notes"), plane.connect("b", "other")
    plane.pump()
    # When one edits
    a.edit(lambda t: t.insert(0, "private"))
    plane.pump()
    # Then the other document's client sees nothing
    assert str(b.text) == ""
    assert plane.relay._documents.state(b.sender.document) == b"\x00\x00"


def test_gone_connections_are_pruned_from_the_registry(plane: Plane) -> None:
    # Given three clients, one of which vanished without $disconnect
    a, _, c = plane.connect("a"), plane.connect("b"), plane.connect("c")
    plane.pump()
    plane.poster.gone.add("b")
    # When another edits
    a.edit(lambda t: t.insert(0, "hi"))
    plane.pump()
    # Then the gone one is removed from the registry and the live one got the update
    remaining = {r.connection_id for r in plane.registry.records.values()}
    assert remaining == {"a", "c"}
    assert str(c.text) == "hi"


def test_document_state_is_stored_only_in_the_license_region(plane: Plane) -> None:
    # Given a client of an app licensed in one region
    a = plane.connect("a")
    plane.pump()
    # When it edits
    a.edit(lambda t: t.insert(0, "data"))
    # Then only that license region holds the document
    assert plane.documents.regions() == {plane.world.app.license_region}
    assert all(region == plane.world.app.license_region for region, _ in plane.usage.counts)
    assert (
        plane.world.app.license_region,
        document_key(a.sender.authorized.tenant_id, plane.world.app.app_id, "notes"),
    ) in plane.documents.docs


def test_a_stored_item_that_does_not_apply_never_makes_the_document_unreadable(plane: Plane) -> None:
    # Given a document with content, and an item in its state that pycrdt cannot apply (corruption, or an
    # update that decoded alone but does not merge with the rest)
    a = plane.connect("a")
    plane.pump()
    a.edit(lambda t: t.insert(0, "survives"))
    plane.documents.append(a.sender.document, b"\x01\x01\xff\xff", now=plane.clock.now(), expires_at=0)
    a.edit(lambda t: t.insert(len(t), "!"))
    # When a late joiner syncs
    late = plane.connect("late")
    plane.pump()
    # Then it gets every valid part and no error
    assert str(late.text) == "survives!"
    assert late.errors == []
