"""WebSocket connections (SPEC §8, §9): what the authorizer hands to the integrations, and the registry record.

Pure: no I/O. The authorizer's context crosses API Gateway as a flat map of strings, numbers and booleans
(integrations receive every value as a string), so ``AuthorizedConnection`` converts both ways and re-validates
on the way in: an integration never trusts a context it cannot parse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from wiresocket.domain.errors import InvalidInput
from wiresocket.names import LICENSE_REGIONS

DOCUMENT_NAME: Final = re.compile(r"\A[A-Za-z0-9_-]{1,255}\Z")
LIMIT_NAMES: Final = ("maxConnections", "maxDocuments", "maxUsersPerDoc", "opsPerMinute")
TTL_MARGIN_SECONDS: Final = 600
"""Registry entries outlive the longest possible connection by this much before TTL may reap them."""
INVALID_DOCUMENT: Final = "~invalid"
"""The document of a connection whose ``?doc=`` was missing, repeated or invalid: the authorizer allows it (after
the token and the Origin passed) with this constant, never with anything taken from the request, so ``$connect``
registers it as refused and ``$default`` answers its first frame with 4007 "Invalid Name". ``~`` is outside
``[A-Za-z0-9_-]``: it can never be, nor collide with, a real document name."""


def is_document_name(value: object) -> bool:
    """``[A-Za-z0-9_-]{1,255}`` (SPEC §8)."""
    return isinstance(value, str) and DOCUMENT_NAME.match(value) is not None


def validate_limits(value: object) -> dict[str, int]:
    """The ``limits`` claim as a dict of the four non-negative integer limits, or ``InvalidInput``."""
    if not isinstance(value, dict) or set(value) != set(LIMIT_NAMES):
        raise InvalidInput("limits must name exactly the four plan limits")
    out: dict[str, int] = {}
    for name in LIMIT_NAMES:
        limit = value[name]
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise InvalidInput("plan limits must be non-negative integers")
        out[name] = limit
    return out


@dataclass(frozen=True)
class AuthorizedConnection:
    """Everything the ``$connect`` authorizer established about a connection, for the integrations."""

    tenant_id: str
    app_id: str
    kid: str
    license_region: str
    limits: dict[str, int]
    domains: tuple[str, ...]
    document: str  # a valid document name, or exactly ``INVALID_DOCUMENT`` (refused with 4007 after the upgrade)
    subprotocol: str  # "access_token", "Bearer" or "" (the token did not come as a subprotocol)
    exp: int

    def __post_init__(self) -> None:
        if self.license_region not in LICENSE_REGIONS:
            raise InvalidInput("unknown license region")
        if self.document != INVALID_DOCUMENT and not is_document_name(self.document):
            raise InvalidInput("invalid document name")
        if self.subprotocol not in ("", "access_token", "Bearer"):
            raise InvalidInput("invalid subprotocol")

    @property
    def names_a_document(self) -> bool:
        """False for a connection whose requested document name was invalid (``INVALID_DOCUMENT``): it is never a
        member of any document."""
        return self.document != INVALID_DOCUMENT

    @property
    def principal_id(self) -> str:
        """The policy's principal: ``{tenantId}/{appId}`` (ids, never a secret)."""
        return f"{self.tenant_id}/{self.app_id}"

    def context(self) -> dict[str, str | int]:
        """The authorizer context (strings and numbers only; nested values as compact JSON)."""
        return {
            "tenantId": self.tenant_id,
            "appId": self.app_id,
            "kid": self.kid,
            "licenseRegion": self.license_region,
            "limits": json.dumps(self.limits, separators=(",", ":"), sort_keys=True),
            "domains": json.dumps(list(self.domains), separators=(",", ":")),
            "document": self.document,
            "subprotocol": self.subprotocol,
            "exp": self.exp,
        }

    @staticmethod
    def from_context(context: object) -> AuthorizedConnection:
        """Parse ``requestContext.authorizer`` of an integration event; ``InvalidInput`` if anything is off."""
        if not isinstance(context, dict):
            raise InvalidInput("no authorizer context")
        try:
            strings = {name: context[name] for name in ("tenantId", "appId", "kid", "licenseRegion", "document")}
            if not all(isinstance(v, str) and v for v in strings.values()):
                raise InvalidInput("authorizer context values must be non-empty strings")
            limits = validate_limits(json.loads(str(context["limits"])))
            domains_raw: Any = json.loads(str(context["domains"]))
            if not isinstance(domains_raw, list) or not all(isinstance(d, str) for d in domains_raw):
                raise InvalidInput("domains must be a list of strings")
            exp_raw = context["exp"]
            exp = int(exp_raw) if isinstance(exp_raw, int | str) and not isinstance(exp_raw, bool) else None
            if exp is None:
                raise InvalidInput("exp must be an integer")
            subprotocol = context.get("subprotocol", "")
            return AuthorizedConnection(
                tenant_id=strings["tenantId"],
                app_id=strings["appId"],
                kid=strings["kid"],
                license_region=strings["licenseRegion"],
                limits=limits,
                domains=tuple(domains_raw),
                document=strings["document"],
                subprotocol=subprotocol if isinstance(subprotocol, str) else "",
                exp=exp,
            )
        except (KeyError, ValueError, TypeError) as exc:
            if isinstance(exc, InvalidInput):
                raise
            raise InvalidInput("malformed authorizer context") from exc


def event_endpoint(request_context: Mapping[str, Any], scheme: str = "https") -> str:
    """The stage URL of the WebSocket API an event came from (``{scheme}://{domainName}/{stage}`` of its
    ``requestContext``): with ``https`` its ``@connections`` management endpoint, with ``wss`` the URL clients
    connect to. Empty if either is missing, so the configured one must be used."""
    domain, stage = request_context.get("domainName"), request_context.get("stage")
    if isinstance(domain, str) and isinstance(stage, str) and domain and stage:
        return f"{scheme}://{domain}/{stage}"
    return ""


def registry_key(ws_region: str, connection_id: str) -> str:
    """The registry's partition key: connection ids are unique only within one WebSocket API (region)."""
    return f"{ws_region}#{connection_id}"


def app_key(tenant_id: str, app_id: str) -> str:
    """The ``by-app`` index key."""
    return f"{tenant_id}#{app_id}"


def document_key(tenant_id: str, app_id: str, document: str) -> str:
    """The ``by-document`` index key: documents are named per app."""
    return f"{tenant_id}#{app_id}#{document}"


@dataclass(frozen=True)
class ConnectionRecord:
    """One live connection in its app's license-region registry."""

    connection_id: str
    ws_region: str  # the AWS region of the WebSocket API that holds the connection
    endpoint: str  # its @connections management endpoint
    tenant_id: str
    app_id: str
    kid: str
    document: str
    license_region: str
    connected_at: int  # epoch seconds
    token_exp: int
    expires_at: int  # TTL (epoch seconds)

    @property
    def key(self) -> str:
        """The partition key."""
        return registry_key(self.ws_region, self.connection_id)


def connection_expiry(connected_at: int, max_lifetime_seconds: int) -> int:
    """When the registry may forget a connection: after the longest it can live, plus a margin.

    Not the token's ``exp``: API Gateway keeps a connection open after its token expires (up to 2 h), and a
    registry entry that vanished earlier would hide a live connection from termination.
    """
    return connected_at + max_lifetime_seconds + TTL_MARGIN_SECONDS


def new_record(
    connection_id: str,
    authorized: AuthorizedConnection,
    *,
    ws_region: str,
    endpoint: str,
    connected_at: int,
    max_lifetime_seconds: int,
) -> ConnectionRecord:
    """The registry record of a connection the authorizer allowed."""
    if not connection_id or len(connection_id) > 128 or not connection_id.isprintable():
        raise InvalidInput("invalid connection id")
    return ConnectionRecord(
        connection_id=connection_id,
        ws_region=ws_region,
        endpoint=endpoint,
        tenant_id=authorized.tenant_id,
        app_id=authorized.app_id,
        kid=authorized.kid,
        document=authorized.document,
        license_region=authorized.license_region,
        connected_at=connected_at,
        token_exp=authorized.exp,
        expires_at=connection_expiry(connected_at, max_lifetime_seconds),
    )
