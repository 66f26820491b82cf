"""Settings of the outbox function."""

from __future__ import annotations

from dataclasses import dataclass

from wiresocket import names
from wiresocket.settings.base import BaseSettings, env_field


@dataclass(frozen=True)
class OutboxSettings(BaseSettings):
    """The outbox publisher: reads pending audit events and puts them on the bus."""

    audit_bus: str = env_field(names.ENV_AUDIT_BUS, names.AUDIT_BUS_NAME)
