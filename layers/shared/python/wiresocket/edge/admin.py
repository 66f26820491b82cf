"""The admin and platform HTTP surface (``docs/admin-api.md``) on powertools' REST resolver.

Every request passes, in this order (SPEC §6: authorization → current state → rate limit → idempotency →
change):

1. **routing** against the operation table built from the route decorators below: unknown path → 404,
   known path with another method → 405 (with ``Allow``);
2. **size**: a body over 64 KiB → 413;
3. **authentication and authorization** (``Gate.authorize``): bearer token verified by ``TokenVerifier``
   with ``aud = WireSocket.Dashboard`` — which re-reads the tenant, the key and the user, so a suspended
   tenant, a revoked key or a disabled user stops working on the very next request — then the role and
   scope rule of the route. Any unexpected exception here is a deny (fail closed);
4. **body shape**: a body must be ``application/json`` (415) and valid JSON (400); routes without a body
   accept none (or ``{}``);
5. **rate limit**: ``signup_ip`` per source address on ``/signup``; ``account_management`` per principal on
   every other mutating call (429 + ``Retry-After``);
6. powertools: request models (422 with ``errors: [{loc, msg}]``), the route function — **idempotency**
   (every ``POST`` honours ``Idempotency-Key``) and one service call — and the response model.

Errors become RFC 9457 problems in exactly one place (``_classify``); every response carries
``Cache-Control: no-store``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import BaseModel

from wiresocket.domain import errors
from wiresocket.domain.audit import Actor, ActorType
from wiresocket.domain.plans import PlanLimits
from wiresocket.domain.ratelimit import ACCOUNT_MANAGEMENT, SIGNUP_IP, Decision
from wiresocket.domain.tenants import TenantStatus
from wiresocket.domain.users import User, UserRole
from wiresocket.edge.admin_models import (
    AppOut,
    AppPage,
    AppSecretOut,
    AppWithSecretOut,
    AuditEventOut,
    AuditPage,
    CreateAppRequest,
    CreatePlanRequest,
    DomainsRequest,
    InviteUserRequest,
    KeyList,
    KeyOut,
    MasterKeyRotateRequest,
    MasterKeyStatusOut,
    PlanList,
    PlanOut,
    PlanRequest,
    Problem,
    ReasonRequest,
    RevocationOut,
    RewrapOut,
    RotationOut,
    SignupOut,
    SignupRequest,
    TenantOut,
    TenantPage,
    UserOut,
    UserPage,
)
from wiresocket.names import AUDIENCE_DASHBOARD, PLATFORM_TENANT_ID, SCOPE_ADMIN, SCOPE_PLATFORM, SCOPE_READ
from wiresocket.services.admin_contract import DEFAULT_PAGE, MAX_PAGE, AdminOperations

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

logger = logging.getLogger(__name__)

API_TITLE = "WireSocket admin and platform API"
API_VERSION = "1.0.0"
MAX_BODY_BYTES = 64 * 1024
MAX_CURSOR = 1024
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_PATTERN = re.compile(r"\A[A-Za-z0-9_-]{1,128}\Z")
REPLAYED_HEADER = "Idempotent-Replayed"
PROBLEM_JSON = "application/problem+json"
BEARER_CHALLENGE = 'Bearer realm="wiresocket", error="invalid_token"'
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]
_BEARER = re.compile(r"\A[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9_.~+/=-]{1,8192})\Z")

TENANT_ID = Annotated[str, Path(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
USER_ID = Annotated[str, Path(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
APP_ID = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{16,64}$")]
LIMIT = Annotated[int, Query(ge=1, le=MAX_PAGE)]
CURSOR = Annotated[str | None, Query(min_length=1, max_length=MAX_CURSOR)]


# --- edge errors (mapped with the domain's in ``_classify``) ------------------------------------------------


class Unauthenticated(errors.WireSocketError):
    """No usable bearer token (401)."""

    code = "invalid_token"


class Forbidden(errors.WireSocketError):
    """A valid token without the role or scope the route needs (403)."""

    code = "forbidden"


class RateLimited(errors.WireSocketError):
    """Too many requests (429)."""

    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many requests; retry later")
        self.retry_after = retry_after


class MethodNotAllowed(errors.WireSocketError):
    """The path exists, the method does not (405)."""

    code = "method_not_allowed"

    def __init__(self, allowed: list[str]) -> None:
        super().__init__(f"use {', '.join(allowed)}")
        self.allowed = allowed


class PayloadTooLarge(errors.WireSocketError):
    """Body over 64 KiB (413)."""

    code = "payload_too_large"


class UnsupportedMediaType(errors.WireSocketError):
    """A body that is not ``application/json`` (415)."""

    code = "unsupported_media_type"


class MalformedBody(errors.WireSocketError):
    """A body that is not valid UTF-8 JSON (400)."""

    code = "malformed_body"


class UnknownRoute(errors.WireSocketError):
    """No such route (404)."""

    code = "not_found"


class BodyNotAllowed(errors.WireSocketError):
    """A body sent to a route that takes none (422)."""

    code = "invalid_input"


# --- the one place where errors become problems --------------------------------------------------------------


@dataclass(frozen=True)
class ProblemSpec:
    """Status, title, detail, extra headers and validation errors of one problem response."""

    status: int
    title: str
    detail: str
    headers: dict[str, str] = field(default_factory=dict)
    errors: list[dict[str, Any]] | None = None


def _validation_errors(raw: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in list(raw)[:50]:
        loc = [part if isinstance(part, int) else str(part) for part in item.get("loc", ())]
        out.append({"loc": loc, "msg": str(item.get("msg") or item.get("type") or "invalid")[:300]})
    return out


def _classify(exc: BaseException) -> ProblemSpec:
    """Every error the admin surface can meet → its problem. The only such mapping of this surface."""
    from aws_lambda_powertools.utilities.idempotency import exceptions as idem

    if isinstance(exc, Unauthenticated):
        return ProblemSpec(
            401, "Unauthorized", "a valid bearer token is required", {"WWW-Authenticate": BEARER_CHALLENGE}
        )
    if isinstance(exc, Forbidden):
        return ProblemSpec(403, "Forbidden", str(exc) or "not allowed for this principal")
    if isinstance(exc, UnknownRoute | errors.NotFound):
        return ProblemSpec(404, "Not Found", str(exc) or "no such resource")
    if isinstance(exc, MethodNotAllowed):
        return ProblemSpec(405, "Method Not Allowed", str(exc), {"Allow": ", ".join(exc.allowed)})
    if isinstance(exc, PayloadTooLarge):
        return ProblemSpec(413, "Content Too Large", f"the body must be at most {MAX_BODY_BYTES} bytes")
    if isinstance(exc, UnsupportedMediaType | RequestUnsupportedContentType):
        return ProblemSpec(415, "Unsupported Media Type", "send the body as application/json")
    if isinstance(exc, MalformedBody):
        return ProblemSpec(400, "Bad Request", str(exc))
    if isinstance(exc, RateLimited):
        return ProblemSpec(429, "Too Many Requests", str(exc), {"Retry-After": str(exc.retry_after)})
    if isinstance(exc, RequestValidationError):
        found = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in found):
            return ProblemSpec(400, "Bad Request", "the body is not valid JSON")
        return ProblemSpec(422, "Unprocessable Content", "the request is invalid", errors=_validation_errors(found))
    if isinstance(exc, BodyNotAllowed):
        return ProblemSpec(422, "Unprocessable Content", str(exc), errors=[{"loc": ["body"], "msg": str(exc)}])
    if isinstance(exc, errors.InvalidInput):
        return ProblemSpec(422, "Unprocessable Content", str(exc))
    if isinstance(exc, idem.IdempotencyValidationError):
        return ProblemSpec(422, "Unprocessable Content", "this Idempotency-Key was used with a different request")
    if isinstance(exc, idem.IdempotencyAlreadyInProgressError):
        return ProblemSpec(409, "Conflict", "a request with this Idempotency-Key is in progress", {"Retry-After": "1"})
    if isinstance(exc, errors.Conflict):
        return ProblemSpec(409, "Conflict", str(exc))
    if isinstance(exc, errors.DependencyUnavailable | errors.KeyUnavailable | idem.BaseError):
        return ProblemSpec(503, "Service Unavailable", "a dependency is unavailable; retry", {"Retry-After": "1"})
    return ProblemSpec(500, "Internal Server Error", "the request could not be completed")


def problem_body(spec: ProblemSpec) -> dict[str, Any]:
    """The RFC 9457 document of ``spec``."""
    body: dict[str, Any] = {"type": "about:blank", "title": spec.title, "status": spec.status, "detail": spec.detail}
    if spec.errors is not None:
        body["errors"] = spec.errors
    return body


def _log_refusal(exc: BaseException, spec: ProblemSpec) -> None:
    if spec.status >= 500:
        logger.error("admin request failed: %s", type(exc).__name__, exc_info=exc)
    else:
        logger.info("admin request refused: %s (%d)", type(exc).__name__, spec.status)


def problem_response(exc: BaseException) -> Response[Any]:
    """``exc`` as a powertools response (inside the resolver)."""
    spec = _classify(exc)
    _log_refusal(exc, spec)
    body = json.dumps(problem_body(spec), separators=(",", ":"))  # powertools serialises only application/json
    return Response(status_code=spec.status, content_type=PROBLEM_JSON, body=body, headers=spec.headers)


def problem_result(exc: BaseException) -> dict[str, Any]:
    """``exc`` as a proxy result (outside the resolver: routing, size, authorization, rate limit)."""
    spec = _classify(exc)
    _log_refusal(exc, spec)
    return {
        "statusCode": spec.status,
        "multiValueHeaders": {"Content-Type": [PROBLEM_JSON], **{k: [v] for k, v in spec.headers.items()}},
        "body": json.dumps(problem_body(spec), separators=(",", ":")),
        "isBase64Encoded": False,
    }


def finalize(result: dict[str, Any]) -> dict[str, Any]:
    """Headers every response carries: never cached, never sniffed."""
    multi = {str(k): list(v) for k, v in (result.get("multiValueHeaders") or {}).items()}
    for name, value in (result.pop("headers", None) or {}).items():
        multi.setdefault(str(name), []).append(str(value))
    for name, value in (("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")):
        multi = {k: v for k, v in multi.items() if k.lower() != name.lower()}
        multi[name] = [value]
    result["multiValueHeaders"] = multi
    return result


# --- principals and access rules ------------------------------------------------------------------------------


class Access(Enum):
    """Who may call a route."""

    PUBLIC = "public"
    TENANT_READ = "tenant_read"  # GET /admin/...: owner, admin, viewer
    TENANT_ADMIN = "tenant_admin"  # mutating /admin/...: owner, admin
    PLATFORM = "platform"  # /platform/...: operators of the platform tenant


TENANT_ROLES = frozenset({UserRole.OWNER, UserRole.ADMIN, UserRole.VIEWER})
ADMIN_ROLES = frozenset({UserRole.OWNER, UserRole.ADMIN})


@dataclass(frozen=True)
class Principal:
    """The caller, from a verified token and the current user record."""

    tenant_id: str
    user_id: str
    role: UserRole
    scopes: frozenset[str]

    @property
    def actor(self) -> Actor:
        """The audit actor."""
        kind = ActorType.OPERATOR if self.role is UserRole.OPERATOR else ActorType.USER
        return Actor(kind, self.user_id)

    @property
    def subject(self) -> str:
        """Rate-limit and idempotency namespace of this principal."""
        return f"user:{self.tenant_id}:{self.user_id}"


def allowed(access: Access, principal: Principal) -> bool:
    """The role and scope rule of ``docs/admin-api.md`` (the owner-only rule is checked per route)."""
    is_platform = principal.tenant_id == PLATFORM_TENANT_ID
    if access is Access.PLATFORM:
        return is_platform and principal.role is UserRole.OPERATOR and SCOPE_PLATFORM in principal.scopes
    if is_platform or principal.role not in TENANT_ROLES:
        return False
    if access is Access.TENANT_READ:
        return bool({SCOPE_ADMIN, SCOPE_READ} & principal.scopes)
    if access is Access.TENANT_ADMIN:
        return principal.role in ADMIN_ROLES and SCOPE_ADMIN in principal.scopes
    return access is Access.PUBLIC


class VerifiedTokenLike(Protocol):
    """What the gate reads of a verified token."""

    @property
    def user(self) -> User | None: ...

    @property
    def scopes(self) -> frozenset[str]: ...


class Verifier(Protocol):
    """``TokenVerifier``."""

    def verify(self, token: object, audiences: Any, *, required_scope: str | None = None) -> Any: ...


class Limiter(Protocol):
    """``RateLimiter``."""

    def hit(self, policy_name: str, subject: str) -> Decision: ...


@dataclass(frozen=True)
class AdminDependencies:
    """What the admin surface needs, as factories (built on first use, once per container)."""

    service: Callable[[], AdminOperations]
    verifier: Callable[[], Verifier]
    limiter: Callable[[], Limiter]
    user_lookup: Callable[[str, str], User | None]
    idempotency_store: Callable[[], BasePersistenceLayer]
    idempotency_ttl_seconds: Callable[[], int] = lambda: 3600

    @classmethod
    def from_wiring(cls) -> AdminDependencies:
        """The production composition (``wiring``): the admin service, verifier, limiter and stores."""
        import functools

        from wiresocket import wiring

        @functools.cache
        def verifier() -> Verifier:
            from wiresocket.services.verification import TokenVerifier

            s = wiring.admin_settings()
            return TokenVerifier(
                wiring.directory(s.directory_table, s.region), wiring.clock(), issuer_base=s.issuer_base
            )

        def limiter() -> Limiter:
            s = wiring.admin_settings()
            return wiring.rate_limiter(s.rate_limit_table, s.region)

        def user_lookup(tenant_id: str, user_id: str) -> User | None:
            s = wiring.admin_settings()
            return wiring.directory(s.directory_table, s.region).user(tenant_id, user_id)

        @functools.cache
        def idempotency_store() -> BasePersistenceLayer:
            from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

            s = wiring.admin_settings()
            return DynamoDBPersistenceLayer(
                table_name=s.idempotency_table, boto3_client=wiring.dynamodb_client(s.region)
            )

        def service() -> AdminOperations:
            result: AdminOperations = wiring.admin_service()
            return result

        def ttl() -> int:
            return int(wiring.admin_settings().idempotency_ttl_seconds)

        return cls(service, verifier, limiter, user_lookup, idempotency_store, ttl)


# --- the operation table ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One route: method, path rule (``/admin/apps/<appId>``), access, body model (if any)."""

    method: str
    rule: str
    access: Access
    body: type[BaseModel] | None
    pattern: re.Pattern[str]

    @property
    def mutating(self) -> bool:
        """Every method but GET changes something."""
        return self.method != "GET"

    @property
    def openapi_path(self) -> str:
        """The rule in OpenAPI notation (``/admin/apps/{appId}``)."""
        return re.sub(r"<(\w+)>", r"{\1}", self.rule)


def _compile(rule: str) -> re.Pattern[str]:
    return re.compile(
        "^" + re.sub(r"<(\w+)>", r"(?P<\1>[^/]+)", re.escape(rule).replace(r"\<", "<").replace(r"\>", ">")) + "$"
    )


def _problem_responses(*statuses: int) -> dict[int, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    names = {
        400: "Malformed request",
        401: "No or invalid token",
        403: "Role or scope not allowed",
        404: "Not found",
        409: "Conflict",
        413: "Body too large",
        415: "Not JSON",
        422: "Validation failed",
        429: "Rate limited",
        503: "Dependency unavailable",
    }
    return {s: {"description": names[s], "content": {PROBLEM_JSON: {"schema": schema}}} for s in statuses}


def _json(body: BaseModel | dict[str, Any]) -> dict[str, Any]:
    return body.model_dump(mode="json", by_alias=True) if isinstance(body, BaseModel) else body


# Body fields that never reach the idempotency fingerprint (any key containing these words, at any depth).
_FINGERPRINT_EXCLUDED = re.compile(r"password|secret", re.IGNORECASE)


def _fingerprint(value: Any) -> Any:
    """``value`` (a JSON body) without its password/secret fields: what the idempotency payload hash covers.

    powertools stores an unsalted hash of the fingerprint in the idempotency table; a password in it would
    make that hash an offline guessing oracle that bypasses Argon2id (docs/admin-api.md).
    """
    if isinstance(value, dict):
        return {k: _fingerprint(v) for k, v in value.items() if not _FINGERPRINT_EXCLUDED.search(k)}
    if isinstance(value, list):
        return [_fingerprint(v) for v in value]
    return value


class AdminApi:
    """The admin function's whole HTTP surface: gate + powertools resolver + routes."""

    def __init__(self, deps: AdminDependencies) -> None:
        self.deps = deps
        self.app = APIGatewayRestResolver(enable_validation=True)
        self.operations: list[Operation] = []
        self._openapi: str | None = None
        self.app.configure_openapi(
            title=API_TITLE,
            version=API_VERSION,
            description="Tenants, users, apps, plans, keys and audit (docs/admin-api.md).",
            security_schemes={"bearerAuth": HTTPBearer(bearerFormat="JWT")},
        )
        self.app.exception_handler(Exception)(problem_response)
        self.app.not_found(lambda exc: problem_response(UnknownRoute("no such route")))
        self._register_routes()

    # --- entry point -------------------------------------------------------------------------------------------

    def handle(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        """Gate, then powertools; the proxy result with the headers every response carries."""
        try:
            result = self._handle(event, context)
        except Exception as exc:  # fail closed: anything unexpected is a problem response, never a pass
            result = problem_result(exc)
        return finalize(result)

    def _handle(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        method = str(event.get("httpMethod") or "").upper()
        path = str(event.get("path") or "")
        operation = self.match(method, path)
        body = _raw_body(event)
        headers = _headers(event)
        principal = self.authorize(operation, headers)
        _check_body(operation, body, headers)
        self._rate_limit(operation, principal, event)
        self.app.append_context(principal=principal, operation=operation)  # type: ignore[no-untyped-call]
        return self.app.resolve(dict(event), context)

    def match(self, method: str, path: str) -> Operation:
        """The operation for ``method path``; ``UnknownRoute`` (404) or ``MethodNotAllowed`` (405)."""
        methods: list[str] = []
        for operation in self.operations:
            if operation.pattern.match(path):
                if operation.method == method:
                    return operation
                methods.append(operation.method)
        if methods:
            raise MethodNotAllowed(sorted(set(methods)))
        raise UnknownRoute("no such route")

    def authorize(self, operation: Operation, headers: Mapping[str, list[str]]) -> Principal | None:
        """The principal allowed to call ``operation`` (None for public routes); 401/403 otherwise."""
        if operation.access is Access.PUBLIC:
            return None
        values = headers.get("authorization", [])
        found = _BEARER.match(values[0].strip()) if len(values) == 1 else None
        if found is None:
            raise Unauthenticated("missing or malformed bearer token")
        try:
            verified = self.deps.verifier().verify(found.group(1), audiences={AUDIENCE_DASHBOARD})
            user = verified.user
            if user is None or not user.is_active:  # the verifier checks this too; checked again here
                raise Unauthenticated("user not active")
            principal = Principal(user.tenant_id, user.user_id, user.role, frozenset(verified.scopes))
            if str(verified.claims.get("tenantid")) != user.tenant_id:
                raise Unauthenticated("tenant mismatch")
        except (Unauthenticated, errors.DependencyUnavailable):
            raise
        except errors.WireSocketError as exc:  # TokenRejected and friends
            raise Unauthenticated(getattr(exc, "reason", exc.code)) from exc
        except Exception as exc:  # fail closed
            logger.exception("authorization failed unexpectedly")
            raise Unauthenticated("verification failed") from exc
        if not allowed(operation.access, principal):
            raise Forbidden("this route is not allowed for your role")
        return principal

    def _rate_limit(self, operation: Operation, principal: Principal | None, event: Mapping[str, Any]) -> None:
        if principal is None:
            if operation.rule != "/signup":
                return
            identity = (event.get("requestContext") or {}).get("identity") or {}
            policy, subject = SIGNUP_IP, f"ip:{identity.get('sourceIp') or 'unknown'}"
        elif operation.mutating:
            policy, subject = ACCOUNT_MANAGEMENT, principal.subject
        else:
            return
        decision = self.deps.limiter().hit(policy, subject)
        if not decision.allowed:
            raise RateLimited(decision.retry_after)

    # --- helpers used by the routes ------------------------------------------------------------------------------

    def principal(self) -> Principal:
        """The caller of the current (authenticated) request."""
        found = self.app.context.get("principal")
        if not isinstance(found, Principal):  # a route registered without access control: refuse
            raise Unauthenticated("no principal")
        return found

    def service(self) -> AdminOperations:
        """The admin service."""
        return self.deps.service()

    def once(self, payload: BaseModel | None, produce: Callable[[], BaseModel], status: int = 200) -> Response[Any]:
        """Run ``produce`` at most once per ``Idempotency-Key`` (when the header is sent).

        The record's key is principal + method + path + header value; its payload hash is the validated body
        without password/secret fields (``_fingerprint``), so the same key with another body is a 422, but with
        only another password it is a replay. A replay returns the first status and body, and changes
        nothing. One-time secrets (``clientSecret``) are never written to the idempotency table: a replay
        returns them as ``null`` (see docs/admin-api.md).
        """
        event = self.app.current_event
        values = _headers(event.raw_event).get(IDEMPOTENCY_HEADER.lower(), [])
        if not values:
            return Response(status_code=status, content_type="application/json", body=_json(produce()))
        if len(values) > 1 or not IDEMPOTENCY_KEY_PATTERN.match(values[0]):
            raise RequestValidationError(
                [{"loc": ("header", IDEMPOTENCY_HEADER), "msg": "must be 1-128 characters of A-Z a-z 0-9 _ -"}]
            )
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

        found = self.app.context.get("principal")
        identity = (event.raw_event.get("requestContext") or {}).get("identity") or {}
        who = found.subject if isinstance(found, Principal) else f"ip:{identity.get('sourceIp') or 'unknown'}"
        request = {
            "key": "\n".join((who, event.http_method.upper(), event.path, values[0])),
            "body": _fingerprint(_json(payload)) if payload is not None else {},
        }
        fresh: dict[str, Any] = {}

        def run(request: dict[str, Any]) -> dict[str, Any]:
            out = _json(produce())
            if out.get("clientSecret") is not None:
                fresh["clientSecret"] = out["clientSecret"]
                out = {**out, "clientSecret": None}
            fresh["ran"] = True
            return out

        config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="body",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=self.deps.idempotency_ttl_seconds(),
            hash_function="sha256",
        )
        if self.app.lambda_context is not None and hasattr(self.app.lambda_context, "get_remaining_time_in_millis"):
            config.register_lambda_context(self.app.lambda_context)
        once = idempotent_function(
            run,
            data_keyword_argument="request",
            persistence_store=self.deps.idempotency_store(),
            config=config,
            key_prefix="wiresocket-admin",
        )
        stored: dict[str, Any] = once(request=request)
        if fresh.get("ran"):
            body = {**stored, **{k: v for k, v in fresh.items() if k != "ran"}}
            return Response(status_code=status, content_type="application/json", body=body)
        return Response(
            status_code=status, content_type="application/json", body=stored, headers={REPLAYED_HEADER: "true"}
        )

    def guard_owner_rule(self, principal: Principal, user_id: str) -> None:
        """An admin may not change an owner's status (only an owner may)."""
        if principal.role is UserRole.OWNER:
            return
        target = self.deps.user_lookup(principal.tenant_id, user_id)
        if target is not None and target.role is UserRole.OWNER:
            raise Forbidden("only an owner may change an owner's status")

    def openapi_json(self) -> str:
        """The OpenAPI 3.1 document, generated once per container."""
        if self._openapi is None:
            document = json.loads(self.app.get_openapi_json_schema(title=API_TITLE, version=API_VERSION))
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            problem = Problem.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
            schemas.update(problem.pop("$defs", {}))
            schemas["Problem"] = problem
            self._openapi = json.dumps(document, separators=(",", ":"))
        return self._openapi

    # --- routes --------------------------------------------------------------------------------------------------

    def route(
        self,
        method: str,
        rule: str,
        access: Access,
        *,
        body: type[BaseModel] | None = None,
        status: int = 200,
        summary: str,
        errors_: tuple[int, ...] = (),
        include_in_schema: bool = True,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register ``rule`` with powertools and in the gate's operation table (one source for both)."""
        self.operations.append(Operation(method, rule, access, body, _compile(rule)))
        common = (401, 403, 429, 503) if access is not Access.PUBLIC else (429, 503)
        if method != "GET":
            common = (400, 413, 415, *common)
        statuses = sorted({422, *common, *errors_} - ({401, 403} if access is Access.PUBLIC else set()))
        return self.app.route(
            rule,
            method,
            status_code=status,
            summary=summary,
            security=None if access is Access.PUBLIC else SECURITY,
            responses={**_problem_responses(*statuses)} or None,
            include_in_schema=include_in_schema,
            tags=[access.value],
        )

    def _register_routes(self) -> None:  # noqa: PLR0915 - the route table
        api, r = self, self.route
        tenant_out, user_out, plan_out, app_out = (
            TenantOut.from_domain,
            UserOut.from_domain,
            PlanOut.from_domain,
            AppOut.from_domain,
        )

        @r("GET", "/openapi.json", Access.PUBLIC, summary="This OpenAPI document", include_in_schema=False)
        def openapi() -> Response[str]:
            return Response(status_code=200, content_type="application/json", body=api.openapi_json())

        @r("POST", "/signup", Access.PUBLIC, body=SignupRequest, status=201, summary="Sign up a tenant", errors_=(409,))
        def signup(body: SignupRequest) -> SignupOut:
            def go() -> SignupOut:
                tenant, owner = api.service().signup(body.tenant_name, body.owner_username, body.owner_password)
                return SignupOut(tenant_id=tenant.tenant_id, status=tenant.status.value, owner_user_id=owner.user_id)

            return api.once(body, go, 201)  # type: ignore[return-value]

        # --- platform ---
        @r("GET", "/platform/tenants", Access.PLATFORM, summary="List tenants")
        def list_tenants(
            status: Annotated[Literal["pending", "active", "suspended"] | None, Query()] = None,
            limit: LIMIT = DEFAULT_PAGE,
            cursor: CURSOR = None,
        ) -> TenantPage:
            page = api.service().list_tenants(TenantStatus(status) if status else None, limit, cursor)
            return TenantPage(items=[tenant_out(t) for t in page.items], next_cursor=page.next_cursor)

        @r("GET", "/platform/tenants/<tenantId>", Access.PLATFORM, summary="Get a tenant", errors_=(404,))
        def get_tenant(tenantId: TENANT_ID) -> TenantOut:  # noqa: N803 - the path parameter's name
            return tenant_out(api.service().get_tenant(tenantId))

        def changeable(tenant_id: str) -> str:
            # The platform tenant holds the operators: suspending it would lock every operator out for good.
            if tenant_id == PLATFORM_TENANT_ID:
                raise errors.Conflict("the platform tenant's status cannot be changed")
            return tenant_id

        @r("POST", "/platform/tenants/<tenantId>/approve", Access.PLATFORM, summary="Approve", errors_=(404, 409))
        def approve(tenantId: TENANT_ID) -> TenantOut:  # noqa: N803
            return api.once(
                None, lambda: tenant_out(api.service().approve_tenant(changeable(tenantId), api.principal().actor))
            )  # type: ignore[return-value]

        @r(
            "POST",
            "/platform/tenants/<tenantId>/suspend",
            Access.PLATFORM,
            body=ReasonRequest,
            summary="Suspend",
            errors_=(404, 409),
        )
        def suspend(tenantId: TENANT_ID, body: Annotated[ReasonRequest | None, Body()] = None) -> TenantOut:  # noqa: N803
            reason = (body.reason if body else None) or "suspended by operator"
            return api.once(
                body,
                lambda: tenant_out(api.service().suspend_tenant(changeable(tenantId), api.principal().actor, reason)),
            )  # type: ignore[return-value]

        @r("POST", "/platform/tenants/<tenantId>/reactivate", Access.PLATFORM, summary="Reactivate", errors_=(404, 409))
        def reactivate(tenantId: TENANT_ID) -> TenantOut:  # noqa: N803
            return api.once(
                None, lambda: tenant_out(api.service().reactivate_tenant(changeable(tenantId), api.principal().actor))
            )  # type: ignore[return-value]

        @r("GET", "/platform/plans", Access.PLATFORM, summary="List all plans")
        def platform_plans() -> PlanList:
            return PlanList(items=[plan_out(p) for p in api.service().list_plans(include_retired=True)])

        @r(
            "POST",
            "/platform/plans",
            Access.PLATFORM,
            body=CreatePlanRequest,
            status=201,
            summary="Create a plan",
            errors_=(409,),
        )
        def create_plan(body: CreatePlanRequest) -> PlanOut:
            lim = body.limits
            limits = PlanLimits(lim.max_connections, lim.max_documents, lim.max_users_per_doc, lim.ops_per_minute)
            return api.once(
                body,
                lambda: plan_out(api.service().create_plan(body.name, body.free, limits, api.principal().actor)),
                201,
            )  # type: ignore[return-value]

        @r(
            "POST",
            "/platform/master-key/rotate",
            Access.PLATFORM,
            body=MasterKeyRotateRequest,
            summary="Re-wrap every tenant key under the current (or given) master key",
            errors_=(409,),
        )
        def rotate_master_key(body: Annotated[MasterKeyRotateRequest | None, Body()] = None) -> RewrapOut:
            target = body.target_key_id if body else None
            return api.once(
                body, lambda: RewrapOut.from_domain(api.service().rotate_master_key(api.principal().actor, target))
            )  # type: ignore[return-value]

        @r("GET", "/platform/master-key", Access.PLATFORM, summary="Master-key re-wrap progress")
        def master_key_status() -> MasterKeyStatusOut:
            status = api.service().master_key_status()
            return MasterKeyStatusOut(
                current_master_key_id=status.current_master_key_id, keys_by_master_key=dict(status.keys_by_master_key)
            )

        @r("GET", "/platform/audit", Access.PLATFORM, summary="Every audit event, newest first")
        def platform_audit(limit: LIMIT = DEFAULT_PAGE, cursor: CURSOR = None) -> AuditPage:
            page = api.service().list_audit(None, limit, cursor)
            return AuditPage(items=[AuditEventOut.from_domain(e) for e in page.items], next_cursor=page.next_cursor)

        # --- tenant ---
        @r("GET", "/admin/tenant", Access.TENANT_READ, summary="Your tenant")
        def own_tenant() -> TenantOut:
            return tenant_out(api.service().get_tenant(api.principal().tenant_id))

        @r("GET", "/admin/users", Access.TENANT_READ, summary="List users")
        def list_users(limit: LIMIT = DEFAULT_PAGE, cursor: CURSOR = None) -> UserPage:
            page = api.service().list_users(api.principal().tenant_id, limit, cursor)
            return UserPage(items=[user_out(u) for u in page.items], next_cursor=page.next_cursor)

        @r(
            "POST",
            "/admin/users",
            Access.TENANT_ADMIN,
            body=InviteUserRequest,
            status=201,
            summary="Invite a user",
            errors_=(409,),
        )
        def invite_user(body: InviteUserRequest) -> UserOut:
            p = api.principal()
            role = UserRole(body.role)
            return api.once(
                body,
                lambda: user_out(api.service().invite_user(p.tenant_id, body.username, body.password, role, p.actor)),
                201,
            )  # type: ignore[return-value]

        def user_status(user_id: str, enabled: bool) -> Response[Any]:
            p = api.principal()
            api.guard_owner_rule(p, user_id)
            return api.once(
                None, lambda: user_out(api.service().set_user_status(p.tenant_id, user_id, enabled, p.actor))
            )

        @r("POST", "/admin/users/<userId>/disable", Access.TENANT_ADMIN, summary="Disable a user", errors_=(404, 409))
        def disable_user(userId: USER_ID) -> UserOut:  # noqa: N803
            return user_status(userId, False)  # type: ignore[return-value]

        @r("POST", "/admin/users/<userId>/enable", Access.TENANT_ADMIN, summary="Enable a user", errors_=(404, 409))
        def enable_user(userId: USER_ID) -> UserOut:  # noqa: N803
            return user_status(userId, True)  # type: ignore[return-value]

        @r("GET", "/admin/plans", Access.TENANT_READ, summary="Active plans")
        def tenant_plans() -> PlanList:
            return PlanList(items=[plan_out(p) for p in api.service().list_plans(include_retired=False)])

        @r("GET", "/admin/apps", Access.TENANT_READ, summary="List apps")
        def list_apps(limit: LIMIT = DEFAULT_PAGE, cursor: CURSOR = None) -> AppPage:
            page = api.service().list_apps(api.principal().tenant_id, limit, cursor)
            return AppPage(items=[app_out(a) for a in page.items], next_cursor=page.next_cursor)

        @r(
            "POST",
            "/admin/apps",
            Access.TENANT_ADMIN,
            body=CreateAppRequest,
            status=201,
            summary="Create an app (its secret is shown once)",
            errors_=(404, 409),
        )
        def create_app(body: CreateAppRequest) -> AppWithSecretOut:
            p = api.principal()

            def go() -> AppWithSecretOut:
                created = api.service().create_app(
                    p.tenant_id, body.name, body.license_region, list(body.allowed_domains), body.plan_id, p.actor
                )
                return AppWithSecretOut.from_created(created.app, created.client_secret)

            return api.once(body, go, 201)  # type: ignore[return-value]

        @r("GET", "/admin/apps/<appId>", Access.TENANT_READ, summary="Get an app", errors_=(404,))
        def get_app(appId: APP_ID) -> AppOut:  # noqa: N803
            return app_out(api.service().get_app(api.principal().tenant_id, appId))

        @r(
            "POST",
            "/admin/apps/<appId>/secret",
            Access.TENANT_ADMIN,
            summary="Regenerate the secret (shown once)",
            errors_=(404, 409),
        )
        def regenerate_secret(appId: APP_ID) -> AppSecretOut:  # noqa: N803
            p = api.principal()

            def go() -> AppSecretOut:
                created = api.service().regenerate_app_secret(p.tenant_id, appId, p.actor)
                return AppSecretOut(client_id=created.app.client_id, client_secret=created.client_secret)

            return api.once(None, go)  # type: ignore[return-value]

        @r(
            "PUT",
            "/admin/apps/<appId>/domains",
            Access.TENANT_ADMIN,
            body=DomainsRequest,
            summary="Set domains",
            errors_=(404, 409),
        )
        def set_domains(appId: APP_ID, body: DomainsRequest) -> AppOut:  # noqa: N803
            p = api.principal()
            return app_out(api.service().set_app_domains(p.tenant_id, appId, list(body.allowed_domains), p.actor))

        @r(
            "PUT",
            "/admin/apps/<appId>/plan",
            Access.TENANT_ADMIN,
            body=PlanRequest,
            summary="Set the plan",
            errors_=(404, 409),
        )
        def set_plan(appId: APP_ID, body: PlanRequest) -> AppOut:  # noqa: N803
            p = api.principal()
            return app_out(api.service().set_app_plan(p.tenant_id, appId, body.plan_id, p.actor))

        def app_status(app_id: str, enabled: bool) -> Response[Any]:
            p = api.principal()
            return api.once(None, lambda: app_out(api.service().set_app_status(p.tenant_id, app_id, enabled, p.actor)))

        @r("POST", "/admin/apps/<appId>/disable", Access.TENANT_ADMIN, summary="Disable an app", errors_=(404, 409))
        def disable_app(appId: APP_ID) -> AppOut:  # noqa: N803
            return app_status(appId, False)  # type: ignore[return-value]

        @r("POST", "/admin/apps/<appId>/enable", Access.TENANT_ADMIN, summary="Enable an app", errors_=(404, 409))
        def enable_app(appId: APP_ID) -> AppOut:  # noqa: N803
            return app_status(appId, True)  # type: ignore[return-value]

        @r(
            "DELETE",
            "/admin/apps/<appId>",
            Access.TENANT_ADMIN,
            status=204,
            summary="Delete an app",
            errors_=(404, 409),
        )
        def delete_app(appId: APP_ID) -> None:  # noqa: N803
            p = api.principal()
            api.service().delete_app(p.tenant_id, appId, p.actor)
            return Response(status_code=204, content_type=None, body="")  # type: ignore[return-value]

        @r("GET", "/admin/keys", Access.TENANT_READ, summary="List signing keys")
        def list_keys() -> KeyList:
            return KeyList(items=[KeyOut.from_domain(k) for k in api.service().list_keys(api.principal().tenant_id)])

        @r("POST", "/admin/keys/rotate", Access.TENANT_ADMIN, summary="Rotate now", errors_=(409,))
        def rotate_keys() -> RotationOut:
            p = api.principal()
            return api.once(None, lambda: RotationOut.from_domain(api.service().rotate_keys(p.tenant_id, p.actor)))  # type: ignore[return-value]

        @r(
            "POST",
            "/admin/keys/revoke",
            Access.TENANT_ADMIN,
            body=ReasonRequest,
            summary="Emergency revoke",
            errors_=(409,),
        )
        def revoke_keys(body: Annotated[ReasonRequest | None, Body()] = None) -> RevocationOut:
            p = api.principal()
            reason = (body.reason if body else None) or "emergency revocation"
            return api.once(
                body, lambda: RevocationOut.from_domain(api.service().revoke_keys(p.tenant_id, p.actor, reason))
            )  # type: ignore[return-value]

        @r("GET", "/admin/audit", Access.TENANT_READ, summary="Your tenant's audit events, newest first")
        def tenant_audit(limit: LIMIT = DEFAULT_PAGE, cursor: CURSOR = None) -> AuditPage:
            page = api.service().list_audit(api.principal().tenant_id, limit, cursor)
            return AuditPage(items=[AuditEventOut.from_domain(e) for e in page.items], next_cursor=page.next_cursor)


# --- raw event helpers ------------------------------------------------------------------------------------------


def _headers(event: Mapping[str, Any]) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    multi = event.get("multiValueHeaders") or {}
    pairs = multi.items() if multi else ((k, [v]) for k, v in (event.get("headers") or {}).items())
    for name, values in pairs:
        headers.setdefault(str(name).lower(), []).extend(str(v) for v in (values or []))
    return headers


def _raw_body(event: Mapping[str, Any]) -> bytes:
    raw = event.get("body") or ""
    if len(raw) > MAX_BODY_BYTES * 4 // 3 + 4:
        raise PayloadTooLarge("body too large")
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedBody("the body is not valid base64") from exc
    else:
        body = str(raw).encode("utf-8", "surrogatepass")
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge("body too large")
    return body


def _check_body(operation: Operation, body: bytes, headers: Mapping[str, list[str]]) -> None:
    if not body.strip():
        return
    content_types = headers.get("content-type", [])
    media = content_types[0].split(";", 1)[0].strip().lower() if len(content_types) == 1 else ""
    if media != "application/json":
        raise UnsupportedMediaType("send application/json")
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedBody("the body is not valid UTF-8 JSON") from exc
    if operation.body is None and parsed != {}:
        raise BodyNotAllowed("this operation takes no request body")
