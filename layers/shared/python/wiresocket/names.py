"""One source of truth for names shared by the functions, the local stack, the CDK app and the tests.

Table names, index names, environment variable names, event names and scopes are defined here once.
Nothing in this module does I/O.
"""

from __future__ import annotations

from typing import Final, NamedTuple

# --- Events -------------------------------------------------------------------------------------------------

AUDIT_BUS_NAME: Final = "wiresocket-audit"
AUDIT_SOURCE: Final = "wiresocket.security"

# --- Scopes and audiences (SPEC §2, §4) -------------------------------------------------------------------------

SCOPE_API: Final = "WireSocket.API"
SCOPE_ADMIN: Final = "WireSocket.Admin"
SCOPE_READ: Final = "WireSocket.Read"
SCOPE_PLATFORM: Final = "WireSocket.Platform"
SCOPE_OFFLINE: Final = "offline_access"
AUDIENCE_API: Final = "WireSocket.API"
AUDIENCE_DASHBOARD: Final = "WireSocket.Dashboard"

# The reserved platform tenant: holds the platform operators and the trusted dashboard client, with its own
# signing keys. Signup can never create it (it is not a random UUID v4: version nibble 0).
PLATFORM_TENANT_ID: Final = "00000000-0000-0000-0000-000000000001"

# --- License regions (SPEC §9) -------------------------------------------------------------------------------

LICENSE_REGIONS: Final[tuple[str, ...]] = (
    "aws-ap-northeast-1",
    "aws-ap-south-1",
    "aws-eu-west-1",
    "aws-us-east-1",
    "aws-us-east-2",
    "aws-us-west-2",
)


def aws_region_of(license_region: str) -> str:
    """Map a license region code (``aws-eu-west-1``) to its AWS region name (``eu-west-1``)."""
    if license_region not in LICENSE_REGIONS:
        raise ValueError(f"unknown license region: {license_region!r}")
    return license_region.removeprefix("aws-")


# --- Master key (SPEC §5): functions use the alias; rotation re-points it between two provisioned slots -------

MASTER_KEY_ALIAS: Final = "alias/wiresocket-master"
MASTER_KEY_SLOTS: Final[tuple[str, ...]] = ("alias/wiresocket-master-a", "alias/wiresocket-master-b")
"""No function may create KMS keys: the deployment provisions two identical master keys and rotation moves the
alias to the one not in use (docs/keys.md)."""

# --- Environment variable names (read only by config.py) --------------------------------------------------

ENV_DIRECTORY_TABLE: Final = "WIRESOCKET_DIRECTORY_TABLE"
ENV_MASTER_KEY_ID: Final = "WIRESOCKET_MASTER_KEY_ID"
ENV_AUDIT_BUS: Final = "WIRESOCKET_AUDIT_BUS"
ENV_REGION: Final = "WIRESOCKET_REGION"
ENV_PRIMARY_REGION: Final = "WIRESOCKET_PRIMARY_REGION"
ENV_AWS_ENDPOINT_URL: Final = "AWS_ENDPOINT_URL"  # honoured by boto3 itself; set only by the local stack
ENV_JWKS_MAX_AGE: Final = "WIRESOCKET_JWKS_MAX_AGE_SECONDS"
ENV_KEY_CACHE_TTL: Final = "WIRESOCKET_KEY_CACHE_TTL_SECONDS"
ENV_KEY_GRACE: Final = "WIRESOCKET_KEY_GRACE_SECONDS"
ENV_ISSUER_BASE: Final = "WIRESOCKET_ISSUER_BASE"
ENV_ACCESS_TOKEN_TTL: Final = "WIRESOCKET_ACCESS_TOKEN_TTL_SECONDS"  # noqa: S105 - a variable name
ENV_REFRESH_TOKEN_TTL: Final = "WIRESOCKET_REFRESH_TOKEN_TTL_SECONDS"  # noqa: S105 - a variable name
ENV_REFRESH_FAMILY_MAX_AGE: Final = "WIRESOCKET_REFRESH_FAMILY_MAX_AGE_SECONDS"
ENV_RATE_LIMIT_TABLE: Final = "WIRESOCKET_RATE_LIMIT_TABLE"
ENV_IDEMPOTENCY_TABLE: Final = "WIRESOCKET_IDEMPOTENCY_TABLE"
ENV_KEY_ROTATION_DAYS: Final = "WIRESOCKET_KEY_ROTATION_DAYS"
ENV_IDEMPOTENCY_TTL: Final = "WIRESOCKET_IDEMPOTENCY_TTL_SECONDS"
ENV_LOG_LEVEL: Final = "POWERTOOLS_LOG_LEVEL"
ENV_SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"

# --- DynamoDB tables -----------------------------------------------------------------------------------------


# The specs below are NamedTuples rather than frozen dataclasses: every function imports this module at its cold
# start, and creating a NamedTuple class costs ~0.09 ms against ~0.5 ms for a frozen dataclass, whose generated
# methods are compiled with ``exec`` when the class is created (no ``.pyc`` caches them). They are immutable
# records either way.


class IndexSpec(NamedTuple):
    """A global secondary index: name, key attributes (all strings) and projection (ALL)."""

    name: str
    partition_key: str
    sort_key: str | None = None


class TableSpec(NamedTuple):
    """A DynamoDB table as every consumer (pynamodb models, local stack, CDK) must create it.

    All key attributes are strings (``S``). Billing is on-demand everywhere.
    """

    logical_name: str
    default_name: str
    partition_key: str
    sort_key: str | None
    indexes: tuple[IndexSpec, ...] = ()
    ttl_attribute: str | None = None
    stream: bool = False

    def key_attributes(self) -> list[str]:
        """Every attribute used by the table's or an index's key, each once, in a stable order."""
        names = [self.partition_key, *([self.sort_key] if self.sort_key else [])]
        for index in self.indexes:
            names.extend(n for n in (index.partition_key, index.sort_key) if n)
        return list(dict.fromkeys(names))


# The directory: tenants, signing keys (encrypted), locks, the audit outbox, settings. Single-table design so
# a tenant's status and its keys come back in one Query, and a change plus its audit events fit in one
# transaction. A global table in production, written only in the primary region (SPEC §1).
DIRECTORY_TABLE: Final = TableSpec(
    logical_name="Directory",
    default_name="wiresocket-directory",
    partition_key="pk",
    sort_key="sk",
    indexes=(
        # Sparse: only audit events not yet put on the bus carry `outbox_pending`.
        IndexSpec(name="outbox-pending", partition_key="outbox_pending", sort_key="outbox_order"),
        # Generic lookup index (client_id -> app, username -> user, all audit events by time, ...).
        IndexSpec(name="gsi1", partition_key="gsi1pk", sort_key="gsi1sk"),
    ),
    ttl_attribute="expires_at_ttl",
    stream=True,
)

ALL_GLOBAL_TABLES: Final[tuple[TableSpec, ...]] = (DIRECTORY_TABLE,)

# Rate-limit counters (SPEC §7): one item per (policy, hashed subject, window), atomically incremented and
# reaped by TTL. Regional, never replicated: counters are only meaningful where the requests arrive.
RATE_LIMIT_TABLE: Final = TableSpec(
    logical_name="RateLimits",
    default_name="wiresocket-rate-limits",
    partition_key="pk",
    sort_key=None,
    ttl_attribute="expires_at_ttl",
)

# Idempotency records of the admin API (powertools idempotency's DynamoDB layout: key ``id``, expiry
# ``expiration``). Regional to the primary region, like the rate limits.
IDEMPOTENCY_TABLE: Final = TableSpec(
    logical_name="Idempotency",
    default_name="wiresocket-idempotency",
    partition_key="id",
    sort_key=None,
    ttl_attribute="expiration",
)

ALL_CONTROL_TABLES: Final[tuple[TableSpec, ...]] = (RATE_LIMIT_TABLE, IDEMPOTENCY_TABLE)
"""Control-plane tables that are regional (primary region only), not global tables."""

# --- Control-plane HTTP routes (REST API, SPEC §1) ----------------------------------------------------------


class Route(NamedTuple):
    """One REST API method: HTTP method, API Gateway resource path template, and the function behind it."""

    method: str
    resource: str
    function: str


CONTROL_PLANE_ROUTES: Final[tuple[Route, ...]] = (
    Route("GET", "/{tenantId}/.well-known/jwks", "jwks"),
    Route("GET", "/{tenantId}/.well-known/openid-configuration", "jwks"),
    Route("POST", "/connect/token", "token"),
    Route("POST", "/connect/revocation", "token"),
    Route("POST", "/connect/introspect", "token"),
    Route("POST", "/signup", "admin"),
    Route("GET", "/openapi.json", "admin"),
    Route("ANY", "/admin/{proxy+}", "admin"),
    Route("ANY", "/platform/{proxy+}", "admin"),
)
"""Every control-plane route. The CDK REST API and the local HTTP gateway are both built from this table."""

# --- Data plane (issue 5): regional tables and settings ---------------------------------------------------------

ENV_CONNECTIONS_TABLE: Final = "WIRESOCKET_CONNECTIONS_TABLE"
ENV_WS_MANAGEMENT_ENDPOINT: Final = "WIRESOCKET_WS_MANAGEMENT_ENDPOINT"
"""The ``@connections`` endpoint of this region's WebSocket API (``https://{api}.execute-api.{region}.
amazonaws.com/{stage}``; the emulator's ``http://127.0.0.1:<port>/local`` locally). Empty: derived from the
event's ``domainName`` and ``stage``."""
ENV_DATA_REGION: Final = "WIRESOCKET_DATA_REGION"
"""The AWS region of this data-plane stack's WebSocket API (where a connection lives, not where its app's
data lives). Empty: ``WIRESOCKET_REGION``."""
ENV_STATE_CACHE_SECONDS: Final = "WIRESOCKET_STATE_CACHE_SECONDS"
ENV_PIN_GRACE_SECONDS: Final = "WIRESOCKET_PIN_GRACE_SECONDS"
"""How long a document stays pinned after its last user left (1-10 s; 10 as the public docs say; the local
stack may shorten it for tests)."""
ENV_CONNECTION_MAX_SECONDS: Final = "WIRESOCKET_CONNECTION_MAX_SECONDS"
ENV_WS_CONNECT_PER_IP_LIMIT: Final = "WIRESOCKET_WS_CONNECT_PER_IP_LIMIT"
"""WebSocket handshakes per source IP per minute that the ``$connect`` authorizer admits (SPEC §7: 60; the e2e
tests' local stacks raise it, since all their clients connect from 127.0.0.1)."""

# The connection registry (SPEC §8, §9): one item per live WebSocket connection, written only in the table of
# the app's license region (the same table name in every region). ``pk`` is ``{wsRegion}#{connectionId}``
# (connection ids are unique per API only). The indexes find a tenant's, an app's and a document's
# connections for termination and relay; TTL reaps entries whose ``$disconnect`` never came.
CONNECTIONS_TABLE: Final = TableSpec(
    logical_name="Connections",
    default_name="wiresocket-connections",
    partition_key="pk",
    sort_key=None,
    indexes=(
        IndexSpec(name="by-tenant", partition_key="tenantId", sort_key="pk"),
        IndexSpec(name="by-app", partition_key="appKey", sort_key="pk"),
        IndexSpec(name="by-document", partition_key="documentKey", sort_key="pk"),
    ),
    ttl_attribute="expires_at_ttl",
)

ALL_REGIONAL_TABLES: Final[tuple[TableSpec, ...]] = (CONNECTIONS_TABLE,)
"""App-data tables that exist in every license region's stack and hold only that region's apps' data."""

# --- Data plane (issue 6): document state and usage counters -----------------------------------------------------

ENV_DOCUMENTS_TABLE: Final = "WIRESOCKET_DOCUMENTS_TABLE"
ENV_USAGE_TABLE: Final = "WIRESOCKET_USAGE_TABLE"
ENV_DOCUMENT_COMPACT_AFTER: Final = "WIRESOCKET_DOCUMENT_COMPACT_AFTER"
ENV_DOCUMENT_TTL_SECONDS: Final = "WIRESOCKET_DOCUMENT_TTL_SECONDS"

# Yjs document state (SPEC §8, §9), written only in the app's license region. ``pk`` is
# ``{tenantId}#{appId}#{document}``; ``sk`` is ``snapshot`` for the compacted state (a merged Yjs update) or
# ``u#{epochMillis}#{random}`` for one appended update. TTL forgets documents nobody has touched for a while.
DOCUMENTS_TABLE: Final = TableSpec(
    logical_name="Documents",
    default_name="wiresocket-documents",
    partition_key="pk",
    sort_key="sk",
    ttl_attribute="expires_at_ttl",
)

# Usage counters of the data plane (``opsPerMinute`` windows), written only in the app's license region:
# ``pk`` names the counter and its window; atomically incremented; reaped by TTL.
USAGE_TABLE: Final = TableSpec(
    logical_name="Usage",
    default_name="wiresocket-usage",
    partition_key="pk",
    sort_key=None,
    ttl_attribute="expires_at_ttl",
)

ALL_REGIONAL_TABLES = (*ALL_REGIONAL_TABLES, DOCUMENTS_TABLE, USAGE_TABLE)  # type: ignore[misc]

# --- Data plane (issue 6): HTTP endpoints of the data-plane host (/discovery, /usage, /health) ------------------

ENV_WS_PUBLIC_URL: Final = "WIRESOCKET_WS_PUBLIC_URL"
"""The public ``wss://`` URL of this region's WebSocket API (no document): what ``/discovery`` hands out."""
ENV_HEALTH_CACHE_SECONDS: Final = "WIRESOCKET_HEALTH_CACHE_SECONDS"
DATA_PLANE_HTTP_PATHS: Final[tuple[str, ...]] = ("/discovery", "/usage", "/health", "/")
"""The data-plane host's HTTP paths, all served by ``ws_http`` (the CDK HTTP API and the local WebSocket emulator
route exactly these; ``GET /`` is health, like ``GET /health``)."""
