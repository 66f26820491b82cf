"""The ``$connect`` Lambda REQUEST authorizer (SPEC §8): who may open a WebSocket, from which page, to which
document.

``authorize_connection`` is the use case: find the one access token of the handshake, verify it fully
(``TokenVerifier``: RS256 only, per-tenant keys by ``kid``, pinned ``iss``, times, ``aud``, current state),
require an app token for ``WireSocket.API``, bind it to the browser's ``Origin`` (``OriginPolicy``) and
validate the document name. A missing, repeated or invalid ``?doc=`` is *not* a deny: once the token and the
Origin passed, the connection is allowed with the document ``INVALID_DOCUMENT`` (a constant that is never a real
name; the request's value is neither kept nor logged), ``$connect`` registers it as refused, and its first frame
is answered with 4007 "Invalid Name" (API Gateway cannot send a frame during ``$connect``).
``authorize_event`` maps an API Gateway authorizer event to it and its outcome to the IAM policy API Gateway
expects. Any exception is a deny.

Two kinds of deny, so a client can tell "get a new token" from "not from here":

- **401** (the function raises ``Exception("Unauthorized")``): no token, more than one token, a token in two
  places that disagree, or a token the verifier does not honour — forged, expired, wrong audience or scope, a
  human token, and also a token of a revoked key, a suspended tenant or a disabled app (the verifier cannot
  tell a revoked ``kid`` from an unknown one without saying which key ids exist, and the remedy is the same:
  a new token, if the issuer still gives one).
- **403** (an explicit ``Deny`` policy): a valid token used from an ``Origin`` it is not bound to, a source IP
  over its connect limit (reason ``rate limited``: an API Gateway WebSocket authorizer can only answer 401 or
  403, never 429) — and any unexpected failure (a dependency down, a bug, the limit's counters unreachable), so
  a failure is never mistaken for a bad token.

The order is fixed: the per-IP connect limit (SPEC §7, ``WS_CONNECT_IP``: every handshake counts, before any
token parsing or directory read), the token (401), then the Origin (403), then the name (4007 after the
upgrade), so an invalid name never softens another check.

Current security state comes through ``CachedStateDirectory``. At the handshake the tenant (with its keys),
the app and the user are read fresh on every call (``SECURITY_STATE`` is ``always_fresh``: nothing of a revoked
tenant may be accepted once the revoking call returned); only plans are cached, for at most ``ttl_seconds``
(default 5 s, SPEC §7). The data plane's per-frame re-check (``services.relay``) caches all of them that long. The
verifier picks keys only from the tenant named by ``tenantid`` and only by ``kid``, so one tenant's key can
never verify another tenant's token, cached or not.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, TypeVar, cast

from wiresocket.domain.connections import INVALID_DOCUMENT, AuthorizedConnection, is_document_name, validate_limits
from wiresocket.domain.errors import InvalidInput, WireSocketError
from wiresocket.domain.origins import OriginPolicy, domain_claims
from wiresocket.domain.ratelimit import WS_CONNECT_IP
from wiresocket.names import AUDIENCE_API, LICENSE_REGIONS, SCOPE_API
from wiresocket.services.verification import TokenRejected

if TYPE_CHECKING:  # annotations only: every import here is cold-start time of the authorizer
    from wiresocket.domain.apps import App
    from wiresocket.domain.clients import ClientRef, DashboardClient
    from wiresocket.domain.keys import SigningKey
    from wiresocket.domain.origins import OriginDecision
    from wiresocket.domain.plans import Plan
    from wiresocket.domain.ratelimit import Decision
    from wiresocket.domain.refresh import RefreshFamily, RefreshToken
    from wiresocket.domain.tenants import Tenant
    from wiresocket.domain.users import User
    from wiresocket.ports import Clock, IdentityDirectory, Write
    from wiresocket.services.verification import TokenVerifier, VerifiedToken

SUBPROTOCOL_MARKERS: Final = ("access_token", "Bearer")
QUERY_TOKEN_NAMES: Final = ("token", "access_token")
DOCUMENT_PARAMETER: Final = "doc"
CONNECT_ROUTE: Final = "$connect"
MAX_CACHE_ENTRIES: Final = 4096
MAX_ORIGIN_MEMO: Final = 1024
MAX_MEMO_ORIGIN_LENGTH: Final = 256
UNKNOWN_SOURCE: Final = "ip:unknown"
"""The one shared rate-limit subject of every handshake without a well-formed source IP (fail closed)."""
IPV6_PREFIX: Final = 64
"""IPv6 sources are limited per /64 (what one subscriber usually holds), not per address."""
MAX_SOURCE_IP_LENGTH: Final = 64
_BEARER = re.compile(r"\Abearer +(?P<token>[^\s,]+)\Z", re.IGNORECASE)

_V = TypeVar("_V")


# --- Errors ----------------------------------------------------------------------------------------------------


class Unauthenticated(WireSocketError):
    """No usable token (401). ``reason`` is a short code for logs."""

    code = "unauthorized"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConnectionForbidden(WireSocketError):
    """A valid token that may not open this connection (403). ``reason`` is a short code for logs."""

    code = "forbidden"

    def __init__(self, reason: str, principal_id: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.principal_id = principal_id


# --- Current state, cached for a few seconds -------------------------------------------------------------------


SECURITY_STATE: frozenset[str] = frozenset({"tenant", "app", "user"})
"""What decides whether a token is still honoured (tenant status and keys, app status, user status). The
``$connect`` authorizer reads it fresh on every handshake: SPEC §8 wants nothing of a tenant accepted once
the revoking call has returned, and another container's cache cannot be told in time. Plans (limits) may be
cached."""


class StateReads(Protocol):
    """The four reads the verifier makes (``adapters.dynamo_state.DynamoStateReader``, or a whole directory)."""

    def tenant_with_keys(self, tenant_id: str) -> tuple[Tenant | None, list[SigningKey]]:
        """The tenant and all its keys."""

    def app(self, tenant_id: str, app_id: str) -> App | None:
        """One app."""

    def plan(self, plan_id: str) -> Plan | None:
        """One plan."""

    def user(self, tenant_id: str, user_id: str) -> User | None:
        """One user."""


class CachedStateDirectory:
    """A read-only ``IdentityDirectory`` that caches the reads the verifier makes for at most ``ttl_seconds``.

    Cached: ``tenant_with_keys`` (per tenant), ``app`` (per tenant and app), ``plan`` (per plan), ``user``
    (per tenant and user), including "not found", so a flood of tokens naming unknown tenants costs one read
    per tenant per TTL. ``ttl_seconds=0`` disables caching, and kinds named in ``always_fresh`` (``tenant``,
    ``app``, ``plan``, ``user``) are never cached. Everything else is passed through to ``rest()`` (default:
    ``directory`` itself, which must then be a whole ``IdentityDirectory``; the authorizer reads its state with
    a lighter reader and builds the whole directory only if a pass-through is ever called); ``commit`` refuses
    (the data plane never writes the directory).
    """

    def __init__(
        self,
        directory: StateReads,
        clock: Clock,
        *,
        ttl_seconds: float,
        always_fresh: frozenset[str] = frozenset(),
        rest: Callable[[], IdentityDirectory] | None = None,
    ) -> None:
        if ttl_seconds < 0:
            raise ValueError("ttl_seconds must not be negative")
        self._directory = directory
        self._rest = rest
        self._clock = clock
        self._ttl = ttl_seconds
        self._always_fresh = always_fresh
        self._entries: dict[tuple[str, ...], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def _cached(self, key: tuple[str, ...], load: Callable[[], _V]) -> _V:
        if self._ttl <= 0 or key[0] in self._always_fresh:
            return load()
        now = self._clock.now()
        with self._lock:
            found = self._entries.get(key)
        if found is not None and found[0] > now:
            value: _V = found[1]
            return value
        loaded = load()
        with self._lock:
            if len(self._entries) >= MAX_CACHE_ENTRIES:
                self._entries.clear()
            self._entries[key] = (now + self._ttl, loaded)
        return loaded

    def clear(self) -> None:
        """Forget everything (tests; an event telling us state changed)."""
        with self._lock:
            self._entries.clear()

    def tenant_with_keys(self, tenant_id: str) -> tuple[Tenant | None, list[SigningKey]]:
        """The tenant and its keys (cached per tenant)."""
        tenant, keys = self._cached(("tenant", tenant_id), lambda: self._directory.tenant_with_keys(tenant_id))
        return tenant, list(keys)

    def app(self, tenant_id: str, app_id: str) -> App | None:
        """The app (cached per tenant and app)."""
        return self._cached(("app", tenant_id, app_id), lambda: self._directory.app(tenant_id, app_id))

    def plan(self, plan_id: str) -> Plan | None:
        """The plan (cached per plan)."""
        return self._cached(("plan", plan_id), lambda: self._directory.plan(plan_id))

    def user(self, tenant_id: str, user_id: str) -> User | None:
        """The user (cached per tenant and user)."""
        return self._cached(("user", tenant_id, user_id), lambda: self._directory.user(tenant_id, user_id))

    # Not on the authorizer's path: passed through uncached.

    def _full(self) -> IdentityDirectory:
        return self._rest() if self._rest is not None else cast("IdentityDirectory", self._directory)

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        """The tenant (uncached)."""
        return self._full().get_tenant(tenant_id)

    def all_keys(self) -> Iterator[SigningKey]:
        """Every key (uncached)."""
        return self._full().all_keys()

    def commit(self, writes: Sequence[Write]) -> None:
        """Refused: this view is read-only."""
        raise PermissionError("the cached state directory is read-only")

    def client(self, client_id: str) -> ClientRef | None:
        """Uncached."""
        return self._full().client(client_id)

    def user_by_username(self, username: str) -> User | None:
        """Uncached."""
        return self._full().user_by_username(username)

    def dashboard_client(self, client_id: str) -> DashboardClient | None:
        """Uncached."""
        return self._full().dashboard_client(client_id)

    def refresh_token(self, token_hash: str) -> RefreshToken | None:
        """Uncached."""
        return self._full().refresh_token(token_hash)

    def refresh_family(self, family_id: str) -> RefreshFamily | None:
        """Uncached."""
        return self._full().refresh_family(family_id)

    def secret_pepper(self) -> tuple[bytes, str] | None:
        """Uncached."""
        return self._full().secret_pepper()


# --- The handshake request --------------------------------------------------------------------------------------


def _grouped(single: object, multi: object, *, case_insensitive: bool) -> dict[str, list[str]]:
    """Every value of every name: ``multiValue*`` when API Gateway sent it, else the single-value map."""
    source: list[tuple[str, str]] = []
    if isinstance(multi, dict) and multi:
        for name, values in multi.items():
            if isinstance(name, str) and isinstance(values, list):
                source.extend((name, v) for v in values if isinstance(v, str))
    elif isinstance(single, dict):
        source.extend((n, v) for n, v in single.items() if isinstance(n, str) and isinstance(v, str))
    grouped: dict[str, list[str]] = {}
    for name, value in source:
        grouped.setdefault(name.lower() if case_insensitive else name, []).append(value)
    return grouped


@dataclass(frozen=True)
class ConnectRequest:
    """What the authorizer reads from the handshake: every header and query value (repeats kept)."""

    headers: Mapping[str, Sequence[str]]  # lower-case names
    query: Mapping[str, Sequence[str]]

    @staticmethod
    def from_event(event: Mapping[str, Any]) -> ConnectRequest:
        """From a REQUEST authorizer event (``headers``/``multiValueHeaders``, ``queryStringParameters``/...)."""
        return ConnectRequest(
            headers=_grouped(event.get("headers"), event.get("multiValueHeaders"), case_insensitive=True),
            query=_grouped(
                event.get("queryStringParameters"),
                event.get("multiValueQueryStringParameters"),
                case_insensitive=False,
            ),
        )

    def header(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive)."""
        return list(self.headers.get(name.lower(), ()))


@dataclass(frozen=True)
class PresentedToken:
    """The one token of a handshake, and the subprotocol marker it came with ("" if not by subprotocol)."""

    token: str = field(repr=False)
    subprotocol: str


def find_token(request: ConnectRequest) -> PresentedToken:
    """The single access token of the handshake (SPEC §8), from any of the three places.

    ``Sec-WebSocket-Protocol: access_token, <jwt>`` (or ``Bearer, <jwt>``), ``?token=``/``?access_token=`` and
    ``Authorization: Bearer <jwt>`` are all accepted; every occurrence must carry the same token. A marker
    without a token, two markers, an empty token or an ``Authorization`` header of another scheme are refused.
    """
    found: list[str] = []
    marker = ""
    offered = request.header("sec-websocket-protocol")
    if offered:
        items = [item.strip() for value in offered for item in value.split(",")]
        if any(not item for item in items):
            raise Unauthenticated("malformed subprotocol list")
        positions = [i for i, item in enumerate(items) if item in SUBPROTOCOL_MARKERS]
        if len(positions) > 1:
            raise Unauthenticated("several token subprotocols")
        if positions:
            i = positions[0]
            if i + 1 >= len(items) or items[i + 1] in SUBPROTOCOL_MARKERS:
                raise Unauthenticated("subprotocol marker without a token")
            marker = items[i]
            found.append(items[i + 1])
    for name in QUERY_TOKEN_NAMES:
        found.extend(request.query.get(name, ()))
    for value in request.header("authorization"):
        match = _BEARER.match(value.strip())
        if match is None:
            raise Unauthenticated("authorization header is not a bearer token")
        found.append(match["token"])
    if not found:
        raise Unauthenticated("no token")
    if any(not token for token in found):
        raise Unauthenticated("empty token")
    if len(set(found)) > 1:
        raise Unauthenticated("tokens disagree")
    return PresentedToken(found[0], marker)


def _scopes(claims: Mapping[str, Any]) -> set[str]:
    scopes: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            scopes.update(value.split())
        elif isinstance(value, list):
            scopes.update(v for v in value if isinstance(v, str))
    return scopes


# --- The use case -------------------------------------------------------------------------------------------------


class ConnectRateLimit(Protocol):
    """What the per-IP connect limit needs of ``services.ratelimit.RateLimiter``."""

    def hit(self, policy_name: str, subject: str) -> Decision:
        """Count one event of ``subject`` under the policy; raises ``DependencyUnavailable`` when down."""
        ...


def connect_subject(event: Mapping[str, Any]) -> str:
    """The per-IP connect limit's subject of a REQUEST authorizer event: ``ip:<address>`` from
    ``requestContext.identity.sourceIp`` (IPv4, or an IPv6 /64; an IPv4-mapped IPv6 address counts as its IPv4),
    or ``UNKNOWN_SOURCE`` when it is missing or malformed: such handshakes share one counter, never skip it."""
    context = event.get("requestContext")
    identity = context.get("identity") if isinstance(context, dict) else None
    return ip_subject(identity.get("sourceIp") if isinstance(identity, dict) else None)


def ip_subject(raw: object) -> str:
    """The per-IP rate-limit subject of a source address: ``ip:<IPv4>``, ``ip:<IPv6 /64>`` (an IPv4-mapped IPv6
    address counts as its IPv4), or ``UNKNOWN_SOURCE`` for a missing or malformed one (they share one counter).
    Every per-IP limit uses it, so that rotating addresses inside one /64 never buys a new counter."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_SOURCE_IP_LENGTH:
        return UNKNOWN_SOURCE
    try:
        address = ipaddress.ip_address(raw)
        if isinstance(address, ipaddress.IPv6Address):
            if address.ipv4_mapped is not None:
                return f"ip:{address.ipv4_mapped}"
            return f"ip:{ipaddress.IPv6Network((int(address), IPV6_PREFIX), strict=False)}"
    except ValueError:
        return UNKNOWN_SOURCE
    return f"ip:{address}"


class ConnectionAuthorizer:
    """``authorize_connection``: the whole ``$connect`` decision over a verifier (with cached state).

    ``limiter``: the per-IP connect limit's counters (SPEC §7, ``WS_CONNECT_IP``), resolved on each ``admit``
    (the wiring returns the limiter of the WebSocket region being served); None only in tests of the decision.
    """

    def __init__(self, verifier: TokenVerifier, *, limiter: Callable[[], ConnectRateLimit] | None = None) -> None:
        self._verifier = verifier
        self._limiter = limiter
        self._origin_memo: dict[tuple[tuple[str, ...], str], OriginDecision] = {}

    def admit(self, subject: str) -> None:
        """Count one handshake of ``subject`` (``connect_subject``); ``ConnectionForbidden("rate limited")`` (an
        explicit Deny, 403: a WebSocket authorizer cannot answer 429) beyond the limit. A limiter failure
        propagates, and ``authorize_event`` denies (fail closed)."""
        if self._limiter is not None and not self._limiter().hit(WS_CONNECT_IP, subject).allowed:
            raise ConnectionForbidden("rate limited", "anonymous")

    def _origin_decision(self, claims: Mapping[str, Any], origins: Sequence[str]) -> OriginDecision:
        """``OriginPolicy.from_claims(claims).check(origins)``, memoized for the common case.

        The decision is a pure function of the domain claims' values and the ``Origin`` values, so it is
        memoized by exactly those (only when the claims are all strings and there is one short ``Origin``; any
        other case is decided afresh). Bounded: flushed when it holds ``MAX_ORIGIN_MEMO`` entries.
        """
        raw = domain_claims(claims)
        if len(origins) != 1 or len(origins[0]) > MAX_MEMO_ORIGIN_LENGTH or not all(isinstance(v, str) for v in raw):
            return OriginPolicy.from_claims(claims).check(origins)
        key = (tuple(str(v) for v in raw), origins[0])
        found = self._origin_memo.get(key)
        if found is None:
            found = OriginPolicy.from_claims(claims).check(origins)
            if len(self._origin_memo) >= MAX_ORIGIN_MEMO:
                self._origin_memo.clear()
            self._origin_memo[key] = found
        return found

    def authorize_connection(self, request: ConnectRequest) -> AuthorizedConnection:
        """The connection's context, or ``Unauthenticated`` (401) / ``ConnectionForbidden`` (403)."""
        presented = find_token(request)
        verified, app, limits = verify_app_token(self._verifier, presented.token)
        claims = verified.claims
        principal = f"{verified.tenant.tenant_id}/{app.app_id}"
        decision = self._origin_decision(claims, request.header("origin"))
        if not decision.allowed:
            raise ConnectionForbidden(f"origin {decision.reason.value}", principal)
        # Only now, with the token and the Origin accepted, the name: a missing, repeated or invalid one is allowed
        # as INVALID_DOCUMENT (never the request's value), so the client gets 4007 after the upgrade.
        documents = list(request.query.get(DOCUMENT_PARAMETER, ()))
        document = documents[0] if len(documents) == 1 and is_document_name(documents[0]) else INVALID_DOCUMENT
        domains = tuple(str(d) for d in (claims.get(f"allowed_domain_{i}") for i in (1, 2, 3)) if d is not None)
        return AuthorizedConnection(
            tenant_id=verified.tenant.tenant_id,
            app_id=app.app_id,
            kid=verified.kid,
            license_region=app.license_region,
            limits=limits,
            domains=domains,
            document=document,
            subprotocol=presented.subprotocol,
            exp=int(claims["exp"]),
        )


def verify_app_token(verifier: TokenVerifier, token: str) -> tuple[VerifiedToken, App, dict[str, int]]:
    """A data-plane app token: verified (signature, claims, current state), an app token for ``WireSocket.API``
    whose license region is its app's, with well-formed ``limits``; else ``Unauthenticated``. Shared by the
    ``$connect`` authorizer and the data-plane HTTP endpoints (``services.dataplane_http``), so both accept
    exactly the same tokens."""
    try:
        verified = verifier.verify(token, [AUDIENCE_API])
    except TokenRejected as rejected:
        raise Unauthenticated(f"token rejected: {rejected.reason}") from rejected
    claims, app = verified.claims, verified.app
    if app is None or claims.get("aud") != AUDIENCE_API:
        raise Unauthenticated("not an app token")
    if SCOPE_API not in _scopes(claims):
        raise Unauthenticated("scope")
    region = claims.get("licenseRegionCode")
    if region not in LICENSE_REGIONS or region != app.license_region:
        raise Unauthenticated("license region")
    try:
        limits = validate_limits(claims.get("limits"))
    except InvalidInput as exc:
        raise Unauthenticated("limits") from exc
    return verified, app, limits


# --- Event → use case → IAM policy ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizerOutcome:
    """The authorizer's answer: a policy document, or None for 401; ``reason`` is for the log only."""

    decision: Literal["allow", "deny", "unauthorized"]
    reason: str
    policy: dict[str, Any] | None = None

    def result(self) -> dict[str, Any]:
        """What the Lambda returns; raises ``Exception("Unauthorized")`` (API Gateway's 401) when there is no
        policy."""
        if self.policy is None:
            raise Exception("Unauthorized")  # the exact exception (and message) API Gateway maps to 401
        return self.policy


def _policy(method_arn: str, principal_id: str, *, allow: bool, context: dict[str, Any] | None) -> dict[str, Any]:
    """The IAM policy API Gateway expects from a WebSocket REQUEST authorizer: ``Allow`` on this stage's
    ``$connect`` route, or ``Deny`` on all its routes.

    The same document powertools' ``APIGatewayAuthorizerResponseWebSocket.from_route_arn(...)`` with
    ``allow_route("$connect")`` / ``deny_all_routes()`` and ``asdict()`` builds (tests/unit/test_authorize.py
    compares the two), written out because importing powertools costs a quarter of this function's cold-start
    budget (see ``edge.telemetry``). One deliberate difference: the resource keeps the partition of the
    ``methodArn`` (powertools' ``from_route_arn`` always writes ``aws``, wrong in ``aws-cn``/``aws-us-gov``). A
    ``methodArn`` without partition, region, API id or stage is refused.
    """
    parts = method_arn.split(":")
    route = parts[5].split("/") if len(parts) >= 6 else []
    if len(route) < 2 or "" in (parts[1], parts[3], route[0], route[1]):
        raise ValueError("malformed methodArn")
    resource = CONNECT_ROUTE if allow else "*"
    arn = f"arn:{parts[1]}:execute-api:{parts[3]}:{parts[4]}:{route[0]}/{route[1]}/{resource}"
    statement = {"Action": "execute-api:Invoke", "Effect": "Allow" if allow else "Deny", "Resource": [arn]}
    result: dict[str, Any] = {
        "principalId": principal_id,
        "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
    }
    if context:
        result["context"] = context
    return result


def authorize_event(event: object, authorizer: Callable[[], ConnectionAuthorizer]) -> AuthorizerOutcome:
    """Run the authorizer on a REQUEST authorizer event. Never raises: every failure is a deny."""
    if not isinstance(event, dict):
        return AuthorizerOutcome("unauthorized", "event is not an object")
    method_arn = event.get("methodArn")
    if not isinstance(method_arn, str) or not method_arn.startswith("arn:"):
        return AuthorizerOutcome("unauthorized", "no methodArn")
    try:
        decider = authorizer()
        # The per-IP connect limit first: before any token parsing or directory read (SPEC §7).
        decider.admit(connect_subject(event))
        request = ConnectRequest.from_event(event)
        connection = decider.authorize_connection(request)
        policy = _policy(method_arn, connection.principal_id, allow=True, context=connection.context())
        return AuthorizerOutcome("allow", "allowed" if connection.names_a_document else "allowed: invalid name", policy)
    except Unauthenticated as exc:
        return AuthorizerOutcome("unauthorized", exc.reason)
    except ConnectionForbidden as exc:
        return _deny(method_arn, exc.principal_id, exc.reason)
    except Exception as exc:  # fail closed: a dependency down or a bug is a deny, never an allow
        return _deny(method_arn, "anonymous", f"error {type(exc).__name__}")


def _deny(method_arn: str, principal_id: str, reason: str) -> AuthorizerOutcome:
    try:
        return AuthorizerOutcome("deny", reason, _policy(method_arn, principal_id, allow=False, context=None))
    except Exception:
        return AuthorizerOutcome("unauthorized", f"{reason}; no deny policy could be built")
