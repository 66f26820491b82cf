"""Settings of the ws_http function (data-plane HTTP endpoints)."""

from __future__ import annotations

from dataclasses import dataclass

from wiresocket import names
from wiresocket.settings.base import BaseSettings, DataPlaneRegion, SettingsError, env_field


@dataclass(frozen=True)
class WsHttpSettings(BaseSettings, DataPlaneRegion):
    """The ``ws_http`` function (issue 6): ``GET /discovery``, ``/usage``, ``/health`` and ``/`` on the data-plane
    host. It verifies tokens like the ``$connect`` authorizer (directory, security state read fresh), reads
    document pins and usage counters in each app's license region, and counts its rate limits there."""

    issuer_base: str = env_field(names.ENV_ISSUER_BASE, "http://127.0.0.1:8080")
    state_cache_seconds: int = env_field(names.ENV_STATE_CACHE_SECONDS, 5)
    connections_table: str = env_field(names.ENV_CONNECTIONS_TABLE, names.CONNECTIONS_TABLE.default_name)
    usage_table: str = env_field(names.ENV_USAGE_TABLE, names.USAGE_TABLE.default_name)
    data_region: str = env_field(names.ENV_DATA_REGION, "")
    ws_public_url: str = env_field(names.ENV_WS_PUBLIC_URL, "")
    health_cache_seconds: int = env_field(names.ENV_HEALTH_CACHE_SECONDS, 2)

    def __post_init__(self) -> None:
        self.check_state_cache(self.state_cache_seconds)
        if not 1 <= self.health_cache_seconds <= 60:
            raise SettingsError(f"{names.ENV_HEALTH_CACHE_SECONDS} must be 1-60 seconds")
        self.check_public_url(self.ws_public_url)
