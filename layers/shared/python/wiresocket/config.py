"""Settings: one frozen model per function, parsed once at cold start from the environment.

Every field names the environment variable it comes from (``env`` metadata), so the CDK app can set exactly
the variables a function's model declares, and a test can prove the two agree. This is the only module of
the layer (besides ``local/``) that reads ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

from wiresocket import names


class SettingsError(ValueError):
    """A required environment variable is missing or malformed."""


def _env(name: str, default: Any = dataclasses.MISSING) -> Any:
    if default is dataclasses.MISSING:
        return field(metadata={"env": name})
    return field(default=default, metadata={"env": name})


_T = TypeVar("_T", bound="BaseSettings")


@dataclass(frozen=True)
class BaseSettings:
    """Fields every function has."""

    region: str = _env(names.ENV_REGION)
    directory_table: str = _env(names.ENV_DIRECTORY_TABLE, names.DIRECTORY_TABLE.default_name)

    @classmethod
    def env_names(cls) -> frozenset[str]:
        """The environment variable names this model reads."""
        return frozenset(f.metadata["env"] for f in dataclasses.fields(cls))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Parse the model from ``environ`` (default: the process environment); fail loudly on bad values."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            var = f.metadata["env"]
            raw = env.get(var)
            if raw is None or raw == "":
                if f.default is dataclasses.MISSING:
                    if var == names.ENV_REGION and env.get("AWS_REGION"):
                        raw = env["AWS_REGION"]  # Lambda always sets AWS_REGION
                    else:
                        raise SettingsError(f"missing environment variable {var}")
                else:
                    continue
            values[f.name] = _coerce(f, raw)
        return cls(**values)


def _coerce(f: dataclasses.Field[Any], raw: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if kind == "int":
        try:
            value = int(raw)
        except ValueError as exc:
            raise SettingsError(f"{f.metadata['env']} must be an integer") from exc
        if value < 0:
            raise SettingsError(f"{f.metadata['env']} must not be negative")
        return value
    return raw


@dataclass(frozen=True)
class KeyVaultSettings(BaseSettings):
    """Settings of every function that reads or changes tenant signing keys."""

    master_key_id: str = _env(names.ENV_MASTER_KEY_ID, "alias/wiresocket-master")
    audit_bus: str = _env(names.ENV_AUDIT_BUS, names.AUDIT_BUS_NAME)
    key_cache_ttl_seconds: int = _env(names.ENV_KEY_CACHE_TTL, 300)
    key_grace_seconds: int = _env(names.ENV_KEY_GRACE, 24 * 3600)
    jwks_max_age_seconds: int = _env(names.ENV_JWKS_MAX_AGE, 300)


@dataclass(frozen=True)
class JwksSettings(BaseSettings):
    """The jwks function: reads the directory only (public keys), never KMS."""

    jwks_max_age_seconds: int = _env(names.ENV_JWKS_MAX_AGE, 300)
    issuer_base: str = _env(names.ENV_ISSUER_BASE, "http://127.0.0.1:8080")


@dataclass(frozen=True)
class OutboxSettings(BaseSettings):
    """The outbox publisher: reads pending audit events and puts them on the bus."""

    audit_bus: str = _env(names.ENV_AUDIT_BUS, names.AUDIT_BUS_NAME)


@dataclass(frozen=True)
class TokenSettings(KeyVaultSettings):
    """The token function: token, revocation and introspection endpoints (SPEC §3, §4, §7)."""

    issuer_base: str = _env(names.ENV_ISSUER_BASE, "http://127.0.0.1:8080")
    access_token_ttl_seconds: int = _env(names.ENV_ACCESS_TOKEN_TTL, 900)
    refresh_token_ttl_seconds: int = _env(names.ENV_REFRESH_TOKEN_TTL, 7 * 24 * 3600)
    refresh_family_max_age_seconds: int = _env(names.ENV_REFRESH_FAMILY_MAX_AGE, 30 * 24 * 3600)
    rate_limit_table: str = _env(names.ENV_RATE_LIMIT_TABLE, names.RATE_LIMIT_TABLE.default_name)

    def __post_init__(self) -> None:
        if not 60 <= self.access_token_ttl_seconds <= 3600:
            raise SettingsError(f"{names.ENV_ACCESS_TOKEN_TTL} must be 60-3600 seconds")
        if not 300 <= self.refresh_token_ttl_seconds <= self.refresh_family_max_age_seconds:
            raise SettingsError("refresh token lifetime must be at least 300 s and at most the family's maximum age")


FUNCTION_SETTINGS: dict[str, type[BaseSettings]] = {
    "jwks": JwksSettings,
    "token": TokenSettings,
    "outbox": OutboxSettings,
}
"""Function name (folder under ``functions/``) → its settings model. The CDK app sets exactly these vars."""
