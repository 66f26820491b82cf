"""pynamodb models of the directory table (single-table design; schema in ``names.DIRECTORY_TABLE``).

Item layout (``pk`` / ``sk``):

- tenant:       ``TENANT#{tenantId}`` / ``TENANT``
- signing key:  ``TENANT#{tenantId}`` / ``KEY#{kid}``
- lock:         ``LOCK#{name}``       / ``LOCK``
- audit event:  ``AUDIT#{tenantId|platform}`` / ``{occurredAt ISO}#{eventId}``; while unpublished it also
  carries ``outbox_pending`` (sparse index ``outbox-pending``).
- app:          ``TENANT#{tenantId}`` / ``APP#{appId}`` (gsi1 ``CLIENT#{clientId}``)
- app name:     ``TENANT#{tenantId}`` / ``APPNAME#{lower(name)}`` (uniqueness claim)
- user:         ``TENANT#{tenantId}`` / ``USER#{userId}`` (gsi1 ``USERNAME#{username}``)
- dashboard:    ``TENANT#{platform}`` / ``DASHBOARD#{clientId}``
- client id:    ``CLIENT#{clientId}`` / ``CLIENT`` → kind, tenant, app (global registry, strongly consistent)
- username:     ``USERNAME#{username}`` / ``USERNAME`` → tenant, user (global uniqueness)
- plan:         ``PLAN#{planId}`` / ``PLAN``
- refresh:      ``REFRESH#{sha256}`` / ``REFRESH``; family ``FAMILY#{familyId}`` / ``FAMILY`` (both TTL'd)
- pepper:       ``CONFIG#client-secret-pepper`` / ``CONFIG`` (KMS-wrapped HMAC key for client secrets)
- free plan:    ``TENANT#{tenantId}`` / ``FREEPLAN`` → the app holding the tenant's one Free-plan slot
- listings:     tenants carry gsi1 ``TENANTS`` / ``{status}#{createdAt}#{tenantId}``, plans gsi1 ``PLANS`` /
  ``{planId}``, audit events gsi1 ``AUDIT`` / ``{occurredAt ISO}#{eventId}`` (the platform's newest-first trail)

Lookups that decide authentication go through the registry items (``CLIENT#``, ``USERNAME#``), never the
eventually consistent ``gsi1``: a strongly consistent GetItem, and uniqueness enforced by the same
transaction that creates the entity. ``gsi1`` on apps and users serves listings and support tooling.

The table name, region and endpoint are bound at wiring time with ``bind_directory`` (never read from the
environment here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    DiscriminatorAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from wiresocket import names

if TYPE_CHECKING:
    import botocore.session

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


class PlanItem(DirectoryItem, discriminator="plan"):
    """A plan and its limits."""

    plan_id = UnicodeAttribute()
    name = UnicodeAttribute()
    status = UnicodeAttribute()
    free = BooleanAttribute()
    max_connections = NumberAttribute()
    max_documents = NumberAttribute()
    max_users_per_doc = NumberAttribute()
    ops_per_minute = NumberAttribute()
    created_at = NumberAttribute()


class AppItem(DirectoryItem, discriminator="app"):
    """An app; the secret only as a keyed hash."""

    tenant_id = UnicodeAttribute()
    app_id = UnicodeAttribute()
    name = UnicodeAttribute()
    client_id = UnicodeAttribute()
    secret_hash = UnicodeAttribute()
    status = UnicodeAttribute()
    license_region = UnicodeAttribute()
    allowed_domains = ListAttribute(of=UnicodeAttribute, default=list)
    plan_id = UnicodeAttribute(null=True)
    credential_generation = NumberAttribute()
    created_at = NumberAttribute()
    updated_at = NumberAttribute()


class UniqueNameItem(DirectoryItem, discriminator="unique_name"):
    """A uniqueness claim (an app name within a tenant)."""

    owner_id = UnicodeAttribute()


class UserItem(DirectoryItem, discriminator="user"):
    """A human; the password only as an Argon2id hash."""

    tenant_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    username = UnicodeAttribute()
    password_hash = UnicodeAttribute()
    role = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = NumberAttribute()
    updated_at = NumberAttribute()


class DashboardClientItem(DirectoryItem, discriminator="dashboard_client"):
    """A trusted dashboard client of the platform."""

    client_id = UnicodeAttribute()
    name = UnicodeAttribute()
    secret_hash = UnicodeAttribute()
    trusted = BooleanAttribute()
    enabled = BooleanAttribute()
    credential_generation = NumberAttribute()
    created_at = NumberAttribute()


class ClientRefItem(DirectoryItem, discriminator="client_ref"):
    """The global ``client_id`` registry entry."""

    client_kind = UnicodeAttribute()
    tenant_id = UnicodeAttribute()
    app_id = UnicodeAttribute(null=True)


class UsernameRefItem(DirectoryItem, discriminator="username_ref"):
    """The global username registry entry."""

    tenant_id = UnicodeAttribute()
    user_id = UnicodeAttribute()


class RefreshFamilyItem(DirectoryItem, discriminator="refresh_family"):
    """A refresh-token family."""

    family_id = UnicodeAttribute()
    tenant_id = UnicodeAttribute()
    subject_kind = UnicodeAttribute()
    subject_id = UnicodeAttribute()
    client_id = UnicodeAttribute()
    scope = UnicodeAttribute()
    credential_generation = NumberAttribute()
    status = UnicodeAttribute()
    created_at = NumberAttribute()
    expires_at = NumberAttribute()
    revoked_at = NumberAttribute(null=True)
    revoked_reason = UnicodeAttribute(null=True)
    expires_at_ttl = NumberAttribute(null=True)


class RefreshTokenItem(DirectoryItem, discriminator="refresh_token"):
    """A refresh token, known only by its hash."""

    token_hash = UnicodeAttribute()
    family_id = UnicodeAttribute()
    tenant_id = UnicodeAttribute()
    client_id = UnicodeAttribute()
    status = UnicodeAttribute()
    issued_at = NumberAttribute()
    expires_at = NumberAttribute()
    used_at = NumberAttribute(null=True)
    expires_at_ttl = NumberAttribute(null=True)


class SecretPepperItem(DirectoryItem, discriminator="secret_pepper"):
    """The KMS-wrapped key of the client-secret keyed hash."""

    wrapped = BinaryAttribute(legacy_encoding=False)
    master_key_id = UnicodeAttribute()


class FreePlanClaimItem(DirectoryItem, discriminator="free_plan_claim"):
    """The tenant's one Free-plan slot (``TENANT#{tenantId}`` / ``FREEPLAN``) and the app holding it."""

    app_id = UnicodeAttribute()


ALL_MODELS: tuple[type[DirectoryItem], ...] = (
    DirectoryItem,
    TenantItem,
    SigningKeyItem,
    LockItem,
    AuditItem,
    PlanItem,
    AppItem,
    UniqueNameItem,
    UserItem,
    DashboardClientItem,
    ClientRefItem,
    UsernameRefItem,
    RefreshFamilyItem,
    RefreshTokenItem,
    SecretPepperItem,
    FreePlanClaimItem,
)


def bind_directory(
    table_name: str, region: str, host: str | None = None, session: botocore.session.Session | None = None
) -> None:
    """Point every directory model at ``table_name`` in ``region`` (``host``: a local endpoint; ``session``:
    the botocore session the function's other clients use, so pynamodb does not load its own)."""
    meta: Any = DirectoryItem.Meta
    meta.table_name = table_name
    meta.region = region
    meta.host = host
    for model in ALL_MODELS:
        model._connection = None  # pynamodb caches a connection per class; drop it so the new binding applies
    # One connection (so one botocore session and one client) for every model: they are all views of this one
    # table with one key schema. Per class, each first use would build its own botocore session, which loads
    # the endpoint and service models again (~70 ms of cold start for every model class a request touches).
    shared = DirectoryItem._get_connection()
    if session is not None:
        # pynamodb creates its client from ``Connection.session``, a per-thread attribute it fills with a new
        # botocore session on first use. Handing it the function's session before the client exists means one
        # set of loaded endpoint and service models for every client (~60 ms of cold start per extra session).
        shared.connection._local.session = session
    for model in ALL_MODELS:
        model._connection = shared
