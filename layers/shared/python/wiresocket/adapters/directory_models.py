"""pynamodb models of the directory table (single-table design; schema in ``names.DIRECTORY_TABLE``).

Item layout (``pk`` / ``sk``):

- tenant:       ``TENANT#{tenantId}`` / ``TENANT``
- signing key:  ``TENANT#{tenantId}`` / ``KEY#{kid}``
- lock:         ``LOCK#{name}``       / ``LOCK``
- audit event:  ``AUDIT#{tenantId|platform}`` / ``{occurredAt ISO}#{eventId}``; while unpublished it also
  carries ``outbox_pending`` (sparse index ``outbox-pending``).

The table name, region and endpoint are bound at wiring time with ``bind_directory`` (never read from the
environment here).
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    DiscriminatorAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from wiresocket import names

_SPEC = names.DIRECTORY_TABLE
_OUTBOX_INDEX = _SPEC.indexes[0]
_GSI1 = _SPEC.indexes[1]


class OutboxPendingIndex(GlobalSecondaryIndex["AuditItem"]):  # type: ignore[no-untyped-call]
    """Sparse index of audit events not yet on the bus, oldest first."""

    class Meta:
        index_name = _OUTBOX_INDEX.name
        projection = AllProjection()

    outbox_pending = UnicodeAttribute(hash_key=True)
    outbox_order = UnicodeAttribute(range_key=True)


class Gsi1Index(GlobalSecondaryIndex["DirectoryItem"]):  # type: ignore[no-untyped-call]
    """Generic lookup index (``gsi1pk`` / ``gsi1sk``)."""

    class Meta:
        index_name = _GSI1.name
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class DirectoryItem(Model):
    """Any item of the directory; ``kind`` selects the concrete class on read."""

    class Meta:
        table_name = _SPEC.default_name
        region: str | None = None
        host: str | None = None
        max_retry_attempts = 3
        connect_timeout_seconds = 3
        read_timeout_seconds = 5

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    gsi1 = Gsi1Index()


class TenantItem(DirectoryItem, discriminator="tenant"):
    """A tenant."""

    tenant_id = UnicodeAttribute()
    name = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = NumberAttribute()
    updated_at = NumberAttribute()


class SigningKeyItem(DirectoryItem, discriminator="signing_key"):
    """A tenant signing key; private material only as envelope ciphertext."""

    tenant_id = UnicodeAttribute()
    kid = UnicodeAttribute()
    state = UnicodeAttribute()
    created_at = NumberAttribute()
    activated_at = NumberAttribute(null=True)
    retire_after = NumberAttribute(null=True)
    ended_at = NumberAttribute(null=True)
    public_n = UnicodeAttribute()
    public_e = UnicodeAttribute()
    wrapped_data_key = BinaryAttribute(null=True, legacy_encoding=False)
    nonce = BinaryAttribute(null=True, legacy_encoding=False)
    ciphertext = BinaryAttribute(null=True, legacy_encoding=False)
    master_key_id = UnicodeAttribute(null=True)


class LockItem(DirectoryItem, discriminator="lock"):
    """A lease lock with a fencing counter."""

    owner = UnicodeAttribute(null=True)
    lease_expires_at = NumberAttribute(null=True)
    fence = NumberAttribute(null=True)


class AuditItem(DirectoryItem, discriminator="audit"):
    """An audit event (and, while ``outbox_pending`` is set, an outbox entry)."""

    event_id = UnicodeAttribute()
    detail_type = UnicodeAttribute()
    occurred_at = NumberAttribute()
    region = UnicodeAttribute()
    actor_type = UnicodeAttribute()
    actor_id = UnicodeAttribute()
    tenant_id = UnicodeAttribute(null=True)
    app_id = UnicodeAttribute(null=True)
    data = UnicodeAttribute()  # JSON object
    outbox_pending = UnicodeAttribute(null=True)
    outbox_order = UnicodeAttribute(null=True)
    published_at = NumberAttribute(null=True)
    outbox_index = OutboxPendingIndex()


ALL_MODELS: tuple[type[DirectoryItem], ...] = (DirectoryItem, TenantItem, SigningKeyItem, LockItem, AuditItem)


def bind_directory(table_name: str, region: str, host: str | None = None) -> None:
    """Point every directory model at ``table_name`` in ``region`` (``host``: a local endpoint)."""
    meta: Any = DirectoryItem.Meta
    meta.table_name = table_name
    meta.region = region
    meta.host = host
    for model in ALL_MODELS:
        model._connection = None  # pynamodb caches a connection per class; drop it so the new binding applies
