"""The data plane's HTTP endpoints (public docs "API reference": discovery, usage, health; issue 6).

Served by the ``ws_http`` function on the data-plane host of each WebSocket region:

- ``GET /discovery?documentName=`` — where to connect for a document. Tenant and app come from the token. If
  the document's pin (``domain/pinning.py``, read in the app's license region) still binds, the answer is the
  pinned region and its URL (``isNew: false``); otherwise this node's region and URL (``isNew: true``).
- ``GET /usage`` — the app's live connection and document counts (global: the counters live in the app's
  license region, read strongly consistent) against the limits of the token's ``limits`` claim.
- ``GET /health`` and ``GET /`` — unauthenticated; 200 ``healthy`` or 503 ``degraded`` when the region's
  tables do not answer a cheap probe. The probe result is cached for ``health_cache_seconds`` per container so
  the endpoint cannot be used to hammer DynamoDB.

Authentication is the ``$connect`` authorizer's (``services/authorize.py``): the token comes from
``Authorization: Bearer`` or ``?token=`` (one token; two that disagree are refused), is verified by the same
``TokenVerifier`` over current security state (tenant active, ``kid`` published, app enabled with an active
plan), must be an app token for ``WireSocket.API`` whose ``licenseRegionCode`` is its app's and whose
``limits`` parse. The Origin rule differs in one point, on purpose: a request *without* ``Origin`` is a
server-side caller and is accepted; a request *with* ``Origin`` must pass the token's ``allowed_domain_*``
check exactly as the authorizer applies it (``OriginPolicy``), else 403. ``Access-Control-Allow-Origin`` is
echoed only for an origin that passed.

Rate limits (public docs "rate limits"): ``STANDARD`` 60/60 s on discovery, ``STRICT`` 12/60 s on usage, counted
per app **and client IP** (API Gateway's ``sourceIp``) in the app's license-region usage table — per app alone
would let any one browser holding the app's token starve every other user of the app. Like every limiter of
this project it fails closed (503 when the counters cannot be reached).

Errors are RFC 9457 problems; every response carries ``Cache-Control: no-store``. Nothing here logs a token.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, Protocol

from wiresocket.domain.connections import is_document_name
from wiresocket.domain.errors import DependencyUnavailable, InvalidInput, WireSocketError
from wiresocket.domain.limits import connections_counter_key, documents_counter_key
from wiresocket.domain.origins import OriginPolicy, OriginRefused, parse_origin
from wiresocket.domain.pinning import PinLookup, document_url
from wiresocket.domain.ratelimit import DEFAULT_POLICIES, RatePolicy
from wiresocket.edge.http import HttpRequest, error_response, json_response, parse_rest_event, problem
from wiresocket.names import DATA_PLANE_HTTP_PATHS
from wiresocket.ports import Clock
from wiresocket.services.authorize import ConnectRequest, Unauthenticated, find_token, ip_subject, verify_app_token
from wiresocket.services.ratelimit import RateLimiter
from wiresocket.services.verification import TokenVerifier

logger = logging.getLogger(__name__)

DISCOVERY_PATH: Final = "/discovery"
USAGE_PATH: Final = "/usage"
HEALTH_PATHS: Final = frozenset({"/health", "/"})
ROUTES: Final = frozenset(DATA_PLANE_HTTP_PATHS)
"""Every path ``ws_http`` answers (the CDK HTTP API and the local WebSocket emulator route exactly these)."""

DISCOVERY_POLICY: Final = RatePolicy("dataplane_discovery", limit=60, window_seconds=60)
"""The docs' ``STANDARD`` policy, on ``/discovery``."""
USAGE_POLICY: Final = RatePolicy("dataplane_usage", limit=12, window_seconds=60)
"""The docs' ``STRICT`` policy, on ``/usage``."""
DATAPLANE_POLICIES: Final[Mapping[str, RatePolicy]] = MappingProxyType(
    {**DEFAULT_POLICIES, DISCOVERY_POLICY.name: DISCOVERY_POLICY, USAGE_POLICY.name: USAGE_POLICY}
)

WARNING_PERCENT: Final = 75
CRITICAL_PERCENT: Final = 90
HEALTH_RETRY_AFTER_SECONDS: Final = 5
MAX_NODE_URL_LENGTH: Final = 200
_REGION = re.compile(r"\A[a-z]{2}(-[a-z]+)+-[0-9]{1,2}\Z")
_NODE_URL = re.compile(r"\Awss?://[A-Za-z0-9.:\-\[\]/_]+\Z")
NO_STORE: Final = {"Cache-Control": "no-store"}
PREFLIGHT_MAX_AGE_SECONDS: Final = 600


# --- Ports ------------------------------------------------------------------------------------------------------


class UsageReader(Protocol):
    """Reads usage counters of one app in its license region."""

    def counters(self, license_region: str, keys: Sequence[str]) -> dict[str, int]:
        """The current value of each counter in ``keys`` (0 if absent), strongly consistent.

        Raises ``DependencyUnavailable`` when the table cannot be read."""
        ...


class HealthProbe(Protocol):
    """A cheap reachability check of this region's tables."""

    def probe(self) -> None:
        """Return if every table answered; raise (anything) otherwise."""
        ...


# --- Errors -----------------------------------------------------------------------------------------------------


class OriginForbidden(WireSocketError):
    """A valid token used from an ``Origin`` it is not bound to (403). ``reason`` is for logs."""

    code = "forbidden"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RateLimited(WireSocketError):
    """Too many requests of this app from this client in the current window (429)."""

    code = "rate_limited"

    def __init__(self, retry_after: int, cors_origin: str | None) -> None:
        super().__init__("rate limit exceeded")
        self.retry_after = retry_after
        self.cors_origin = cors_origin


# --- Values -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeIdentity:
    """This node: its WebSocket region (``eu-central-1``) and public ``wss://`` URL (without a document)."""

    ws_region: str
    ws_url: str

    @staticmethod
    def from_stage_variables(event: Mapping[str, Any]) -> NodeIdentity | None:
        """The node named by the stage variables ``wsRegion``/``wsUrl`` (deployment configuration set on the
        API stage, never client input; the local emulator sets them per WebSocket region), or None.

        Malformed values are ignored (None), so a misconfigured stage falls back to the settings."""
        variables = event.get("stageVariables")
        if not isinstance(variables, dict):
            return None
        region, url = variables.get("wsRegion"), variables.get("wsUrl")
        if not isinstance(region, str) or not isinstance(url, str):
            return None
        if not _REGION.match(region) or len(url) > MAX_NODE_URL_LENGTH or not _NODE_URL.match(url):
            return None
        return NodeIdentity(region, url)


@dataclass(frozen=True)
class Caller:
    """An authenticated app caller: who, where its data lives, its limits, and the origin to echo (if any)."""

    tenant_id: str
    app_id: str
    license_region: str
    limits: Mapping[str, int]
    cors_origin: str | None


def iso_timestamp(now: float) -> str:
    """``2026-03-04T12:00:00.000Z``: ISO 8601, UTC, milliseconds."""
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def usage_entry(current: int, limit: int) -> dict[str, Any]:
    """``{current, limit, percent, status}`` for one counter.

    ``percent`` is ``current / limit`` in percent, one decimal. ``status``: ``healthy`` below 75 %, ``warning``
    from 75 % to below 90 %, ``critical`` from 90 %, compared in integers (no float edge cases). A limit of 0
    admits nothing, so the app is *at* its limit: 100 % and ``critical`` whatever the count (a negative count,
    which only a bug could produce, reads as 0).
    """
    current = max(0, current)
    if limit <= 0:
        return {"current": current, "limit": 0, "percent": 100.0, "status": "critical"}
    if current * 100 >= CRITICAL_PERCENT * limit:
        status = "critical"
    elif current * 100 >= WARNING_PERCENT * limit:
        status = "warning"
    else:
        status = "healthy"
    return {"current": current, "limit": limit, "percent": round(current * 100 / limit, 1), "status": status}


# --- The use cases ----------------------------------------------------------------------------------------------


class DataPlaneHttp:
    """Discovery, usage and health of one data-plane node, over ports."""

    def __init__(
        self,
        verifier: TokenVerifier,
        pins: PinLookup,
        usage: UsageReader,
        limiter_for: Callable[[str], RateLimiter],
        probe: HealthProbe,
        clock: Clock,
        *,
        node: NodeIdentity,
        health_cache_seconds: float = 2.0,
    ) -> None:
        """``limiter_for(license_region)``: the rate limiter counting in that license region's usage table."""
        self._verifier = verifier
        self._pins = pins
        self._usage = usage
        self._limiter_for = limiter_for
        self._probe = probe
        self._clock = clock
        self.node = node
        self._health_cache_seconds = health_cache_seconds
        self._health: tuple[float, bool] | None = None
        self._health_lock = threading.Lock()

    # --- authentication -------------------------------------------------------------------------------------

    def authenticate(self, request: HttpRequest) -> Caller:
        """The app behind the request's token, or ``Unauthenticated`` (401) / ``OriginForbidden`` (403).

        ``DependencyUnavailable`` propagates (503): a directory that is down is never a "bad token"."""
        headers = {"authorization": list(request.headers.get("authorization", []))}
        query = {"token": list(request.query.get("token", []))}
        presented = find_token(ConnectRequest(headers=headers, query=query))
        verified, app, limits = verify_app_token(self._verifier, presented.token)
        claims = verified.claims
        origins = list(request.headers.get("origin", []))
        cors_origin: str | None = None
        if origins:
            decision = OriginPolicy.from_claims(claims).check(origins)
            if not decision.allowed:
                raise OriginForbidden(f"origin {decision.reason.value}")
            cors_origin = _well_formed(origins[0])
        return Caller(verified.tenant.tenant_id, app.app_id, app.license_region, limits, cors_origin)

    def _limit(self, caller: Caller, policy: RatePolicy, source_ip: str) -> None:
        subject = f"app:{caller.tenant_id}/{caller.app_id}@{ip_subject(source_ip)}"
        decision = self._limiter_for(caller.license_region).hit(policy.name, subject)
        if not decision.allowed:
            raise RateLimited(decision.retry_after, caller.cors_origin)

    # --- endpoints ------------------------------------------------------------------------------------------

    def discovery(self, request: HttpRequest, node: NodeIdentity | None = None) -> tuple[Caller, dict[str, Any]]:
        """``{"region", "url", "isNew"}`` for ``?documentName=`` (exactly one, ``[A-Za-z0-9_-]{1,255}``)."""
        names = request.query.get("documentName", [])
        if len(names) != 1 or not is_document_name(names[0]):
            raise InvalidInput("documentName must be given once and match [A-Za-z0-9_-]{1,255}")
        document = names[0]
        caller = self.authenticate(request)
        self._limit(caller, DISCOVERY_POLICY, request.source_ip)
        here = node or self.node
        pin = self._pins.document_pin(caller.license_region, caller.tenant_id, caller.app_id, document)
        if pin is not None and pin.binds(self._clock.now()):
            url = document_url(pin.ws_url, document) if pin.ws_url else None
            return caller, {"region": pin.ws_region, "url": url, "isNew": False}
        url = document_url(here.ws_url, document) if here.ws_url else None
        return caller, {"region": here.ws_region, "url": url, "isNew": True}

    def usage(self, request: HttpRequest) -> tuple[Caller, dict[str, Any]]:
        """The app's live connections and active documents against the token's limits."""
        caller = self.authenticate(request)
        self._limit(caller, USAGE_POLICY, request.source_ip)
        conn_key = connections_counter_key(caller.tenant_id, caller.app_id)
        docs_key = documents_counter_key(caller.tenant_id, caller.app_id)
        counts = self._usage.counters(caller.license_region, [conn_key, docs_key])
        return caller, {
            "tenantId": caller.tenant_id,
            "appId": caller.app_id,
            "usage": {
                "connections": usage_entry(counts.get(conn_key, 0), caller.limits["maxConnections"]),
                "documents": usage_entry(counts.get(docs_key, 0), caller.limits["maxDocuments"]),
            },
            "timestamp": iso_timestamp(self._clock.now()),
        }

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, body). The probe runs at most once per ``health_cache_seconds`` per container."""
        now = self._clock.now()
        with self._health_lock:
            cached = self._health
            if cached is None or now >= cached[0]:
                try:
                    self._probe.probe()
                    healthy = True
                except Exception:  # any failure of the probe is "degraded", never a 500
                    healthy = False
                self._health = (now + self._health_cache_seconds, healthy)
            else:
                healthy = cached[1]
        return healthy, {"status": "healthy" if healthy else "degraded", "timestamp": iso_timestamp(now)}


def _well_formed(origin: str) -> str | None:
    try:
        parse_origin(origin)
    except OriginRefused:
        return None
    return origin


# --- Event → use case → proxy result (the one place errors become responses on this surface) -------------------


@dataclass(frozen=True)
class HttpOutcome:
    """The proxy result and a short outcome code for the log (never a token)."""

    response: dict[str, Any]
    outcome: str


def _cors(origin: str | None) -> dict[str, str]:
    headers = {"Vary": "Origin"}
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
    return headers


def _ok(body: Mapping[str, Any], origin: str | None) -> dict[str, Any]:
    return json_response(200, dict(body), {**NO_STORE, **_cors(origin)})


def _preflight(request: HttpRequest) -> dict[str, Any]:
    # The preflight cannot see the token, so it lets any well-formed origin *send* the request; whether the
    # browser may *read* the answer is decided on the real request (ACAO only for an origin the token allows).
    origins = request.headers.get("origin", [])
    origin = _well_formed(origins[0]) if len(origins) == 1 else None
    headers = {
        **NO_STORE,
        **_cors(origin),
        "Access-Control-Allow-Methods": "GET",
        "Access-Control-Allow-Headers": "Authorization",
        "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
    }
    return {"statusCode": 204, "headers": headers, "body": "", "isBase64Encoded": False}


def _route(request: HttpRequest) -> str | None:
    for candidate in (request.resource, request.path):
        if candidate in ROUTES:
            return candidate
    return None


def handle_dataplane_event(event: object, service: Callable[[], DataPlaneHttp]) -> HttpOutcome:
    """Serve one REST/HTTP API proxy event (payload format 1.0). Never raises: failures are problems."""
    try:
        if not isinstance(event, dict):
            raise InvalidInput("event is not an object")
        request = parse_rest_event(event)
        route = _route(request)
        if route is None:
            return HttpOutcome(problem(404, "Not Found", "no such resource"), "not_found")
        if request.method == "OPTIONS" and route not in HEALTH_PATHS:
            return HttpOutcome(_preflight(request), "preflight")
        if request.method != "GET":
            return HttpOutcome(problem(405, "Method Not Allowed", "use GET", headers={"Allow": "GET"}), "method")
        if route in HEALTH_PATHS:
            healthy, body = service().health()
            if healthy:
                return HttpOutcome(json_response(200, body, NO_STORE), "healthy")
            headers = {**NO_STORE, "Retry-After": str(HEALTH_RETRY_AFTER_SECONDS)}
            return HttpOutcome(json_response(503, body, headers), "degraded")
        if route == DISCOVERY_PATH:
            caller, body = service().discovery(request, NodeIdentity.from_stage_variables(event))
        else:
            caller, body = service().usage(request)
        return HttpOutcome(_ok(body, caller.cors_origin), "ok")
    except Unauthenticated as exc:
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"', "Vary": "Origin"}
        return HttpOutcome(
            problem(401, "Unauthorized", "a valid access token is required", headers=headers), exc.reason
        )
    except OriginForbidden as exc:
        return HttpOutcome(problem(403, "Forbidden", "the token is not valid from this origin"), exc.reason)
    except RateLimited as exc:
        headers = {"Retry-After": str(exc.retry_after), **_cors(exc.cors_origin)}
        return HttpOutcome(problem(429, "Too Many Requests", "rate limit exceeded", headers=headers), "rate_limited")
    except InvalidInput as exc:
        return HttpOutcome(error_response(exc), "invalid_input")
    except DependencyUnavailable as exc:
        return HttpOutcome(error_response(exc), "unavailable")
    except Exception as exc:  # a bug: a bare 500, details only in the log
        logger.exception("data-plane http request failed")
        return HttpOutcome(error_response(exc), f"error {type(exc).__name__}")
