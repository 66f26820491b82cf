"""Scheduled key maintenance (SPEC §5): retire keys past their grace period and rotate keys that are due.

For every tenant the directory lists as ``active`` (the platform tenant included) and every ``suspended`` one:

1. retire its ``retiring`` keys whose grace period has ended (their private material is dropped) — suspended
   tenants too, so no private key outlives its grace because its tenant was suspended;
2. (active tenants only) rotate when the active key has signed for ``rotation_days`` or longer *and* the
   ``next`` key has been published for at least one JWKS cache lifetime (otherwise it waits for the next run).

Each tenant is handled on its own: a held lock (an admin rotating at the same moment), a dependency hiccup or
anything unexpected is recorded for that tenant and the job moves on to the next one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from wiresocket.domain.audit import SYSTEM_ACTOR, Actor
from wiresocket.domain.errors import LockBusy, WireSocketError
from wiresocket.domain.tenants import Tenant, TenantStatus
from wiresocket.ports import AdminDirectory, Clock
from wiresocket.services.keyvault import KeyVault

logger = logging.getLogger(__name__)

DAY_SECONDS = 24 * 3600
PAGE_SIZE = 100


@dataclass
class TenantMaintenance:
    """What the job did for one tenant. ``error`` is an error *code* (never a message), or None."""

    tenant_id: str
    retired: list[str] = field(default_factory=list)
    rotated_to: str | None = None
    error: str | None = None


@dataclass
class MaintenanceReport:
    """The whole run, tenant by tenant."""

    tenants: list[TenantMaintenance] = field(default_factory=list)

    @property
    def rotated(self) -> int:
        """How many tenants had their keys rotated."""
        return sum(1 for t in self.tenants if t.rotated_to is not None)

    @property
    def retired(self) -> int:
        """How many keys were retired."""
        return sum(len(t.retired) for t in self.tenants)

    @property
    def busy(self) -> int:
        """Tenants skipped because their key lock was held (they are simply done on the next run)."""
        return sum(1 for t in self.tenants if t.error == LockBusy.code)

    @property
    def failed(self) -> int:
        """Tenants that failed for any other reason."""
        return sum(1 for t in self.tenants if t.error is not None and t.error != LockBusy.code)

    def summary(self) -> dict[str, int]:
        """Counts for logs and the handler's result."""
        return {
            "tenants": len(self.tenants),
            "rotated": self.rotated,
            "retired": self.retired,
            "busy": self.busy,
            "failed": self.failed,
        }


class KeyMaintenance:
    """The scheduled job over every tenant the directory lists."""

    def __init__(
        self,
        directory: AdminDirectory,
        vault: KeyVault,
        clock: Clock,
        *,
        rotation_days: int = 30,
        actor: Actor = SYSTEM_ACTOR,
    ) -> None:
        if rotation_days < 1:
            raise ValueError("rotation_days must be at least 1")
        self._directory = directory
        self._vault = vault
        self._clock = clock
        self._rotation_seconds = rotation_days * DAY_SECONDS
        self._actor = actor

    def _tenants(self, status: TenantStatus) -> list[Tenant]:
        tenants: list[Tenant] = []
        start: dict[str, str] | None = None
        while True:
            page = self._directory.list_tenants(status, PAGE_SIZE, start)
            tenants.extend(page.items)
            if page.next_start is None:
                return tenants
            start = page.next_start

    def run(self) -> MaintenanceReport:
        """One pass over every active and suspended tenant."""
        report = MaintenanceReport()
        for status in (TenantStatus.ACTIVE, TenantStatus.SUSPENDED):
            for tenant in self._tenants(status):
                report.tenants.append(self._maintain(tenant))
        logger.info("key maintenance run", extra=report.summary())
        return report

    def _maintain(self, tenant: Tenant) -> TenantMaintenance:
        outcome = TenantMaintenance(tenant.tenant_id)
        try:
            # One lock and one read of the tenant's keys: retire, then rotate if due (the vault's rule, the same
            # one ``rotate`` enforces, with the next key's minimum age from the vault's own policy).
            outcome.retired, rotation = self._vault.maintain(
                tenant.tenant_id, self._actor, rotation_seconds=self._rotation_seconds
            )
            outcome.rotated_to = rotation.active_kid if rotation is not None else None
        except WireSocketError as exc:
            outcome.error = exc.code
            logger.warning(
                "key maintenance of a tenant failed", extra={"tenant_id": tenant.tenant_id, "error": exc.code}
            )
        except Exception as exc:  # one tenant's surprise must not stop the others
            outcome.error = "internal_error"
            logger.error(
                "key maintenance of a tenant failed unexpectedly",
                extra={"tenant_id": tenant.tenant_id, "error": type(exc).__name__},
            )
        return outcome
