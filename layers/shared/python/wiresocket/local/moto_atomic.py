"""Make moto's DynamoDB writes atomic with respect to each other, as DynamoDB's are.

moto is not thread-safe: ``UpdateItem`` reads then writes (two concurrent ``ADD``s can both read the old
count), and ``TransactWriteItems`` snapshots the tables and *restores the snapshot* when a transaction is
cancelled, so a loser's rollback erases a concurrent winner's committed writes. Real DynamoDB applies each
single-item write and each transaction atomically. This is the one thing about DynamoDB we fake on top of
moto: every mutating backend call holds one lock. Reads are not serialised (they never mutate).

Used by the local stack (its gateways run handlers on several threads) and by the integration tests that
race writers on purpose. Never imported by Lambda handlers.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_LOCK = threading.RLock()
_installed: dict[str, Callable[..., Any]] = {}


def _serialised(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    return locked


def install() -> None:
    """Serialise moto's DynamoDB writes process-wide (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend

    with _LOCK:
        if _installed:
            return
        for name in _WRITES:
            original = getattr(DynamoDBBackend, name)
            _installed[name] = original
            setattr(DynamoDBBackend, name, _serialised(original))


def uninstall() -> None:
    """Undo ``install`` (tests)."""
    from moto.dynamodb.models import DynamoDBBackend

    with _LOCK:
        for name, original in _installed.items():
            setattr(DynamoDBBackend, name, original)
        _installed.clear()


@contextmanager
def atomic_writes() -> Iterator[None]:
    """``install`` for the duration of a block."""
    already = bool(_installed)
    install()
    try:
        yield
    finally:
        if not already:
            uninstall()
