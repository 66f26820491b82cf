"""Yjs document state of the data plane (SPEC §8, §9): appended updates, compacted with pycrdt.

A document's state is the merge of its compacted snapshot and the updates appended since, all in the table of
the app's **license region** (the store is told the license region on every call and writes nowhere else).
Updates commute (CRDT), so concurrent appends from several connections need no coordination; compaction
writes a merged snapshot under a version condition and only then deletes the updates it merged, so a crash or
a lost race leaves duplicates (harmless: merging is idempotent), never a loss.

Every update is validated by pycrdt before it is stored: data pycrdt cannot decode raises ``InvalidCrdt`` and
changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import pycrdt

from wiresocket.domain.connections import document_key
from wiresocket.domain.yprotocol import EMPTY_UPDATE
from wiresocket.ports import Clock

logger = logging.getLogger(__name__)

DEFAULT_COMPACT_AFTER: Final = 50
MAX_SNAPSHOT_BYTES: Final = 350 * 1024
"""A merged snapshot larger than this is not written (DynamoDB items hold at most 400 KB); updates stay."""


class InvalidCrdt(ValueError):
    """An update or state vector pycrdt cannot decode."""


@dataclass(frozen=True)
class DocumentRef:
    """One document of one app, and the license region its state lives in."""

    license_region: str
    tenant_id: str
    app_id: str
    document: str

    @property
    def key(self) -> str:
        """The partition key: ``{tenantId}#{appId}#{document}``."""
        return document_key(self.tenant_id, self.app_id, self.document)


@dataclass(frozen=True)
class StoredDocument:
    """What the store holds for a document: the snapshot (version 0: none yet) and the updates since."""

    snapshot: bytes | None = None
    version: int = 0
    updates: tuple[tuple[str, bytes], ...] = field(default_factory=tuple)  # (sort key, update)


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
        merged: bytes,
        *,
        expected_version: int,
        merged_keys: tuple[str, ...],
        loaded_at: float,
        expires_at: int,
    ) -> bool:
        """Replace the snapshot by ``merged`` if its version is still ``expected_version``, then delete the
        merged updates; False if another writer compacted first (nothing changed). ``loaded_at``: when the
        merged state was read (updates appended later were written no earlier)."""
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
    parts = ([stored.snapshot] if stored.snapshot else []) + [u for _, u in stored.updates]
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


@dataclass(frozen=True)
class SyncAnswer:
    """The answer to a client's sync step 1: what it lacks, and the server's state vector."""

    missing: bytes
    server_state_vector: bytes


class DocumentService:
    """Reads, extends and compacts document state."""

    def __init__(
        self, store: DocumentStore, clock: Clock, *, compact_after: int = DEFAULT_COMPACT_AFTER, ttl_seconds: int
    ) -> None:
        if compact_after < 1:
            raise ValueError("compact_after must be positive")
        self._store = store
        self._clock = clock
        self._compact_after = compact_after
        self._ttl = ttl_seconds

    def state(self, ref: DocumentRef) -> bytes:
        """The whole current state as one Yjs update."""
        return merged_state(self._store.load(ref))

    def answer_step1(self, ref: DocumentRef, client_state_vector: bytes) -> SyncAnswer:
        """Exactly the update the client lacks, and our state vector (so it sends what we lack)."""
        # Validate the client's input before touching stored data, so a bad vector costs no read.
        _crdt("get_update", pycrdt.get_update, EMPTY_UPDATE, client_state_vector)
        state = self.state(ref)
        missing = _crdt("get_update", pycrdt.get_update, state, client_state_vector)
        return SyncAnswer(missing, _crdt("get_state", pycrdt.get_state, state))

    def apply(self, ref: DocumentRef, update: bytes) -> bool:
        """Store a client's update; False for an empty one (nothing stored). ``InvalidCrdt`` changes nothing."""
        if update == EMPTY_UPDATE:
            return False
        validate_update(update)
        now = self._clock.now()
        pending, oldest = self._store.append(ref, update, now=now, expires_at=int(now) + self._ttl)
        # Compact before the oldest update could reach its TTL, so a document in use never loses part of itself.
        if pending > self._compact_after or (pending > 1 and oldest < now - self._ttl / 2):
            try:
                self.compact(ref)
            except Exception as exc:  # the update is stored; compaction is retried by the next append
                logger.warning("compaction failed: %s", type(exc).__name__)
        return True

    def compact(self, ref: DocumentRef) -> bool:
        """Merge the snapshot and the updates into a new snapshot; False if nothing to do or another won."""
        loaded_at = self._clock.now()
        stored = self._store.load(ref)
        if not stored.updates:
            return False
        merged = merged_state(stored)
        if len(merged) > MAX_SNAPSHOT_BYTES:
            logger.warning("document too large to compact: %d bytes", len(merged))
            return False
        return self._store.compact(
            ref,
            merged,
            expected_version=stored.version,
            merged_keys=tuple(k for k, _ in stored.updates),
            loaded_at=loaded_at,
            expires_at=int(self._clock.now()) + self._ttl,
        )
