"""Settings of the regional terminator function."""

from __future__ import annotations

from dataclasses import dataclass

from wiresocket import names
from wiresocket.settings.base import BaseSettings, DataPlaneRegion, env_field


@dataclass(frozen=True)
class TerminatorSettings(BaseSettings, DataPlaneRegion):
    """The regional ``terminator`` function: on revocation, suspension and app disable/delete events it closes
    the matching connections held by this region's WebSocket API (a backstop behind the admin API's own
    termination, which already reaches every region)."""

    connections_table: str = env_field(names.ENV_CONNECTIONS_TABLE, names.CONNECTIONS_TABLE.default_name)
    audit_bus: str = env_field(names.ENV_AUDIT_BUS, names.AUDIT_BUS_NAME)
    data_region: str = env_field(names.ENV_DATA_REGION, "")
