"""Per-tenant JWKS (SPEC §5): the public keys of ``next``, ``active`` and in-grace ``retiring`` keys."""

from __future__ import annotations

import threading
from typing import Any

from wiresocket.domain.errors import NotFound
from wiresocket.domain.ids import validate_tenant_id
from wiresocket.ports import Clock, Directory


class JwksService:
    """Builds a tenant's JWKS from the directory; never touches private material or KMS.

    A warm container keeps each tenant's document for ``cache_seconds`` (default 5 s): short enough that a
    revoked key leaves this function's answers within seconds, long enough to absorb bursts. Clients cache
    for ``max-age`` anyway.
    """

    def __init__(
        self, directory: Directory, clock: Clock, *, cache_seconds: float = 5.0, max_entries: int = 1024
    ) -> None:
        self._directory = directory
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._max_entries = max_entries
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def jwks(self, tenant_id: str) -> dict[str, Any]:
        """``{"keys": [...]}`` for an active tenant. ``InvalidInput`` for a malformed id, ``NotFound`` for an
        unknown or non-active tenant."""
        validate_tenant_id(tenant_id)
        now = self._clock.now()
        with self._lock:
            hit = self._cache.get(tenant_id)
            if hit is not None and now - hit[0] < self._cache_seconds:
                return hit[1]
        tenant, keys = self._directory.tenant_with_keys(tenant_id)
        if tenant is None or not tenant.is_active:
            raise NotFound("no such tenant")  # unknown and non-active tenants are indistinguishable
        published = sorted((k for k in keys if k.is_published(now)), key=lambda k: (k.state != "active", -k.created_at))
        document = {"keys": [k.public_jwk() for k in published]}
        with self._lock:
            if len(self._cache) >= self._max_entries:
                self._cache.clear()
            self._cache[tenant_id] = (now, document)
        return document
