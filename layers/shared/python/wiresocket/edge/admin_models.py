"""Request and response models of the admin and platform API (``docs/admin-api.md``), validated at the edge.

Requests: ``extra="forbid"`` and ``strict=True`` (no silent coercion of ``"1"`` to ``1``), so an unknown
field — a ``licenseRegion`` in ``PUT /admin/apps/{id}/domains`` — is a 422, never ignored. The domain still
validates values (domain normalisation, username shape, password length); these models bound sizes and
shapes so nothing unbounded reaches it.

Responses: built field by field from domain objects (``from_domain``), never from ``asdict``/``**vars``, and
``extra="forbid"``, so a new domain field (a hash, a sealed key) cannot leak by accident. The only secret a
response ever carries is a ``clientSecret`` field of ``AppWithSecretOut``/``AppSecretOut``.
Timestamps are RFC 3339 UTC strings (``2026-01-31T12:00:00Z``), like the audit events' ``occurredAt``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from wiresocket.domain.apps import App
from wiresocket.domain.audit import AuditEvent
from wiresocket.domain.keys import SigningKey
from wiresocket.domain.plans import Plan
from wiresocket.domain.tenants import Tenant
from wiresocket.domain.time import iso_utc
from wiresocket.domain.users import User
from wiresocket.services.keyvault import Revocation, RewrapReport, Rotation

LicenseRegion = Literal[
    "aws-ap-northeast-1", "aws-ap-south-1", "aws-eu-west-1", "aws-us-east-1", "aws-us-east-2", "aws-us-west-2"
]
PlanId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Domain = Annotated[str, Field(min_length=1, max_length=270)]
Username = Annotated[str, Field(min_length=3, max_length=254)]
Password = Annotated[str, Field(min_length=1, max_length=256)]
Reason = Annotated[str, Field(min_length=1, max_length=500)]
Limit = Annotated[int, Field(ge=0, le=1_000_000_000)]


class RequestModel(BaseModel):
    """Strict JSON input: camelCase names, unknown fields refused, no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True, alias_generator=to_camel, populate_by_name=False)


class ResponseModel(BaseModel):
    """Output: camelCase names, and nothing but the declared fields."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


def _iso(epoch: int | float | None) -> str | None:
    return None if epoch is None else iso_utc(epoch)


# --- requests ------------------------------------------------------------------------------------------------


class SignupRequest(RequestModel):
    """``POST /signup``."""

    tenant_name: Annotated[str, Field(min_length=1, max_length=128)]
    owner_username: Username
    owner_password: Password


class ReasonRequest(RequestModel):
    """``POST /platform/tenants/{id}/suspend`` and ``POST /admin/keys/revoke``: an optional reason."""

    reason: Reason | None = None


class PlanLimitsModel(RequestModel):
    """A plan's data-plane limits (also the response shape)."""

    max_connections: Limit
    max_documents: Limit
    max_users_per_doc: Limit
    ops_per_minute: Limit


class CreatePlanRequest(RequestModel):
    """``POST /platform/plans``."""

    name: Annotated[str, Field(min_length=1, max_length=128)]
    free: bool
    limits: PlanLimitsModel


class MasterKeyRotateRequest(RequestModel):
    """``POST /platform/master-key/rotate``."""

    target_key_id: Annotated[str, Field(min_length=1, max_length=2048)] | None = None


class InviteUserRequest(RequestModel):
    """``POST /admin/users``: owners are never invited (there is one, from signup)."""

    username: Username
    password: Password
    role: Literal["admin", "viewer"]


class CreateAppRequest(RequestModel):
    """``POST /admin/apps``."""

    name: Annotated[str, Field(min_length=1, max_length=128)]
    license_region: LicenseRegion
    allowed_domains: Annotated[list[Domain], Field(max_length=3)]
    plan_id: PlanId


class DomainsRequest(RequestModel):
    """``PUT /admin/apps/{id}/domains``: the domains and nothing else (the license region is immutable)."""

    allowed_domains: Annotated[list[Domain], Field(max_length=3)]


class PlanRequest(RequestModel):
    """``PUT /admin/apps/{id}/plan``."""

    plan_id: PlanId


# --- responses -----------------------------------------------------------------------------------------------


class TenantOut(ResponseModel):
    """A tenant."""

    tenant_id: str
    name: str
    status: Literal["pending", "active", "suspended"]
    created_at: str
    updated_at: str

    @classmethod
    def from_domain(cls, tenant: Tenant) -> TenantOut:
        """From the domain object."""
        return cls(
            tenant_id=tenant.tenant_id,
            name=tenant.name,
            status=tenant.status.value,
            created_at=iso_utc(tenant.created_at),
            updated_at=iso_utc(tenant.updated_at),
        )


class TenantPage(ResponseModel):
    """A page of tenants."""

    items: list[TenantOut]
    next_cursor: str | None


class SignupOut(ResponseModel):
    """``POST /signup``: the pending tenant and its owner's id."""

    tenant_id: str
    status: Literal["pending", "active", "suspended"]
    owner_user_id: str


class UserOut(ResponseModel):
    """A user — never a password hash."""

    user_id: str
    tenant_id: str
    username: str
    role: Literal["owner", "admin", "viewer", "operator"]
    status: Literal["active", "disabled"]
    created_at: str
    updated_at: str

    @classmethod
    def from_domain(cls, user: User) -> UserOut:
        """From the domain object (its ``password_hash`` is left behind)."""
        return cls(
            user_id=user.user_id,
            tenant_id=user.tenant_id,
            username=user.username,
            role=user.role.value,
            status=user.status.value,
            created_at=iso_utc(user.created_at),
            updated_at=iso_utc(user.updated_at),
        )


class UserPage(ResponseModel):
    """A page of users."""

    items: list[UserOut]
    next_cursor: str | None


class PlanLimitsOut(ResponseModel):
    """A plan's limits."""

    max_connections: int
    max_documents: int
    max_users_per_doc: int
    ops_per_minute: int


class PlanOut(ResponseModel):
    """A plan."""

    plan_id: str
    name: str
    status: Literal["active", "retired"]
    free: bool
    limits: PlanLimitsOut
    created_at: str

    @classmethod
    def from_domain(cls, plan: Plan) -> PlanOut:
        """From the domain object."""
        limits = plan.limits
        return cls(
            plan_id=plan.plan_id,
            name=plan.name,
            status=plan.status.value,
            free=plan.free,
            limits=PlanLimitsOut(
                max_connections=limits.max_connections,
                max_documents=limits.max_documents,
                max_users_per_doc=limits.max_users_per_doc,
                ops_per_minute=limits.ops_per_minute,
            ),
            created_at=iso_utc(plan.created_at),
        )


class PlanList(ResponseModel):
    """All plans (few; not paginated)."""

    items: list[PlanOut]
    next_cursor: None = None


class AppOut(ResponseModel):
    """An app — never its secret or the secret's hash."""

    app_id: str
    tenant_id: str
    name: str
    client_id: str
    status: Literal["enabled", "disabled"]
    license_region: str
    allowed_domains: list[str]
    plan_id: str | None
    created_at: str
    updated_at: str

    @classmethod
    def from_domain(cls, app: App) -> AppOut:
        """From the domain object (its ``secret_hash`` is left behind)."""
        return cls(**_app_fields(app))


def _app_fields(app: App) -> dict[str, Any]:
    return {
        "app_id": app.app_id,
        "tenant_id": app.tenant_id,
        "name": app.name,
        "client_id": app.client_id,
        "status": app.status.value,
        "license_region": app.license_region,
        "allowed_domains": list(app.allowed_domains),
        "plan_id": app.plan_id,
        "created_at": iso_utc(app.created_at),
        "updated_at": iso_utc(app.updated_at),
    }


class AppWithSecretOut(AppOut):
    """``POST /admin/apps``: the new app and its secret, shown once (``null`` on an idempotent replay)."""

    client_secret: str | None

    @classmethod
    def from_created(cls, app: App, client_secret: str) -> AppWithSecretOut:
        """The app plus its one-time secret."""
        return cls(**_app_fields(app), client_secret=client_secret)


class AppSecretOut(ResponseModel):
    """``POST /admin/apps/{id}/secret``: the new secret, shown once (``null`` on an idempotent replay)."""

    client_id: str
    client_secret: str | None


class AppPage(ResponseModel):
    """A page of apps."""

    items: list[AppOut]
    next_cursor: str | None


class KeyOut(ResponseModel):
    """A signing key's public lifecycle facts — never key material."""

    kid: str
    state: Literal["next", "active", "retiring", "retired", "revoked"]
    created_at: str
    activated_at: str | None
    retire_after: str | None
    ended_at: str | None

    @classmethod
    def from_domain(cls, key: SigningKey) -> KeyOut:
        """From the domain object (its sealed private key is left behind)."""
        return cls(
            kid=key.kid,
            state=key.state.value,
            created_at=iso_utc(key.created_at),
            activated_at=_iso(key.activated_at),
            retire_after=_iso(key.retire_after),
            ended_at=_iso(key.ended_at),
        )


class KeyList(ResponseModel):
    """A tenant's keys (few; not paginated)."""

    items: list[KeyOut]
    next_cursor: None = None


class RotationOut(ResponseModel):
    """What a rotation did."""

    retiring_kid: str
    active_kid: str
    next_kid: str
    retire_after: str

    @classmethod
    def from_domain(cls, rotation: Rotation) -> RotationOut:
        """From the service result."""
        return cls(
            retiring_kid=rotation.retiring_kid,
            active_kid=rotation.active_kid,
            next_kid=rotation.next_kid,
            retire_after=iso_utc(rotation.retire_after),
        )


class RevocationOut(ResponseModel):
    """What an emergency revocation did."""

    revoked_kids: list[str]
    active_kid: str
    next_kid: str

    @classmethod
    def from_domain(cls, revocation: Revocation) -> RevocationOut:
        """From the service result."""
        return cls(
            revoked_kids=list(revocation.revoked_kids),
            active_kid=revocation.active_kid,
            next_kid=revocation.next_kid,
        )


class RewrapOut(ResponseModel):
    """``POST /platform/master-key/rotate``: the re-wrap report."""

    target_master_key_id: str
    total: int
    rewrapped: int
    already_current: int
    skipped: list[str]
    complete: bool
    """False when the run stopped at its time budget: call again with the current key as ``targetKeyId``."""

    @classmethod
    def from_domain(cls, report: RewrapReport) -> RewrapOut:
        """From the service result."""
        return cls(
            target_master_key_id=report.target_master_key_id,
            total=report.total,
            rewrapped=report.rewrapped,
            already_current=report.already_current,
            skipped=list(report.skipped),
            complete=report.complete,
        )


class MasterKeyStatusOut(ResponseModel):
    """``GET /platform/master-key``: re-wrap progress."""

    current_master_key_id: str
    keys_by_master_key: dict[str, int]


class ActorOut(ResponseModel):
    """Who caused an event."""

    type: str
    id: str


class AuditEventOut(ResponseModel):
    """An audit event as it went on the bus: ``detailType`` plus the EventBridge detail."""

    event_id: str
    detail_type: str
    occurred_at: str
    actor: ActorOut
    tenant_id: str | None
    app_id: str | None
    region: str
    data: dict[str, Any]

    @classmethod
    def from_domain(cls, event: AuditEvent) -> AuditEventOut:
        """From the domain event (which never carries a secret: ``AuditEvent`` refuses to hold one)."""
        return cls(
            event_id=event.event_id,
            detail_type=event.detail_type.value,
            occurred_at=iso_utc(event.occurred_at),
            actor=ActorOut(type=event.actor.type.value, id=event.actor.id),
            tenant_id=event.tenant_id,
            app_id=event.app_id,
            region=event.region,
            data=dict(event.data),
        )


class AuditPage(ResponseModel):
    """A page of audit events, newest first."""

    items: list[AuditEventOut]
    next_cursor: str | None


class ValidationErrorItem(ResponseModel):
    """One validation failure: where (``loc``) and what (``msg``)."""

    loc: list[str | int]
    msg: str


class Problem(ResponseModel):
    """RFC 9457 problem details (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ValidationErrorItem] | None = None
