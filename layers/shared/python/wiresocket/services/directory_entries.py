"""Creating the directory entries of issue 3: plans, apps, users and the trusted dashboard client, and
regenerating an app's secret (SPEC §2, §3, §6). The admin API (``services.admin``) and the local stack's
seeder call these.

Each creation commits the entity, its uniqueness claims and its audit event in one transaction.
"""

from __future__ import annotations

from wiresocket.domain.apps import (
    App,
    AppStatus,
    new_app_id,
    normalize_domains,
    validate_app_name,
    validate_license_region,
)
from wiresocket.domain.audit import Actor, AuditEvent, DetailType
from wiresocket.domain.clients import DashboardClient
from wiresocket.domain.credentials import (
    generate_client_id,
    generate_client_secret,
    hash_client_secret,
    hash_password,
    validate_new_password,
)
from wiresocket.domain.errors import Conflict, InvalidInput, LeaseLost, NotFound
from wiresocket.domain.ids import validate_tenant_id
from wiresocket.domain.plans import Plan, PlanLimits, PlanStatus, validate_plan_id
from wiresocket.domain.users import User, UserRole, UserStatus, new_user_id, normalize_username
from wiresocket.names import PLATFORM_TENANT_ID
from wiresocket.ports import (
    CheckLease,
    Clock,
    IdentityDirectory,
    Lease,
    PutApp,
    PutDashboardClient,
    PutPlan,
    PutUser,
    RecordAudit,
    ReplaceApp,
    Write,
)
from wiresocket.services.pepper import SecretPepper


class DirectoryEntries:
    """Creates plans, apps, users and dashboard clients; regenerates app secrets."""

    def __init__(self, directory: IdentityDirectory, pepper: SecretPepper, clock: Clock, *, region: str) -> None:
        self._directory = directory
        self._pepper = pepper
        self._clock = clock
        self._region = region

    def _now(self) -> int:
        return int(self._clock.now())

    def _audit(
        self, detail_type: DetailType, actor: Actor, tenant_id: str | None, app_id: str | None = None, **data: object
    ) -> RecordAudit:
        return RecordAudit(
            AuditEvent(
                detail_type=detail_type,
                actor=actor,
                region=self._region,
                occurred_at=self._clock.now(),
                tenant_id=tenant_id,
                app_id=app_id,
                data=data,
            )
        )

    def create_plan(self, plan_id: str, name: str, limits: PlanLimits, *, free: bool = False) -> Plan:
        """A new active plan (platform-wide)."""
        plan = Plan(validate_plan_id(plan_id), name.strip() or plan_id, PlanStatus.ACTIVE, limits, free, self._now())
        self._directory.commit([PutPlan(plan)])
        return plan

    def new_app(
        self,
        tenant_id: str,
        name: str,
        license_region: str,
        allowed_domains: list[str] | tuple[str, ...],
        *,
        plan_id: str | None,
        actor: Actor,
    ) -> tuple[App, str, list[Write]]:
        """A new enabled app, its client secret (returned once, stored only as a keyed hash) and the writes
        that create it with its ``AppCreated`` event, for the caller to commit (alone or with more writes)."""
        validate_tenant_id(tenant_id)
        if tenant_id == PLATFORM_TENANT_ID:
            raise InvalidInput("the platform tenant has no apps")
        app_name = validate_app_name(name)
        region = validate_license_region(license_region)
        domains = normalize_domains(list(allowed_domains))
        tenant = self._directory.get_tenant(tenant_id)
        if tenant is None:
            raise NotFound("no such tenant")
        if plan_id is not None and self._directory.plan(validate_plan_id(plan_id)) is None:
            raise NotFound("no such plan")
        secret = generate_client_secret()
        now = self._now()
        app = App(
            tenant_id=tenant_id,
            app_id=new_app_id(),
            name=app_name,
            client_id=generate_client_id(),
            secret_hash=hash_client_secret(secret, self._pepper.ensure()),
            status=AppStatus.ENABLED,
            license_region=region,
            allowed_domains=domains,
            plan_id=plan_id,
            credential_generation=1,
            created_at=now,
            updated_at=now,
        )
        writes: list[Write] = [
            PutApp(app),
            self._audit(
                DetailType.APP_CREATED,
                actor,
                tenant_id,
                app.app_id,
                name=app.name,
                clientId=app.client_id,
                licenseRegion=app.license_region,
                allowedDomains=list(app.allowed_domains),
                planId=plan_id,
            ),
        ]
        return app, secret, writes

    def create_app(
        self,
        tenant_id: str,
        name: str,
        license_region: str,
        allowed_domains: list[str] | tuple[str, ...],
        *,
        plan_id: str | None,
        actor: Actor,
    ) -> tuple[App, str]:
        """A new enabled app and its client secret (returned once, stored only as a keyed hash)."""
        app, secret, writes = self.new_app(
            tenant_id, name, license_region, allowed_domains, plan_id=plan_id, actor=actor
        )
        self._directory.commit(writes)
        return app, secret

    def regenerate_secret(
        self, tenant_id: str, app_id: str, actor: Actor, *, lease: Lease | None = None
    ) -> tuple[App, str]:
        """A new secret for the app. The old secret stops working at once, and so does every refresh-token
        family of the app: the credential generation moves on, and families of an older one are dead.

        With ``lease`` (the app's lock, held by the caller) the change commits only while it is still held."""
        app = self._directory.app(validate_tenant_id(tenant_id), app_id)
        if app is None:
            raise NotFound("no such app")
        secret = generate_client_secret()
        updated = app.with_secret(hash_client_secret(secret, self._pepper.ensure()), self._now())
        try:
            self._directory.commit(
                [
                    *([CheckLease(lease)] if lease is not None else []),
                    ReplaceApp(updated, expected_generation=app.credential_generation),
                    self._audit(
                        DetailType.APP_SECRET_REGENERATED,
                        actor,
                        tenant_id,
                        app_id,
                        credentialGeneration=updated.credential_generation,
                    ),
                ]
            )
        except LeaseLost:
            raise
        except Conflict as exc:
            raise Conflict("the app's secret was changed concurrently; try again") from exc
        return updated, secret

    def new_user(self, tenant_id: str, username: str, password: str, role: UserRole) -> User:
        """A validated active user with an Argon2id password hash, not yet stored. Operators exist only in the
        platform tenant, and only operators exist there. The password is checked before it is hashed."""
        validate_tenant_id(tenant_id)
        if (role is UserRole.OPERATOR) != (tenant_id == PLATFORM_TENANT_ID):
            raise InvalidInput("operators belong to the platform tenant, and only operators do")
        clean_username = normalize_username(username)
        valid_password = validate_new_password(password)
        now = self._now()
        return User(
            tenant_id=tenant_id,
            user_id=new_user_id(),
            username=clean_username,
            password_hash=hash_password(valid_password),
            role=role,
            status=UserStatus.ACTIVE,
            created_at=now,
            updated_at=now,
        )

    def user_created_event(self, user: User, actor: Actor) -> RecordAudit:
        """The ``UserCreated`` audit write of ``user``."""
        return self._audit(DetailType.USER_CREATED, actor, user.tenant_id, userId=user.user_id, role=user.role.value)

    def create_user(self, tenant_id: str, username: str, password: str, role: UserRole, actor: Actor) -> User:
        """A new active user. Operators exist only in the platform tenant, and only operators exist there."""
        validate_tenant_id(tenant_id)
        if (role is UserRole.OPERATOR) != (tenant_id == PLATFORM_TENANT_ID):
            raise InvalidInput("operators belong to the platform tenant, and only operators do")
        if self._directory.get_tenant(tenant_id) is None:
            raise NotFound("no such tenant")
        user = self.new_user(tenant_id, username, password, role)
        self._directory.commit([PutUser(user), self.user_created_event(user, actor)])
        return user

    def create_dashboard_client(self, name: str) -> tuple[DashboardClient, str]:
        """Register a trusted dashboard client (password grant for humans); returns it and its secret."""
        secret = generate_client_secret()
        client = DashboardClient(
            client_id=generate_client_id(),
            name=name,
            secret_hash=hash_client_secret(secret, self._pepper.ensure()),
            trusted=True,
            enabled=True,
            credential_generation=1,
            created_at=self._now(),
        )
        self._directory.commit([PutDashboardClient(client)])
        return client, secret
