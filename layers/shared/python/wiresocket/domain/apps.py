"""Apps (SPEC §2, §6): a tenant's M2M clients, with their license region, allowed domains and plan."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from enum import StrEnum

from wiresocket.domain.errors import InvalidInput
from wiresocket.names import LICENSE_REGIONS

MAX_ALLOWED_DOMAINS = 3
MAX_APP_NAME = 128
_HOST_LABEL = re.compile(r"\A(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
_APP_ID = re.compile(r"\A[A-Za-z0-9_-]{16,64}\Z")
_CLIENT_ID = re.compile(r"\A[A-Za-z0-9_-]{16,128}\Z")


class AppStatus(StrEnum):
    """Only ``enabled`` apps get tokens and connections."""

    ENABLED = "enabled"
    DISABLED = "disabled"


@dataclass(frozen=True)
class App:
    """One app of one tenant. The secret is held only as a keyed hash (``secret_hash``).

    ``credential_generation`` goes up by one every time the secret is regenerated; refresh-token families
    record the generation they were born in and die when it moves on (SPEC §3).
    """

    tenant_id: str
    app_id: str
    name: str
    client_id: str
    secret_hash: str
    status: AppStatus
    license_region: str
    allowed_domains: tuple[str, ...]
    plan_id: str | None
    credential_generation: int
    created_at: int
    updated_at: int

    @property
    def is_enabled(self) -> bool:
        """Whether the app may get tokens."""
        return self.status is AppStatus.ENABLED

    def with_secret(self, secret_hash: str, now: int) -> App:
        """This app with a new secret hash and the next credential generation."""
        return replace(
            self, secret_hash=secret_hash, credential_generation=self.credential_generation + 1, updated_at=now
        )


def new_app_id() -> str:
    """A fresh app id (144 random bits, URL-safe)."""
    return secrets.token_urlsafe(18)


def is_app_id(value: object) -> bool:
    """True when ``value`` has the shape of an app id we issue."""
    return isinstance(value, str) and _APP_ID.match(value) is not None


def is_client_id(value: object) -> bool:
    """True when ``value`` has the shape of a client id we issue (checked before any lookup)."""
    return isinstance(value, str) and _CLIENT_ID.match(value) is not None


def validate_app_name(name: str) -> str:
    """The trimmed name, 1-128 printable characters."""
    clean = name.strip()
    if not clean or len(clean) > MAX_APP_NAME or any(ord(c) < 32 or ord(c) == 127 for c in clean):
        raise InvalidInput(f"app name must be 1-{MAX_APP_NAME} printable characters")
    return clean


def validate_license_region(value: str) -> str:
    """One of the six ``aws-*`` license region codes (SPEC §9)."""
    if value not in LICENSE_REGIONS:
        raise InvalidInput(f"license region must be one of {', '.join(LICENSE_REGIONS)}")
    return value


def normalize_domain(raw: str) -> str:
    """An allowed domain in canonical form: ``host`` or ``host:port``, lower-case (SPEC §6).

    The scheme and a trailing ``/`` are stripped. Wildcards, paths, queries, userinfo, IPv6 literals and
    anything that is not a DNS name, ``localhost`` or an IPv4 address are refused.
    """
    value = raw.strip().lower()
    for scheme in ("https://", "http://"):
        if value.startswith(scheme):
            value = value[len(scheme) :]
            break
    value = value.removesuffix("/")
    if not value or len(value) > 253 + 6:
        raise InvalidInput("allowed domain must be host or host:port")
    if any(c in value for c in "*/?#@[]\\ %") or "://" in value:
        raise InvalidInput("allowed domain must be host or host:port (no wildcard, path, query or userinfo)")
    host, sep, port = value.partition(":")
    if sep and (not port.isdigit() or not 1 <= int(port) <= 65535 or port != str(int(port))):
        raise InvalidInput("allowed domain port must be 1-65535")
    labels = host.split(".")
    if not all(_HOST_LABEL.match(label) for label in labels):
        raise InvalidInput("allowed domain host is not a valid DNS name")
    if len(labels) == 1 and host != "localhost":
        raise InvalidInput("allowed domain must be a fully qualified name, an IPv4 address or localhost")
    return f"{host}:{port}" if sep else host


def normalize_domains(raw: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Up to three normalised, distinct allowed domains, in the given order."""
    if len(raw) > MAX_ALLOWED_DOMAINS:
        raise InvalidInput(f"at most {MAX_ALLOWED_DOMAINS} allowed domains")
    return tuple(dict.fromkeys(normalize_domain(d) for d in raw))
