"""Settings of the ws_message function ($default)."""

from __future__ import annotations

from dataclasses import dataclass

from wiresocket import names
from wiresocket.settings.base import BaseSettings, DataPlaneRegion, SettingsError, env_field


@dataclass(frozen=True)
class WsMessageSettings(BaseSettings, DataPlaneRegion):
    """The ``ws_message`` function (``$default``, issue 6): y-websocket sync and awareness relay. It reads the
    directory's security state (cached for at most ``state_cache_seconds``), the connection registry, and the
    document state and usage counters of each app's license region."""

    state_cache_seconds: int = env_field(names.ENV_STATE_CACHE_SECONDS, 5)
    connections_table: str = env_field(names.ENV_CONNECTIONS_TABLE, names.CONNECTIONS_TABLE.default_name)
    documents_table: str = env_field(names.ENV_DOCUMENTS_TABLE, names.DOCUMENTS_TABLE.default_name)
    usage_table: str = env_field(names.ENV_USAGE_TABLE, names.USAGE_TABLE.default_name)
    ws_management_endpoint: str = env_field(names.ENV_WS_MANAGEMENT_ENDPOINT, "")
    data_region: str = env_field(names.ENV_DATA_REGION, "")
    document_compact_after: int = env_field(names.ENV_DOCUMENT_COMPACT_AFTER, 50)
    document_ttl_seconds: int = env_field(names.ENV_DOCUMENT_TTL_SECONDS, 7 * 24 * 3600)

    def __post_init__(self) -> None:
        self.check_state_cache(self.state_cache_seconds)
        if not 1 <= self.document_compact_after <= 1000:
            raise SettingsError(f"{names.ENV_DOCUMENT_COMPACT_AFTER} must be 1-1000")
        if not 3600 <= self.document_ttl_seconds <= 365 * 24 * 3600:
            raise SettingsError(f"{names.ENV_DOCUMENT_TTL_SECONDS} must be 3600 s to 365 days")
