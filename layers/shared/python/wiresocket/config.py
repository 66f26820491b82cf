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


@dataclass(frozen=True)
class AdminSettings(KeyVaultSettings):
    """The admin function: ``/signup``, ``/admin/...`` and ``/platform/...`` (SPEC §6). It verifies dashboard
    tokens, creates client secrets (so it may create the pepper) and changes keys."""

    issuer_base: str = _env(names.ENV_ISSUER_BASE, "http://127.0.0.1:8080")
    rate_limit_table: str = _env(names.ENV_RATE_LIMIT_TABLE, names.RATE_LIMIT_TABLE.default_name)
    idempotency_table: str = _env(names.ENV_IDEMPOTENCY_TABLE, names.IDEMPOTENCY_TABLE.default_name)
    idempotency_ttl_seconds: int = _env(names.ENV_IDEMPOTENCY_TTL, 3600)
    connections_table: str = _env(names.ENV_CONNECTIONS_TABLE, names.CONNECTIONS_TABLE.default_name)
    """The connection registry (same name in every license region): termination finds sessions there."""


@dataclass(frozen=True)
class KeyMaintenanceSettings(KeyVaultSettings):
    """The scheduled key job: rotate every active tenant's keys after ``key_rotation_days`` and retire keys
    whose grace period has ended."""

    key_rotation_days: int = _env(names.ENV_KEY_ROTATION_DAYS, 30)


WS_CONNECT_PER_IP_DEFAULT = 60
"""SPEC §7: WebSocket connects per source IP per minute."""
WS_CONNECT_PER_IP_MAX = 1_000_000
"""The highest per-IP connect limit a deployment may set (the e2e tests' local stacks use it)."""


@dataclass(frozen=True)
class WsConnectSettings(BaseSettings):
    """The ``ws_connect`` function: the ``$connect`` authorizer and the ``$connect``/``$disconnect`` handlers
    (SPEC §8). It reads the directory (cached for at most ``state_cache_seconds``) and writes the connection
    registry of each app's license region."""

    issuer_base: str = _env(names.ENV_ISSUER_BASE, "http://127.0.0.1:8080")
    state_cache_seconds: int = _env(names.ENV_STATE_CACHE_SECONDS, 5)
    connections_table: str = _env(names.ENV_CONNECTIONS_TABLE, names.CONNECTIONS_TABLE.default_name)
    ws_management_endpoint: str = _env(names.ENV_WS_MANAGEMENT_ENDPOINT, "")
    data_region: str = _env(names.ENV_DATA_REGION, "")
    connection_max_seconds: int = _env(names.ENV_CONNECTION_MAX_SECONDS, 2 * 3600)
    ws_public_url: str = _env(names.ENV_WS_PUBLIC_URL, "")
    pin_grace_seconds: int = _env(names.ENV_PIN_GRACE_SECONDS, 10)
    usage_table: str = _env(names.ENV_USAGE_TABLE, names.USAGE_TABLE.default_name)
    """Where the per-IP connect limit counts: this WebSocket API's own region's usage table."""
    ws_connect_per_ip_limit: int = _env(names.ENV_WS_CONNECT_PER_IP_LIMIT, WS_CONNECT_PER_IP_DEFAULT)

    def __post_init__(self) -> None:
        if not 0 <= self.state_cache_seconds <= 60:
            raise SettingsError(f"{names.ENV_STATE_CACHE_SECONDS} must be 0-60 seconds")
        if not 1 <= self.ws_connect_per_ip_limit <= WS_CONNECT_PER_IP_MAX:
            raise SettingsError(f"{names.ENV_WS_CONNECT_PER_IP_LIMIT} must be 1-{WS_CONNECT_PER_IP_MAX}")
        if not 60 <= self.connection_max_seconds <= 2 * 3600:
            raise SettingsError(f"{names.ENV_CONNECTION_MAX_SECONDS} must be 60-7200 seconds")
        if not 1 <= self.pin_grace_seconds <= 10:
            raise SettingsError(f"{names.ENV_PIN_GRACE_SECONDS} must be 1-10 seconds")
        if self.ws_public_url and not self.ws_public_url.startswith(("wss://", "ws://")):
            raise SettingsError(f"{names.ENV_WS_PUBLIC_URL} must be a ws:// or wss:// URL")

    @property
    def websocket_region(self) -> str:
        """The AWS region of this stack's WebSocket API."""
        return self.data_region or self.region


@dataclass(frozen=True)
class TerminatorSettings(BaseSettings):
    """The regional ``terminator`` function: on revocation, suspension and app disable/delete events it closes
    the matching connections held by this region's WebSocket API (a backstop behind the admin API's own
    termination, which already reaches every region)."""

    connections_table: str = _env(names.ENV_CONNECTIONS_TABLE, names.CONNECTIONS_TABLE.default_name)
    audit_bus: str = _env(names.ENV_AUDIT_BUS, names.AUDIT_BUS_NAME)
    data_region: str = _env(names.ENV_DATA_REGION, "")

    @property
    def websocket_region(self) -> str:
        """The AWS region of this stack's WebSocket API."""
        return self.data_region or self.region


FUNCTION_SETTINGS: dict[str, type[BaseSettings]] = {
    "jwks": JwksSettings,
    "token": TokenSettings,
    "outbox": OutboxSettings,
    "admin": AdminSettings,
    "key_maintenance": KeyMaintenanceSettings,
    "terminator": TerminatorSettings,
    "ws_connect": WsConnectSettings,
}
"""Function name (folder under ``functions/``) → its settings model. The CDK app sets exactly these vars."""


@dataclass(frozen=True)
class WsMessageSettings(BaseSettings):
    """The ``ws_message`` function (``$default``, issue 6): y-websocket sync and awareness relay. It reads the
    directory's security state (cached for at most ``state_cache_seconds``), the connection registry, and the
    document state and usage counters of each app's license region."""

    state_cache_seconds: int = _env(names.ENV_STATE_CACHE_SECONDS, 5)
    connections_table: str = _env(names.ENV_CONNECTIONS_TABLE, names.CONNECTIONS_TABLE.default_name)
    documents_table: str = _env(names.ENV_DOCUMENTS_TABLE, names.DOCUMENTS_TABLE.default_name)
    usage_table: str = _env(names.ENV_USAGE_TABLE, names.USAGE_TABLE.default_name)
    ws_management_endpoint: str = _env(names.ENV_WS_MANAGEMENT_ENDPOINT, "")
    data_region: str = _env(names.ENV_DATA_REGION, "")
    document_compact_after: int = _env(names.ENV_DOCUMENT_COMPACT_AFTER, 50)
    document_ttl_seconds: int = _env(names.ENV_DOCUMENT_TTL_SECONDS, 7 * 24 * 3600)

    def __post_init__(self) -> None:
        if not 0 <= self.state_cache_seconds <= 60:
            raise SettingsError(f"{names.ENV_STATE_CACHE_SECONDS} must be 0-60 seconds")
        if not 1 <= self.document_compact_after <= 1000:
            raise SettingsError(f"{names.ENV_DOCUMENT_COMPACT_AFTER} must be 1-1000")
        if not 3600 <= self.document_ttl_seconds <= 365 * 24 * 3600:
            raise SettingsError(f"{names.ENV_DOCUMENT_TTL_SECONDS} must be 3600 s to 365 days")

    @property
    def websocket_region(self) -> str:
        """The AWS region of this stack's WebSocket API."""
        return self.data_region or self.region


FUNCTION_SETTINGS["ws_message"] = WsMessageSettings


@dataclass(frozen=True)
class WsHttpSettings(BaseSettings):
    """The ``ws_http`` function (issue 6): ``GET /discovery``, ``/usage``, ``/health`` and ``/`` on the data-plane
    host. It verifies tokens like the ``$connect`` authorizer (directory, security state read fresh), reads
    document pins and usage counters in each app's license region, and counts its rate limits there."""

    issuer_base: str = _env(names.ENV_ISSUER_BASE, "http://127.0.0.1:8080")
    state_cache_seconds: int = _env(names.ENV_STATE_CACHE_SECONDS, 5)
    connections_table: str = _env(names.ENV_CONNECTIONS_TABLE, names.CONNECTIONS_TABLE.default_name)
    usage_table: str = _env(names.ENV_USAGE_TABLE, names.USAGE_TABLE.default_name)
    data_region: str = _env(names.ENV_DATA_REGION, "")
    ws_public_url: str = _env(names.ENV_WS_PUBLIC_URL, "")
    health_cache_seconds: int = _env(names.ENV_HEALTH_CACHE_SECONDS, 2)

    def __post_init__(self) -> None:
        if not 0 <= self.state_cache_seconds <= 60:
            raise SettingsError(f"{names.ENV_STATE_CACHE_SECONDS} must be 0-60 seconds")
        if not 1 <= self.health_cache_seconds <= 60:
            raise SettingsError(f"{names.ENV_HEALTH_CACHE_SECONDS} must be 1-60 seconds")
        if self.ws_public_url and not self.ws_public_url.startswith(("wss://", "ws://")):
            raise SettingsError(f"{names.ENV_WS_PUBLIC_URL} must be a ws:// or wss:// URL")

    @property
    def websocket_region(self) -> str:
        """The AWS region of this stack's WebSocket API."""
        return self.data_region or self.region


FUNCTION_SETTINGS["ws_http"] = WsHttpSettings


DATA_PLANE_REGIONAL_ENV: tuple[str, ...] = (
    names.ENV_DATA_REGION,
    names.ENV_WS_MANAGEMENT_ENDPOINT,
    names.ENV_WS_PUBLIC_URL,
)
"""The variables that differ between two WebSocket regions served by one process (the local stack's second
region, ``wiresocket local --second-ws-port``)."""


def data_plane_region_key(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The current values of ``DATA_PLANE_REGIONAL_ENV``: the data-plane wiring caches per distinct value."""
    env = os.environ if environ is None else environ
    return tuple(env.get(name, "") for name in DATA_PLANE_REGIONAL_ENV)
