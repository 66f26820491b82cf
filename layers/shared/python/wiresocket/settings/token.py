"""Settings of the token function."""

from __future__ import annotations

from dataclasses import dataclass

from wiresocket import names
from wiresocket.settings.base import KeyVaultSettings, SettingsError, env_field


@dataclass(frozen=True)
class TokenSettings(KeyVaultSettings):
    """The token function: token, revocation and introspection endpoints (SPEC §3, §4, §7)."""

    issuer_base: str = env_field(names.ENV_ISSUER_BASE, "http://127.0.0.1:8080")
    access_token_ttl_seconds: int = env_field(names.ENV_ACCESS_TOKEN_TTL, 900)
    refresh_token_ttl_seconds: int = env_field(names.ENV_REFRESH_TOKEN_TTL, 7 * 24 * 3600)
    refresh_family_max_age_seconds: int = env_field(names.ENV_REFRESH_FAMILY_MAX_AGE, 30 * 24 * 3600)
    rate_limit_table: str = env_field(names.ENV_RATE_LIMIT_TABLE, names.RATE_LIMIT_TABLE.default_name)

    def __post_init__(self) -> None:
        if not 60 <= self.access_token_ttl_seconds <= 3600:
            raise SettingsError(f"{names.ENV_ACCESS_TOKEN_TTL} must be 60-3600 seconds")
        if not 300 <= self.refresh_token_ttl_seconds <= self.refresh_family_max_age_seconds:
            raise SettingsError("refresh token lifetime must be at least 300 s and at most the family's maximum age")
