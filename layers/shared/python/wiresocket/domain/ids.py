"""Identifiers: generation and strict validation of ids that arrive from outside."""

from __future__ import annotations

import re
import secrets
import uuid

from wiresocket.domain.errors import InvalidInput

_TENANT_ID = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_KID = re.compile(r"\A[A-Za-z0-9_-]{16,64}\Z")


def new_tenant_id() -> str:
    """A fresh tenant id: a random UUID in canonical lower-case form (the public docs call it a GUID)."""
    return str(uuid.uuid4())


def new_kid() -> str:
    """A fresh key id: 144 random bits, URL-safe. Unique across the platform by construction."""
    return secrets.token_urlsafe(18)


def new_event_id() -> str:
    """A fresh audit event id."""
    return str(uuid.uuid4())


def is_tenant_id(value: object) -> bool:
    """True when ``value`` is a tenant id in canonical form (lower-case UUID, 36 chars)."""
    return isinstance(value, str) and _TENANT_ID.match(value) is not None


def validate_tenant_id(value: object) -> str:
    """Return ``value`` if it is a canonical tenant id, else raise ``InvalidInput``.

    Only the canonical lower-case form is accepted, so that one tenant has exactly one id spelling (and one
    issuer, one JWKS URL, one cache key).
    """
    if not is_tenant_id(value):
        raise InvalidInput("tenant id must be a lower-case UUID")
    assert isinstance(value, str)
    return value


def is_kid(value: object) -> bool:
    """True when ``value`` has the shape of a key id we issue."""
    return isinstance(value, str) and _KID.match(value) is not None
