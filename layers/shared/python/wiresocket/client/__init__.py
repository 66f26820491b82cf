"""A client of the WireSocket control plane: the token endpoint and the admin/platform API.

Used by the ``wiresocket`` CLI; importable by scripts. Errors are typed (``errors.py``), each with the exit
code the CLI uses for it.
"""

from wiresocket.client.admin import AdminClient, JsonObject, Page
from wiresocket.client.errors import (
    EXIT_CODES,
    AuthenticationError,
    ClientError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    LocalError,
    NotFoundError,
    RateLimitedError,
    UnavailableError,
    UsageError,
)
from wiresocket.client.http import Transport, new_idempotency_key, normalize_url
from wiresocket.client.oauth import TokenClient, TokenSet, unverified_claims
from wiresocket.client.session import Session, SessionManager, SessionStore, default_session_path

__all__ = [
    "EXIT_CODES",
    "AdminClient",
    "AuthenticationError",
    "ClientError",
    "ConflictError",
    "ForbiddenError",
    "InvalidInputError",
    "JsonObject",
    "LocalError",
    "NotFoundError",
    "Page",
    "RateLimitedError",
    "Session",
    "SessionManager",
    "SessionStore",
    "TokenClient",
    "TokenSet",
    "Transport",
    "UnavailableError",
    "UsageError",
    "default_session_path",
    "new_idempotency_key",
    "normalize_url",
    "unverified_claims",
]
