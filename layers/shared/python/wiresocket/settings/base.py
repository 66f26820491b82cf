"""What every settings model shares: parsing from the environment, the base and key-vault fields, and the
data-plane variables that differ between two WebSocket regions of one process.

Every field names the environment variable it comes from (``env`` metadata), so the CDK app can set exactly
the variables a function's model declares, and a test can prove the two agree. With ``local/``, the settings
modules are the only ones of the layer that read ``os.environ``.
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


def env_field(name: str, default: Any = dataclasses.MISSING) -> Any:
    if default is dataclasses.MISSING:
        return field(metadata={"env": name})
    return field(default=default, metadata={"env": name})


_T = TypeVar("_T", bound="BaseSettings")


@dataclass(frozen=True)
class BaseSettings:
    """Fields every function has."""

    region: str = env_field(names.ENV_REGION)
    directory_table: str = env_field(names.ENV_DIRECTORY_TABLE, names.DIRECTORY_TABLE.default_name)

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

    master_key_id: str = env_field(names.ENV_MASTER_KEY_ID, "alias/wiresocket-master")
    audit_bus: str = env_field(names.ENV_AUDIT_BUS, names.AUDIT_BUS_NAME)
    key_cache_ttl_seconds: int = env_field(names.ENV_KEY_CACHE_TTL, 300)
    key_grace_seconds: int = env_field(names.ENV_KEY_GRACE, 24 * 3600)
    jwks_max_age_seconds: int = env_field(names.ENV_JWKS_MAX_AGE, 300)


DATA_PLANE_REGIONAL_ENV: tuple[str, ...] = (
    names.ENV_DATA_REGION,
    names.ENV_WS_MANAGEMENT_ENDPOINT,
    names.ENV_WS_PUBLIC_URL,
)
"""The variables that differ between two WebSocket regions served by one process (the local stack's second
region, ``wiresocket local --second-ws-port``)."""


class DataPlaneRegion:
    """What every data-plane function's settings share (``region`` and ``data_region`` are their fields).

    A plain class, not a dataclass: mixed into theirs, it adds no dataclass to those functions' cold starts."""

    region: str
    data_region: str

    @property
    def websocket_region(self) -> str:
        """The AWS region of this stack's WebSocket API."""
        return self.data_region or self.region

    @staticmethod
    def check_state_cache(seconds: int) -> None:
        """The security-state cache may last 0-60 s (SPEC §7: a few seconds by default)."""
        if not 0 <= seconds <= 60:
            raise SettingsError(f"{names.ENV_STATE_CACHE_SECONDS} must be 0-60 seconds")

    @staticmethod
    def check_public_url(url: str) -> None:
        """An empty public URL, or a ``ws://``/``wss://`` one."""
        if url and not url.startswith(("wss://", "ws://")):
            raise SettingsError(f"{names.ENV_WS_PUBLIC_URL} must be a ws:// or wss:// URL")


def data_plane_region_key(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The current values of ``DATA_PLANE_REGIONAL_ENV``: the data-plane wiring caches per distinct value."""
    env = os.environ if environ is None else environ
    return tuple(env.get(name, "") for name in DATA_PLANE_REGIONAL_ENV)
