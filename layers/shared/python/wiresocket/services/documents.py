"""Yjs document state of the data plane (SPEC §8, §9): appended updates, compacted with pycrdt.

A document's state is the merge of its compacted snapshot and the updates appended since, all in the table of
the app's **license region** (the store is told the license region on every call and writes nowhere else).
Updates commute (CRDT), so concurrent appends from several connections need no coordination; compaction
writes a merged snapshot under a version condition and only then deletes the updates it merged, so a crash or
a lost race leaves duplicates (harmless: merging is idempotent), never a loss.

**Release after the grace period** (``domain.pinning``): the state is stored per pin *session*
(``DocumentRef.session``, part of the partition key). Given a ``PinLookup``, the service resolves the
document's current session (one strongly consistent read of its pin) before every read or write, so once a
document was released and pinned again under a new session, nothing of the old session is ever read again;
TTL reaps it. Without a ``PinLookup`` (tests, tools) the session is empty and the key is the plain one.

Every update is validated by pycrdt before it is stored: data pycrdt cannot decode raises ``InvalidCrdt`` and
changes nothing.

**Sizes (API Gateway framing).** A ``@connections`` message is at most 128 KB of base64 text, i.e. a y-websocket
message of at most 98,304 bytes (``MAX_SYNC_PART_BYTES`` of Yjs update plus header). No stored item is larger
than one inbound message can carry: client updates arrive in such messages, and compaction groups the state
into **snapshot chunks** of at most ``MAX_SYNC_PART_BYTES`` each (greedily merging consecutive parts). A sync
step 1 whose answer fits one message is answered with one sync step 2, as y-websocket servers do; a larger one
is answered chunk by chunk: every stored part diffed against the client's state vector (Yjs updates commute, so
their union is exactly what it lacks), regrouped, sent as update messages, the last one as the sync step 2 (so
the provider reports ``synced`` only once it has everything).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import pycrdt

from wiresocket.domain.connections import document_key
from wiresocket.domain.pinning import SESSION_PATTERN, PinLookup
from wiresocket.domain.yprotocol import EMPTY_UPDATE
from wiresocket.ports import Clock

logger = logging.getLogger(__name__)

DEFAULT_COMPACT_AFTER: Final = 50
MAX_SYNC_PART_BYTES: Final = 96 * 1024 - 8
"""The largest Yjs update sent in one message: with the 2-byte message header and a 3-byte length its base64
text stays within API Gateway's 128 KB message quota (4 * ceil(98,304 / 3) = 131,072)."""
MAX_DOCUMENT_BYTES: Final = 1024 * 1024
"""A document whose merged state is larger than this is not compacted (the updates stay, a warning is logged):
its chunks are written in one transaction, and a late joiner receives it in about a dozen messages."""


class InvalidCrdt(ValueError):
    """An update or state vector pycrdt cannot decode."""


@dataclass(frozen=True)
class DocumentRef:
    """One document of one app, the license region its state lives in, and the pin session it belongs to."""

    license_region: str
    tenant_id: str
    app_id: str
    document: str
    session: str = ""

    @property
    def key(self) -> str:
        """The partition key: ``{tenantId}#{appId}#{document}``, then ``#{session}`` when pinned (document names
        have no ``#``, so the two forms never collide)."""
        base = document_key(self.tenant_id, self.app_id, self.document)
        return f"{base}#{self.session}" if self.session else base


@dataclass(frozen=True)
class StoredDocument:
    """What the store holds for a document: the snapshot's chunks (version 0: none yet), the updates since, and
    items the store may delete at the next compaction (chunks of an older snapshot version)."""

    chunks: tuple[bytes, ...] = ()
    version: int = 0
    updates: tuple[tuple[str, bytes], ...] = field(default_factory=tuple)  # (sort key, update)
    obsolete: tuple[str, ...] = ()  # sort keys

    @property
    def parts(self) -> list[bytes]:
        """Every stored piece of the state, snapshot chunks first."""
        return [*self.chunks, *(u for _, u in self.updates)]


class DocumentStore(Protocol):
    """Document state per license region."""

    def load(self, ref: DocumentRef) -> StoredDocument:
        """Snapshot and updates (strongly consistent)."""
        ...

    def append(self, ref: DocumentRef, update: bytes, *, now: float, expires_at: int) -> tuple[int, int]:
        """Append one update; returns (updates pending since the last compaction, epoch seconds when the oldest
        of them may have been written)."""
        ...

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
        """Replace the snapshot by ``chunks`` (atomically, all or none) if its version is still
        ``expected_version``, then delete the merged updates and the ``obsolete_keys``; False if another writer
        compacted first (nothing changed). ``loaded_at``: when the merged state was read (updates appended later
        were written no earlier)."""
        ...


def _crdt(call_name: str, fn: Callable[..., object], *args: bytes) -> bytes:
    """Run a pycrdt function; its decode errors (and Rust panics, which are ``BaseException``) → ``InvalidCrdt``."""
    try:
        result = fn(*args)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:
        raise InvalidCrdt(f"{call_name}: {type(exc).__name__}") from exc
    if not isinstance(result, bytes):
        raise InvalidCrdt(f"{call_name}: unexpected result")
    return result


def validate_update(update: bytes) -> None:
    """``InvalidCrdt`` unless pycrdt decodes ``update`` (applied to a scratch document)."""

    def apply(data: bytes) -> bytes:
        pycrdt.Doc().apply_update(data)
        return b""

    _crdt("apply_update", apply, update)


def merged_state(stored: StoredDocument) -> bytes:
    """The document's whole state as one update."""
    parts = stored.parts
    if not parts:
        return EMPTY_UPDATE
    if len(parts) == 1:
        try:
            validate_update(parts[0])
            return parts[0]
        except InvalidCrdt:
            return _salvage(parts)
    try:
        return _crdt("merge_updates", pycrdt.merge_updates, *parts)
    except InvalidCrdt:
        return _salvage(parts)


def _salvage(parts: list[bytes]) -> bytes:
    """The merge of every part that still applies (one bad stored item must not make a document unreadable:
    any client of the app could otherwise brick it with an update that decodes alone but not with the rest)."""
    logger.warning("document state does not merge; skipping parts that do not apply")
    doc: pycrdt.Doc[Any] = pycrdt.Doc()

    def apply(data: bytes) -> bytes:
        doc.apply_update(data)
        return b""

    for part in parts:
        try:
            _crdt("apply_update", apply, part)
        except InvalidCrdt:
            continue
    return _crdt("get_update", doc.get_update)


def group_parts(parts: list[bytes], limit: int = MAX_SYNC_PART_BYTES) -> list[bytes]:
    """Consecutive ``parts`` merged greedily into as few updates of at most ``limit`` bytes as that gives (a single
    part over the limit stays alone: it cannot be split). Empty updates are dropped; never returns nothing."""
    groups: list[bytes] = []
    current: bytes | None = None
    for part in parts:
        if part == EMPTY_UPDATE:
            continue
        if current is None:
            current = part
            continue
        candidate = _crdt("merge_updates", pycrdt.merge_updates, current, part)
        if len(candidate) <= limit:
            current = candidate
        else:
            groups.append(current)
            current = part
    if current is not None:
        groups.append(current)
    return groups or [EMPTY_UPDATE]


@dataclass(frozen=True)
class SyncAnswer:
    """The answer to a client's sync step 1: what it lacks, in one or more updates of at most
    ``MAX_SYNC_PART_BYTES`` each (the last goes in the sync step 2), and the server's state vector."""

    parts: tuple[bytes, ...]
    server_state_vector: bytes

    @property
    def missing(self) -> bytes:
        """Everything the client lacks as one update (for tests and small documents)."""
        if len(self.parts) == 1:
            return self.parts[0]
        return _crdt("merge_updates", pycrdt.merge_updates, *self.parts)


class DocumentService:
    """Reads, extends and compacts document state."""

    def __init__(
        self,
        store: DocumentStore,
        clock: Clock,
        *,
        compact_after: int = DEFAULT_COMPACT_AFTER,
        ttl_seconds: int,
        pins: PinLookup | None = None,
    ) -> None:
        if compact_after < 1:
            raise ValueError("compact_after must be positive")
        self._store = store
        self._pins = pins
        self._clock = clock
        self._compact_after = compact_after
        self._ttl = ttl_seconds

    def current(self, ref: DocumentRef) -> DocumentRef:
        """``ref`` in the document's current pin session (unchanged without a ``PinLookup`` or a session)."""
        if self._pins is None or ref.session:
            return ref
        pin = self._pins.document_pin(ref.license_region, ref.tenant_id, ref.app_id, ref.document)
        if pin is None or not SESSION_PATTERN.fullmatch(pin.session):
            return ref
        return DocumentRef(ref.license_region, ref.tenant_id, ref.app_id, ref.document, pin.session)

    def state(self, ref: DocumentRef) -> bytes:
        """The whole current state as one Yjs update."""
        return merged_state(self._store.load(self.current(ref)))

    def answer_step1(self, ref: DocumentRef, client_state_vector: bytes) -> SyncAnswer:
        """Exactly the update the client lacks, and our state vector (so it sends what we lack)."""
        # Validate the client's input before touching stored data, so a bad vector costs no read.
        _crdt("get_update", pycrdt.get_update, EMPTY_UPDATE, client_state_vector)
        stored = self._store.load(self.current(ref))
        state = merged_state(stored)
        server_state_vector = _crdt("get_state", pycrdt.get_state, state)
        missing = _crdt("get_update", pycrdt.get_update, state, client_state_vector)
        if len(missing) <= MAX_SYNC_PART_BYTES:
            return SyncAnswer((missing,), server_state_vector)
        # Too large for one message: each stored part (each fits one) diffed against the client's vector.
        diffs: list[bytes] = []
        for part in stored.parts:
            try:
                diffs.append(_crdt("get_update", pycrdt.get_update, part, client_state_vector))
            except InvalidCrdt:  # a part the merge skipped (``_salvage``) is skipped here too
                continue
        return SyncAnswer(tuple(group_parts(diffs)), server_state_vector)

    def apply(self, ref: DocumentRef, update: bytes) -> bool:
        """Store a client's update; False for an empty one (nothing stored). ``InvalidCrdt`` changes nothing."""
        if update == EMPTY_UPDATE:
            return False
        validate_update(update)
        ref = self.current(ref)
        now = self._clock.now()
        pending, oldest = self._store.append(ref, update, now=now, expires_at=int(now) + self._ttl)
        # Compact before the oldest update could reach its TTL, so a document in use never loses part of itself
        # (``oldest`` is never later than the last compaction: the first append half a TTL after one renews the
        # snapshot's chunks too).
        if pending > self._compact_after or oldest < now - self._ttl / 2:
            try:
                self.compact(ref)
            except Exception as exc:  # the update is stored; compaction is retried by the next append
                logger.warning("compaction failed: %s", type(exc).__name__)
        return True

    def compact(self, ref: DocumentRef) -> bool:
        """Merge the snapshot and the updates into a new snapshot; False if nothing to do or another won."""
        ref = self.current(ref)
        loaded_at = self._clock.now()
        stored = self._store.load(ref)
        if not stored.updates:
            return False
        merged = merged_state(stored)
        if len(merged) > MAX_DOCUMENT_BYTES:
            logger.warning("document too large to compact: %d bytes", len(merged))
            return False
        chunks = [merged] if len(merged) <= MAX_SYNC_PART_BYTES else group_parts(stored.parts)
        return self._store.compact(
            ref,
            tuple(chunks),
            expected_version=stored.version,
            merged_keys=tuple(k for k, _ in stored.updates),
            obsolete_keys=stored.obsolete,
            loaded_at=loaded_at,
            expires_at=int(self._clock.now()) + self._ttl,
        )
