"""Plans (SPEC §4, §6): the limits an app's tokens carry in their ``limits`` claim."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from wiresocket.domain.errors import InvalidInput

_PLAN_ID = re.compile(r"\A[a-z0-9][a-z0-9_-]{0,63}\Z")


class PlanStatus(StrEnum):
    """An ``active`` plan can be assigned and lets its apps get tokens; a ``retired`` one does neither."""

    ACTIVE = "active"
    RETIRED = "retired"


@dataclass(frozen=True)
class PlanLimits:
    """What one app may do on the data plane."""

    max_connections: int
    max_documents: int
    max_users_per_doc: int
    ops_per_minute: int

    def __post_init__(self) -> None:
        for name in ("max_connections", "max_documents", "max_users_per_doc", "ops_per_minute"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidInput(f"plan limit {name} must be a non-negative integer")

    def claim(self) -> dict[str, int]:
        """The ``limits`` claim (SPEC §4): a JSON object with camelCase names."""
        return {
            "maxConnections": self.max_connections,
            "maxDocuments": self.max_documents,
            "maxUsersPerDoc": self.max_users_per_doc,
            "opsPerMinute": self.ops_per_minute,
        }


@dataclass(frozen=True)
class Plan:
    """A platform-wide plan."""

    plan_id: str
    name: str
    status: PlanStatus
    limits: PlanLimits
    free: bool
    created_at: int

    @property
    def is_active(self) -> bool:
        """Only apps on an active plan get tokens."""
        return self.status is PlanStatus.ACTIVE


def validate_plan_id(value: object) -> str:
    """``value`` if it is a plan id (lower-case slug, ≤ 64 chars), else ``InvalidInput``."""
    if not isinstance(value, str) or _PLAN_ID.match(value) is None:
        raise InvalidInput("plan id must be a lower-case slug of at most 64 characters")
    return value


MAX_PLAN_NAME = 64


def plan_id_from_name(name: str) -> str:
    """The plan id a plan named ``name`` gets: its lower-case slug (``"Pro Team"`` → ``"pro-team"``).

    Two names with the same slug are the same plan, so plan ids stay readable and unique by name.
    """
    clean = name.strip()
    if not clean or len(clean) > MAX_PLAN_NAME or any(ord(c) < 32 or ord(c) == 127 for c in clean):
        raise InvalidInput(f"plan name must be 1-{MAX_PLAN_NAME} printable characters")
    slug = re.sub(r"[^a-z0-9_]+", "-", clean.lower()).strip("-")
    return validate_plan_id(slug[:64])
