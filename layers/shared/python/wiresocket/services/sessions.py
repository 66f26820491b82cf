"""Ending live data-plane sessions (SPEC §8 "Termination"): revoking keys, suspending a tenant, disabling or
deleting an app closes every matching live connection in every region, at once.

The registry lives in each app's license region, so a tenant's connections are found by asking every
license region's table (all at once); each connection is closed through the ``@connections`` management API of
the WebSocket API that holds it (its ``endpoint``), all in parallel. A 410 means the connection was already
gone: its stale entry is removed and it is not counted. One ``SessionsTerminated`` event records the count.

Human (dashboard) tokens can never open a data-plane connection (``aud`` must be ``WireSocket.API``), so a
user scope finds none; the event is still recorded so the audit trail shows the request was honoured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from wiresocket.domain.audit import Actor, AuditEvent, DetailType
from wiresocket.domain.connections import ConnectionRecord
from wiresocket.domain.ids import is_tenant_id
from wiresocket.names import LICENSE_REGIONS
from wiresocket.ports import Clock, Directory, RecordAudit
from wiresocket.services.admin_contract import TerminationScope
from wiresocket.services.connections import ConnectionRegistry
from wiresocket.services.outbox import publish_after_commit

logger = logging.getLogger(__name__)


class ConnectionCloser(Protocol):
    """The ``@connections`` management API."""

    def close(self, endpoint: str, connection_id: str, region: str) -> bool:
        """Close the connection held by the WebSocket API at ``endpoint`` in ``region``: True if it was live,
        False if it was already gone (410). Raises on other failures."""
        ...


@dataclass(frozen=True)
class TerminationReport:
    """What one termination did."""

    found: int
    closed: int
    already_gone: int
    failed: int


class SessionTerminationService:
    """Implements ``admin_contract.SessionTerminator`` over the registry and the management API."""

    def __init__(
        self,
        registry: ConnectionRegistry,
        closer: ConnectionCloser,
        directory: Directory,
        clock: Clock,
        *,
        region: str,
        license_regions: Sequence[str] = LICENSE_REGIONS,
        max_workers: int = 32,
        on_commit: Callable[[], object] | None = None,
        only_ws_region: str | None = None,
        record_empty: bool = True,
    ) -> None:
        self._only_ws_region = only_ws_region
        self._record_empty = record_empty
        self._registry = registry
        self._closer = closer
        self._directory = directory
        self._clock = clock
        self._region = region
        self._license_regions = tuple(license_regions)
        self._max_workers = max_workers
        self._on_commit = on_commit
        self.last_report: TerminationReport | None = None

    def _region_records(self, scope: TerminationScope, license_region: str) -> list[ConnectionRecord] | None:
        """The scope's registry entries in one license region; None if that region's registry is unreachable."""
        try:
            return list(
                self._registry.by_app(license_region, scope.tenant_id, scope.app_id)
                if scope.app_id is not None
                else self._registry.by_tenant(license_region, scope.tenant_id)
            )
        except Exception:
            # One region's registry down (or not deployed) must not stop the others from being closed; the
            # region is reported in the event, and its own terminator and per-message checks still act.
            logger.warning("connection registry of %s unreachable during termination", license_region)
            return None

    def _matching(self, scope: TerminationScope) -> tuple[list[ConnectionRecord], list[str]]:
        """The live connections in ``scope`` and the license regions whose registry could not be read. The
        regions are queried in parallel: from one region, the farthest registry is a few hundred ms away, and
        revocation must end every session "at once" (SPEC §8)."""
        if scope.user_id is not None and scope.app_id is None:
            return [], []  # human tokens never hold data-plane connections
        regions = self._license_regions
        with ThreadPoolExecutor(max_workers=max(1, len(regions))) as pool:
            per_region = list(pool.map(lambda region: self._region_records(scope, region), regions))
        found: dict[tuple[str, str], ConnectionRecord] = {}
        unreachable: list[str] = []
        for license_region, records in zip(regions, per_region, strict=True):
            if records is None:
                unreachable.append(license_region)
                continue
            for record in records:
                if self._only_ws_region is not None and record.ws_region != self._only_ws_region:
                    continue  # a regional backstop closes only what its own WebSocket API holds
                if record.tenant_id == scope.tenant_id:  # belt and braces: never another tenant's
                    found[(record.ws_region, record.connection_id)] = record
        return list(found.values()), unreachable

    def _close_one(self, record: ConnectionRecord) -> str:
        try:
            live = self._closer.close(record.endpoint, record.connection_id, record.ws_region)
        except Exception:  # one failure must not stop the others; reported and counted
            logger.warning("could not close connection %s in %s", record.connection_id, record.ws_region)
            return "failed"
        try:
            self._registry.delete(record.license_region, record.key)
        except Exception:  # $disconnect or the TTL removes it; the close is what matters
            logger.warning("could not remove registry entry of %s", record.connection_id)
        return "closed" if live else "gone"

    def terminate(self, scope: TerminationScope, reason: str, actor: Actor) -> int:
        """Close every live connection in ``scope`` in every region; returns how many were closed."""
        records, unreachable = self._matching(scope)
        outcomes: list[str] = []
        if records:
            with ThreadPoolExecutor(max_workers=min(self._max_workers, len(records))) as pool:
                outcomes = list(pool.map(self._close_one, records))
        report = TerminationReport(
            found=len(records),
            closed=outcomes.count("closed"),
            already_gone=outcomes.count("gone"),
            failed=outcomes.count("failed"),
        )
        self.last_report = report
        if not records and not self._record_empty:
            return 0  # the backstop found nothing left to close: no event (the primary termination has one)
        data: dict[str, object] = {
            "count": report.closed,
            "alreadyGone": report.already_gone,
            "failed": report.failed,
            "reason": reason,
            "regions": sorted({r.ws_region for r in records}),
        }
        if unreachable:
            data["unreachableRegions"] = sorted(unreachable)
        if scope.user_id is not None:
            data["userId"] = scope.user_id
        event = AuditEvent(
            detail_type=DetailType.SESSIONS_TERMINATED,
            actor=actor,
            region=self._region,
            occurred_at=self._clock.now(),
            tenant_id=scope.tenant_id,
            app_id=scope.app_id,
            data=data,
        )
        self._directory.commit([RecordAudit(event)])
        publish_after_commit(self._on_commit)
        return report.closed


# --- the event-driven backstop (regional terminator) --------------------------------------------------------


def scope_from_event(detail_type: str, detail: Mapping[str, object]) -> tuple[TerminationScope, str] | None:
    """The sessions an audit event ends, with a reason; None for events that end none.

    ``SigningKeyRevoked`` and a tenant leaving ``active`` end the tenant's sessions; an app disabled or deleted
    ends the app's. Anything malformed ends nothing (the admin API's own termination already ran).
    """
    tenant_id = detail.get("tenantId")
    if not isinstance(tenant_id, str) or not is_tenant_id(tenant_id):
        return None
    app_id = detail.get("appId")
    if detail_type == DetailType.SIGNING_KEY_REVOKED.value:
        return TerminationScope(tenant_id), "signing keys revoked"
    if detail_type == DetailType.TENANT_STATUS_CHANGED.value and detail.get("status") == "suspended":
        return TerminationScope(tenant_id), "tenant suspended"
    if isinstance(app_id, str) and app_id:
        if detail_type == DetailType.APP_DELETED.value:
            return TerminationScope(tenant_id, app_id=app_id), "app deleted"
        if detail_type == DetailType.APP_STATUS_CHANGED.value and detail.get("status") == "disabled":
            return TerminationScope(tenant_id, app_id=app_id), "app disabled"
    return None
