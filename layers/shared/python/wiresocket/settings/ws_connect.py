"""Settings of the ws_connect function ($connect authorizer, $connect/$disconnect)."""

from __future__ import annotations

from dataclasses import dataclass

from wiresocket import names
from wiresocket.settings.base import BaseSettings, DataPlaneRegion, SettingsError, env_field

WS_CONNECT_PER_IP_DEFAULT = 60
"""SPEC §7: WebSocket connects per source IP per minute."""
WS_CONNECT_PER_IP_MAX = 1_000_000
"""The highest per-IP connect limit a deployment may set (the e2e tests' local stacks use it)."""


@dataclass(frozen=True)
class WsConnectSettings(BaseSettings, DataPlaneRegion):
    """The ``ws_connect`` function: the ``$connect`` authorizer and the ``$connect``/``$disconnect`` handlers
    (SPEC §8). It reads the directory (cached for at most ``state_cache_seconds``) and writes the connection
    registry of each app's license region."""

    issuer_base: str = env_field(names.ENV_ISSUER_BASE, "http://127.0.0.1:8080")
    state_cache_seconds: int = env_field(names.ENV_STATE_CACHE_SECONDS, 5)
    connections_table: str = env_field(names.ENV_CONNECTIONS_TABLE, names.CONNECTIONS_TABLE.default_name)
    ws_management_endpoint: str = env_field(names.ENV_WS_MANAGEMENT_ENDPOINT, "")
    data_region: str = env_field(names.ENV_DATA_REGION, "")
    connection_max_seconds: int = env_field(names.ENV_CONNECTION_MAX_SECONDS, 2 * 3600)
    ws_public_url: str = env_field(names.ENV_WS_PUBLIC_URL, "")
    pin_grace_seconds: int = env_field(names.ENV_PIN_GRACE_SECONDS, 10)
    usage_table: str = env_field(names.ENV_USAGE_TABLE, names.USAGE_TABLE.default_name)
    """Where the per-IP connect limit counts: this WebSocket API's own region's usage table."""
    ws_connect_per_ip_limit: int = env_field(names.ENV_WS_CONNECT_PER_IP_LIMIT, WS_CONNECT_PER_IP_DEFAULT)

    def __post_init__(self) -> None:
        self.check_state_cache(self.state_cache_seconds)
        if not 1 <= self.ws_connect_per_ip_limit <= WS_CONNECT_PER_IP_MAX:
            raise SettingsError(f"{names.ENV_WS_CONNECT_PER_IP_LIMIT} must be 1-{WS_CONNECT_PER_IP_MAX}")
        if not 60 <= self.connection_max_seconds <= 2 * 3600:
            raise SettingsError(f"{names.ENV_CONNECTION_MAX_SECONDS} must be 60-7200 seconds")
        if not 1 <= self.pin_grace_seconds <= 10:
            raise SettingsError(f"{names.ENV_PIN_GRACE_SECONDS} must be 1-10 seconds")
        self.check_public_url(self.ws_public_url)
