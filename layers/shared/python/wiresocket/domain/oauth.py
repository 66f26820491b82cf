"""OAuth 2.0 errors and requests (RFC 6749, RFC 7009, RFC 7662) as the domain sees them.

Each error class carries its RFC ``error`` code and HTTP status (as authlib's error classes do); the edge
(``edge/oauth.py``) turns them into responses in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from wiresocket.domain.errors import WireSocketError


class OAuthError(WireSocketError):
    """An RFC 6749 §5.2 error: ``error`` code, HTTP status, and a description safe to show the client."""

    error = "invalid_request"
    status = 400

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class InvalidRequest(OAuthError):
    """RFC 6749 §5.2 ``invalid_request``: missing, repeated or malformed parameter."""

    error = "invalid_request"


class InvalidClient(OAuthError):
    """RFC 6749 §5.2 ``invalid_client``: client authentication failed (401)."""

    error = "invalid_client"
    status = 401


class InvalidGrant(OAuthError):
    """RFC 6749 §5.2 ``invalid_grant``: bad credentials, or an invalid, expired or revoked refresh token."""

    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    """RFC 6749 §5.2 ``unauthorized_client``: this client may not use this grant type."""

    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    """RFC 6749 §5.2 ``unsupported_grant_type``."""

    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    """RFC 6749 §5.2 ``invalid_scope``: unknown, malformed, or not allowed for this principal."""

    error = "invalid_scope"


class UnsupportedTokenType(OAuthError):
    """RFC 7009 §2.2.1 ``unsupported_token_type``: this server does not revoke that kind of token."""

    error = "unsupported_token_type"


class RateLimited(OAuthError):
    """Too many requests (SPEC §7): HTTP 429 with ``Retry-After``."""

    error = "temporarily_unavailable"
    status = 429

    def __init__(self, description: str, retry_after: int) -> None:
        super().__init__(description)
        self.retry_after = max(1, int(retry_after))


class AuthMethod(StrEnum):
    """How the client authenticated (RFC 6749 §2.3.1)."""

    BASIC = "client_secret_basic"
    POST = "client_secret_post"
    NONE = "none"  # client_id only: allowed for the refresh grant and revocation (SPEC §3)


@dataclass(frozen=True)
class ClientCredentials:
    """The client's claimed identity, as sent. ``secret`` is None when none was sent (and never in ``repr``)."""

    client_id: str
    secret: str | None = field(repr=False)
    method: AuthMethod


@dataclass(frozen=True)
class OAuthRequest:
    """A parsed form request to ``/connect/token``, ``/connect/revocation`` or ``/connect/introspect``.

    ``params`` holds each form parameter once (repeats are refused while parsing), without the client
    credentials; parameters sent empty are treated as omitted (RFC 6749 §3.1). They include passwords and
    tokens, so ``repr`` leaves them out.
    """

    params: Mapping[str, str] = field(repr=False)
    client: ClientCredentials | None
    source_ip: str
    basic_attempted: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        """The parameter's value, or None."""
        return self.params.get(name)

    def require(self, name: str) -> str:
        """The parameter's value; ``InvalidRequest`` when missing."""
        value = self.params.get(name)
        if value is None:
            raise InvalidRequest(f"missing parameter: {name}")
        return value


@dataclass(frozen=True)
class TokenResponse:
    """RFC 6749 §5.1 successful response (its tokens never in ``repr``)."""

    access_token: str = field(repr=False)
    expires_in: int
    scope: str
    refresh_token: str | None = field(default=None, repr=False)
    token_type: str = "Bearer"  # noqa: S105 - the RFC 6750 token type

    def body(self) -> dict[str, object]:
        """The JSON body."""
        out: dict[str, object] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if self.refresh_token is not None:
            out["refresh_token"] = self.refresh_token
        return out
