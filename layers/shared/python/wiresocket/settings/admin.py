"""Settings of the admin function."""

from __future__ import annotations

from dataclasses import dataclass

from wiresocket import names
from wiresocket.settings.base import KeyVaultSettings, env_field


@dataclass(frozen=True)
class AdminSettings(KeyVaultSettings):
    """The admin function: ``/signup``, ``/admin/...`` and ``/platform/...`` (SPEC §6). It verifies dashboard
    tokens, creates client secrets (so it may create the pepper) and changes keys."""

    issuer_base: str = env_field(names.ENV_ISSUER_BASE, "http://127.0.0.1:8080")
    rate_limit_table: str = env_field(names.ENV_RATE_LIMIT_TABLE, names.RATE_LIMIT_TABLE.default_name)
    idempotency_table: str = env_field(names.ENV_IDEMPOTENCY_TABLE, names.IDEMPOTENCY_TABLE.default_name)
    idempotency_ttl_seconds: int = env_field(names.ENV_IDEMPOTENCY_TTL, 3600)
    connections_table: str = env_field(names.ENV_CONNECTIONS_TABLE, names.CONNECTIONS_TABLE.default_name)
    """The connection registry (same name in every license region): termination finds sessions there."""
