"""The token endpoint as the CLI uses it (RFC 6749): password and refresh grants through the dashboard
client, plus ``client_credentials``, introspection and revocation for apps and scripts."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wiresocket.client.errors import UnavailableError
from wiresocket.client.http import Transport

TOKEN_PATH = "/connect/token"  # noqa: S105 - a route, not a secret
REVOCATION_PATH = "/connect/revocation"
INTROSPECTION_PATH = "/connect/introspect"


@dataclass(frozen=True)
class TokenSet:
    """What a grant returned: the access token, its expiry (epoch seconds), scope, and maybe a refresh token."""

    access_token: str
    expires_at: float
    scope: str
    refresh_token: str | None = None

    def __repr__(self) -> str:  # never let a token end up in a log line or a traceback
        return (
            f"TokenSet(scope={self.scope!r}, expires_at={self.expires_at!r}, refresh={self.refresh_token is not None})"
        )


def _token_set(payload: dict[str, Any], now: float) -> TokenSet:
    access = payload.get("access_token")
    expires_in = payload.get("expires_in")
    if not isinstance(access, str) or not access or not isinstance(expires_in, int | float):
        raise UnavailableError("the token endpoint answered without access_token/expires_in")
    refresh = payload.get("refresh_token")
    return TokenSet(
        access_token=access,
        expires_at=now + float(expires_in),
        scope=str(payload.get("scope") or ""),
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
    )


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT **without verifying it** — for display only (who am I, which tenant), never for
    a decision. Empty when ``token`` is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(raw)
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


class TokenClient:
    """Grants against ``/connect/token`` of one control plane."""

    def __init__(self, transport: Transport, *, clock: Callable[[], float] = time.time) -> None:
        self._transport = transport
        self._clock = clock

    def password(
        self, client_id: str, client_secret: str, username: str, password: str, scope: str | None = None
    ) -> TokenSet:
        """Resource-owner password grant (RFC 6749 §4.3) through the trusted dashboard client."""
        form = {"grant_type": "password", "username": username, "password": password}
        if scope:
            form["scope"] = scope
        now = self._clock()
        return _token_set(self._transport.post_form(TOKEN_PATH, form, auth=(client_id, client_secret)), now)

    def refresh(self, client_id: str, refresh_token: str) -> TokenSet:
        """Refresh grant (RFC 6749 §6) as a public use of the dashboard client (its secret is optional)."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
        now = self._clock()
        return _token_set(self._transport.post_form(TOKEN_PATH, form), now)

    def client_credentials(self, client_id: str, client_secret: str, scope: str | None = None) -> TokenSet:
        """Client-credentials grant (RFC 6749 §4.4) of an app."""
        form = {"grant_type": "client_credentials"}
        if scope:
            form["scope"] = scope
        now = self._clock()
        return _token_set(self._transport.post_form(TOKEN_PATH, form, auth=(client_id, client_secret)), now)

    def introspect(self, client_id: str, client_secret: str, token: str) -> dict[str, Any]:
        """RFC 7662 introspection by an app of its own tenant's token."""
        result: dict[str, Any] = self._transport.post_form(
            INTROSPECTION_PATH, {"token": token}, auth=(client_id, client_secret)
        )
        return result

    def revoke_refresh_token(self, client_id: str, refresh_token: str) -> None:
        """RFC 7009 revocation of a refresh token (and its family) of ``client_id``."""
        self._transport.post_form(
            REVOCATION_PATH,
            {"token": refresh_token, "token_type_hint": "refresh_token", "client_id": client_id},
        )
