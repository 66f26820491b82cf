"""Audit events (SPEC §7): names, shape, and a constructor that never carries a secret."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from wiresocket.domain.ids import new_event_id
from wiresocket.domain.time import iso_utc


class DetailType(StrEnum):
    """Every audit detail-type the platform emits. No other value is ever put on the bus."""

    TENANT_CREATED = "TenantCreated"
    TENANT_STATUS_CHANGED = "TenantStatusChanged"
    USER_CREATED = "UserCreated"
    USER_STATUS_CHANGED = "UserStatusChanged"
    APP_CREATED = "AppCreated"
    APP_SECRET_REGENERATED = "AppSecretRegenerated"  # noqa: S105 - an event name, not a secret
    APP_DOMAINS_CHANGED = "AppDomainsChanged"
    APP_PLAN_CHANGED = "AppPlanChanged"
    APP_STATUS_CHANGED = "AppStatusChanged"
    APP_DELETED = "AppDeleted"
    SIGNING_KEY_CREATED = "SigningKeyCreated"
    SIGNING_KEY_ROTATED = "SigningKeyRotated"
    SIGNING_KEY_REVOKED = "SigningKeyRevoked"
    MASTER_KEY_REWRAPPED = "MasterKeyRewrapped"
    REFRESH_TOKEN_REUSE_DETECTED = "RefreshTokenReuseDetected"  # noqa: S105 - an event name
    SESSIONS_TERMINATED = "SessionsTerminated"
    AUTHENTICATION_LOCKED_OUT = "AuthenticationLockedOut"


class ActorType(StrEnum):
    """Who caused an event."""

    USER = "user"
    APP = "app"
    OPERATOR = "operator"
    SYSTEM = "system"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Actor:
    """The principal behind an action."""

    type: ActorType
    id: str


SYSTEM_ACTOR = Actor(ActorType.SYSTEM, "wiresocket")

_FORBIDDEN_KEYS = frozenset(
    {
        "secret",
        "client_secret",
        "password",
        "private_key",
        "token",
        "access_token",
        "refresh_token",
        "plaintext",
        "data_key",
    }
)


@dataclass(frozen=True)
class AuditEvent:
    """One audit event. ``detail()`` is exactly what goes on the bus."""

    detail_type: DetailType
    actor: Actor
    region: str
    occurred_at: float
    tenant_id: str | None = None
    app_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    event_id: str = field(default_factory=new_event_id)

    def __post_init__(self) -> None:
        leaked = _FORBIDDEN_KEYS.intersection(k.lower() for k in self.data)
        if leaked:  # a programming error: refuse to build an event that could carry a secret
            raise ValueError(f"audit events never carry secrets: {sorted(leaked)}")

    def detail(self) -> dict[str, Any]:
        """The EventBridge ``Detail`` object: ``{eventId, occurredAt, actor, tenantId, appId?, region, ...}``."""
        body: dict[str, Any] = {
            "eventId": self.event_id,
            "occurredAt": iso_utc(self.occurred_at),
            "actor": {"type": self.actor.type.value, "id": self.actor.id},
            "tenantId": self.tenant_id,
            "region": self.region,
        }
        if self.app_id is not None:
            body["appId"] = self.app_id
        body.update(self.data)
        return body
