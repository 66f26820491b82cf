"""Role scopes (SPEC §2): every role a human can hold has exactly one scope of its own, never the app scope."""

from __future__ import annotations

import pytest

from wiresocket.domain.scopes import user_scopes
from wiresocket.domain.users import UserRole
from wiresocket.names import SCOPE_ADMIN, SCOPE_API, SCOPE_OFFLINE, SCOPE_PLATFORM, SCOPE_READ

EXPECTED = {
    UserRole.OWNER: SCOPE_ADMIN,
    UserRole.ADMIN: SCOPE_ADMIN,
    UserRole.VIEWER: SCOPE_READ,
    UserRole.OPERATOR: SCOPE_PLATFORM,
}


@pytest.mark.parametrize("role", list(UserRole))
def test_every_role_has_its_scope_and_may_add_offline_access(role: UserRole) -> None:
    # Given any role / When its scopes are looked up (the table is keyed by the roles' values)
    allowed, default = user_scopes(role)
    # Then it gets its own scope by default, may add offline_access, and never gets the app scope
    assert default == frozenset({EXPECTED[role]})
    assert allowed == frozenset({EXPECTED[role], SCOPE_OFFLINE})
    assert SCOPE_API not in allowed
