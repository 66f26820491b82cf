"""Users (SPEC §2, §6): humans of a tenant (owner/admin/viewer) and platform operators."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from enum import StrEnum

from wiresocket.domain.errors import InvalidInput

MAX_USERNAME = 254
_USERNAME = re.compile(r"\A[a-z0-9._%+@-]{3,254}\Z")


class UserRole(StrEnum):
    """What a human may do; decides which scopes a password grant may yield."""

    OWNER = "owner"
    ADMIN = "admin"
    VIEWER = "viewer"
    OPERATOR = "operator"  # platform operator: only in the platform tenant


class UserStatus(StrEnum):
    """A disabled user's tokens stop working at once."""

    ACTIVE = "active"
    DISABLED = "disabled"


@dataclass(frozen=True)
class User:
    """A human. ``password_hash`` is an Argon2id PHC string; the password itself is never stored."""

    tenant_id: str
    user_id: str
    username: str
    password_hash: str
    role: UserRole
    status: UserStatus
    created_at: int
    updated_at: int

    @property
    def is_active(self) -> bool:
        """Whether the user may sign in and use tokens."""
        return self.status is UserStatus.ACTIVE


def new_user_id() -> str:
    """A fresh user id (a UUID)."""
    return str(uuid.uuid4())


def normalize_username(raw: str) -> str:
    """The canonical username: trimmed, lower-cased; 3-254 of ``[a-z0-9._%+@-]`` (e-mail addresses fit)."""
    value = raw.strip().lower()
    if _USERNAME.match(value) is None:
        raise InvalidInput("username must be 3-254 characters of letters, digits and ._%+@-")
    return value


_USER_ID = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")

INVITABLE_ROLES = frozenset({UserRole.ADMIN, UserRole.VIEWER})
"""Roles a tenant may invite; the one owner comes only from signup, operators only from the platform."""


def is_user_id(value: object) -> bool:
    """True when ``value`` has the shape of a user id we issue (a lower-case UUID)."""
    return isinstance(value, str) and _USER_ID.match(value) is not None
