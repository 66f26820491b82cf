"""Settings: one frozen model per function, parsed once at cold start from the environment.

The models live in ``wiresocket.settings`` (one module per function, so that a function's cold start builds
only its own); this module gathers them for the tooling that needs every one: the CDK app sets exactly the
variables each model declares (``FUNCTION_SETTINGS``), the local stack sets them all, tests prove the two agree.
Functions never import this module.
"""

from __future__ import annotations

from wiresocket.settings.admin import AdminSettings
from wiresocket.settings.base import (
    DATA_PLANE_REGIONAL_ENV,
    BaseSettings,
    KeyVaultSettings,
    SettingsError,
    data_plane_region_key,
)
from wiresocket.settings.jwks import JwksSettings
from wiresocket.settings.key_maintenance import KeyMaintenanceSettings
from wiresocket.settings.outbox import OutboxSettings
from wiresocket.settings.terminator import TerminatorSettings
from wiresocket.settings.token import TokenSettings
from wiresocket.settings.ws_connect import WS_CONNECT_PER_IP_DEFAULT, WS_CONNECT_PER_IP_MAX, WsConnectSettings
from wiresocket.settings.ws_http import WsHttpSettings
from wiresocket.settings.ws_message import WsMessageSettings

__all__ = [
    "DATA_PLANE_REGIONAL_ENV",
    "FUNCTION_SETTINGS",
    "WS_CONNECT_PER_IP_DEFAULT",
    "WS_CONNECT_PER_IP_MAX",
    "AdminSettings",
    "BaseSettings",
    "JwksSettings",
    "KeyMaintenanceSettings",
    "KeyVaultSettings",
    "OutboxSettings",
    "SettingsError",
    "TerminatorSettings",
    "TokenSettings",
    "WsConnectSettings",
    "WsHttpSettings",
    "WsMessageSettings",
    "data_plane_region_key",
]

FUNCTION_SETTINGS: dict[str, type[BaseSettings]] = {
    "jwks": JwksSettings,
    "token": TokenSettings,
    "outbox": OutboxSettings,
    "admin": AdminSettings,
    "key_maintenance": KeyMaintenanceSettings,
    "terminator": TerminatorSettings,
    "ws_connect": WsConnectSettings,
    "ws_message": WsMessageSettings,
    "ws_http": WsHttpSettings,
}
"""Function name (folder under ``functions/``) → its settings model. The CDK app sets exactly these vars."""
