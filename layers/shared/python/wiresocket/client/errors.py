"""Errors of the control-plane client: one class per outcome a script can act on, each with its exit code.

HTTP statuses map to classes in exactly one place (``error_for_status``); OAuth error codes of the token
endpoint in another (``error_for_oauth``). Callers branch on the class (or ``exit_code``), never on text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ClientError(Exception):
    """Base class: something the command could not do. ``exit_code`` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code  # problem ``type``/``title`` or OAuth ``error``: for display only


class LocalError(ClientError):
    """A local failure: a file that cannot be read or written, a session file with unsafe permissions."""

    exit_code = 1


class UsageError(ClientError):
    """The command line (or the configuration it relies on) is incomplete or contradictory."""

    exit_code = 2


class AuthenticationError(ClientError):
    """401, an OAuth ``invalid_client``/``invalid_grant``, or no usable session: log in again."""

    exit_code = 3


class ForbiddenError(ClientError):
    """403 (or ``unauthorized_client``): authenticated, but this principal may not do this."""

    exit_code = 4


class NotFoundError(ClientError):
    """404: no such resource (in the caller's tenant)."""

    exit_code = 5


class ConflictError(ClientError):
    """409: the resource's current state forbids the change."""

    exit_code = 6


class InvalidInputError(ClientError):
    """400 or 422: the request was malformed or its values invalid; ``errors`` lists the fields."""

    exit_code = 7

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        errors: list[Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.errors = list(errors or [])


class RateLimitedError(ClientError):
    """429: slow down; ``retry_after`` is the server's hint in seconds, when it gave one."""

    exit_code = 8

    def __init__(
        self, message: str, *, status: int | None = None, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class UnavailableError(ClientError):
    """5xx, a network failure, or an answer that is not what the contract promises: try again later."""

    exit_code = 9


EXIT_CODES: Mapping[int, str] = {
    0: "ok",
    1: "local error (a file could not be read or written)",
    2: "usage (bad flags, missing configuration)",
    3: "authentication (401; log in again)",
    4: "forbidden (403)",
    5: "not found (404)",
    6: "conflict (409)",
    7: "invalid input (400/422)",
    8: "rate limited (429)",
    9: "unavailable or server error (5xx, network)",
}
"""Exit codes a script can rely on (README "Command-line client")."""


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


def error_for_status(status: int, body: Any, headers: Mapping[str, str]) -> ClientError:
    """The error for a non-2xx admin-API answer (RFC 9457 problem+json when the server sent one)."""
    problem: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    title = str(problem.get("title") or f"HTTP {status}")
    detail = problem.get("detail")
    message = f"{title}: {detail}" if detail else title
    code = str(problem.get("type") or problem.get("title") or status)
    if status == 401:
        return AuthenticationError(message, status=status, code=code)
    if status == 403:
        return ForbiddenError(message, status=status, code=code)
    if status == 404:
        return NotFoundError(message, status=status, code=code)
    if status == 409:
        return ConflictError(message, status=status, code=code)
    if status in (400, 422):
        raw_errors = problem.get("errors")
        errors = [e for e in raw_errors if isinstance(e, Mapping)] if isinstance(raw_errors, list) else []
        return InvalidInputError(message, status=status, code=code, errors=errors)
    if status == 429:
        return RateLimitedError(message, status=status, code=code, retry_after=_retry_after(headers))
    if 400 <= status < 500:  # 405, 413, 415, ...: the request itself is wrong
        return InvalidInputError(message, status=status, code=code)
    return UnavailableError(message, status=status, code=code)


_OAUTH_CLASSES: Mapping[str, type[ClientError]] = {
    "invalid_client": AuthenticationError,
    "invalid_grant": AuthenticationError,
    "unauthorized_client": ForbiddenError,
    "invalid_scope": InvalidInputError,
    "invalid_request": InvalidInputError,
    "unsupported_grant_type": InvalidInputError,
    "unsupported_token_type": InvalidInputError,
}


def error_for_oauth(status: int, body: Any, headers: Mapping[str, str]) -> ClientError:
    """The error for a non-2xx answer of ``/connect/...`` (RFC 6749 §5.2 ``{error, error_description}``)."""
    payload: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    code = str(payload.get("error") or status)
    description = payload.get("error_description")
    message = f"{code}: {description}" if description else code
    if status == 429:
        return RateLimitedError(message, status=status, code=code, retry_after=_retry_after(headers))
    if status >= 500:
        return UnavailableError(message, status=status, code=code)
    cls = _OAUTH_CLASSES.get(code)
    if cls is None:
        return error_for_status(status, {"title": code, "detail": description}, headers)
    return cls(message, status=status, code=code)
