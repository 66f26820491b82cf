"""Settings of the key_maintenance function."""

from __future__ import annotations

from dataclasses import dataclass

from wiresocket import names
from wiresocket.settings.base import KeyVaultSettings, env_field


@dataclass(frozen=True)
class KeyMaintenanceSettings(KeyVaultSettings):
    """The scheduled key job: rotate every active tenant's keys after ``key_rotation_days`` and retire keys
    whose grace period has ended."""

    key_rotation_days: int = env_field(names.ENV_KEY_ROTATION_DAYS, 30)
