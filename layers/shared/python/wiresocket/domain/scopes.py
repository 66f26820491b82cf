"""Scope rules and principal separation (SPEC §2)."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from wiresocket.domain.oauth import InvalidScope
from wiresocket.names import SCOPE_ADMIN, SCOPE_API, SCOPE_OFFLINE, SCOPE_PLATFORM, SCOPE_READ

if TYPE_CHECKING:
    from wiresocket.domain.users import UserRole

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"\A[\x21\x23-\x5b\x5d-\x7e]+\Z")
MAX_SCOPE_TOKENS = 10

KNOWN_SCOPES = frozenset({SCOPE_API, SCOPE_ADMIN, SCOPE_READ, SCOPE_PLATFORM, SCOPE_OFFLINE})
APP_SCOPES = frozenset({SCOPE_API, SCOPE_OFFLINE})
APP_DEFAULT = frozenset({SCOPE_API})

# Keyed by the roles' values (a ``UserRole`` is a ``StrEnum``: it looks itself up by value), so that an app's
# grant does not load the users module; tests/unit/test_scopes.py checks every role has its scope.
_ROLE_SCOPE: dict[str, str] = {
    "owner": SCOPE_ADMIN,
    "admin": SCOPE_ADMIN,
    "viewer": SCOPE_READ,
    "operator": SCOPE_PLATFORM,
}


def parse_scope(raw: str | None) -> frozenset[str] | None:
    """The requested scope set; None when the parameter was omitted. Repeated tokens collapse.

    Tokens are separated by single spaces (RFC 6749 §3.3); anything else is ``invalid_scope``.
    """
    if raw is None:
        return None
    return _parse_scope(raw)


@functools.lru_cache(maxsize=256)
def _parse_scope(raw: str) -> frozenset[str]:
    # Memoised (bounded): clients send the same few scope strings; a refused one raises and is not cached.
    parts = raw.split(" ")
    if len(parts) > MAX_SCOPE_TOKENS or any(_SCOPE_TOKEN.match(p) is None for p in parts):
        raise InvalidScope("scope must be space-separated scope tokens")
    return frozenset(parts)


@functools.lru_cache(maxsize=64)
def format_scope(scopes: frozenset[str]) -> str:
    """Canonical space-separated form (sorted, so equal sets give equal strings). Few distinct sets exist."""
    return " ".join(sorted(scopes))


def user_scopes(role: UserRole) -> tuple[frozenset[str], frozenset[str]]:
    """(allowed, default) scopes of a human with ``role``. Never ``WireSocket.API``."""
    role_scope = _ROLE_SCOPE[role]
    return frozenset({role_scope, SCOPE_OFFLINE}), frozenset({role_scope})


def grant_scopes(requested: frozenset[str] | None, allowed: frozenset[str], default: frozenset[str]) -> frozenset[str]:
    """The granted set: the default when nothing was requested, else exactly the request if it is allowed.

    A request that contains anything not allowed is refused as a whole (``invalid_scope``), never trimmed:
    a client asking for ``WireSocket.Admin`` must learn it cannot have it.
    """
    if requested is None:
        return default
    unknown = requested - KNOWN_SCOPES
    if unknown:
        raise InvalidScope("unknown scope")
    if not requested <= allowed:
        raise InvalidScope("scope not allowed for this client or user")
    if not requested - {SCOPE_OFFLINE}:
        raise InvalidScope("offline_access alone grants nothing; request an access scope too")
    return requested
