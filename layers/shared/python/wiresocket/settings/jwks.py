"""Settings of the jwks function."""

from __future__ import annotations

from dataclasses import dataclass

from wiresocket import names
from wiresocket.settings.base import BaseSettings, env_field


@dataclass(frozen=True)
class JwksSettings(BaseSettings):
    """The jwks function: reads the directory only (public keys), never KMS."""

    jwks_max_age_seconds: int = env_field(names.ENV_JWKS_MAX_AGE, 300)
    issuer_base: str = env_field(names.ENV_ISSUER_BASE, "http://127.0.0.1:8080")
