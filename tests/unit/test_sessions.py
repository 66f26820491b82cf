"""Session termination over an in-memory registry and a fake @connections API."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from tests.fakes.memory import FakeClock, MemoryStore
from wiresocket.domain.audit import Actor, ActorType, DetailType
from wiresocket.domain.connections import ConnectionRecord
from wiresocket.names import LICENSE_REGIONS
from wiresocket.services.admin_contract import TerminationScope
from wiresocket.services.sessions import SessionTerminationService

A = "0b7c6c5e-8c1f-4a57-9e5e-3f2a1b0c9d8e"
B = "5f0e7d2c-1a3b-4c5d-8e9f-0a1b2c3d4e5f"
ACTOR = Actor(ActorType.USER, "owner")


class MemoryRegistry:
    """The ConnectionRegistry port over a dict per license region."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, ConnectionRecord]] = {}
        self._lock = threading.Lock()

    def put(self, record: ConnectionRecord) -> None:
        with self._lock:
            self.tables.setdefault(record.license_region, {})[record.key] = record

    def delete(self, license_region: str, key: str) -> None:
        with self._lock:
            self.tables.get(license_region, {}).pop(key, None)

    def by_tenant(self, license_region: str, tenant_id: str) -> Iterator[ConnectionRecord]:
        yield from [r for r in self.tables.get(license_region, {}).values() if r.tenant_id == tenant_id]

    def by_app(self, license_region: str, tenant_id: str, app_id: str) -> Iterator[ConnectionRecord]:
        yield from [r for r in self.by_tenant(license_region, tenant_id) if r.app_id == app_id]

    def by_document(
        self, license_region: str, tenant_id: str, app_id: str, document: str
    ) -> Iterator[ConnectionRecord]:
        yield from [r for r in self.by_app(license_region, tenant_id, app_id) if r.document == document]

    def count(self, tenant_id: str) -> int:
        return sum(1 for t in self.tables.values() for r in t.values() if r.tenant_id == tenant_id)


class FakeCloser:
    """Live connections by (endpoint, id); unknown ids answer 'gone'; one id can be made to fail."""

    def __init__(self) -> None:
        self.live: set[tuple[str, str]] = set()
        self.closed: list[str] = []
        self.broken: set[str] = set()
        self._lock = threading.Lock()

    def close(self, endpoint: str, connection_id: str, region: str) -> bool:
        if connection_id in self.broken:
            raise ConnectionError("management API unreachable")
        with self._lock:
            if (endpoint, connection_id) not in self.live:
                return False
            self.live.discard((endpoint, connection_id))
            self.closed.append(connection_id)
            return True


def record(tenant: str, app: str, n: int, license_region: str, ws_region: str = "eu-west-1") -> ConnectionRecord:
    return ConnectionRecord(
        connection_id=f"{tenant[:4]}-{app}-{n}",
        ws_region=ws_region,
        endpoint=f"https://{ws_region}/local",
        tenant_id=tenant,
        app_id=app,
        kid="k" * 24,
        document="doc",
        license_region=license_region,
        connected_at=0,
        token_exp=900,
        expires_at=9000,
    )


def world() -> tuple[SessionTerminationService, MemoryRegistry, FakeCloser, MemoryStore]:
    registry, closer, store = MemoryRegistry(), FakeCloser(), MemoryStore()
    service = SessionTerminationService(registry, closer, store, FakeClock(), region="eu-west-1")
    # Tenant A: 3 connections of app a1 licensed in eu-west-1 (held by two WebSocket regions), 2 of a2 in
    # us-east-1. Tenant B: 3 connections.
    for i in range(3):
        registry.put(record(A, "a1", i, "aws-eu-west-1", ws_region="eu-west-1" if i else "us-east-1"))
    for i in range(2):
        registry.put(record(A, "a2", i, "aws-us-east-1"))
    for i in range(3):
        registry.put(record(B, "b1", i, "aws-eu-west-1"))
    for table in registry.tables.values():
        for r in table.values():
            closer.live.add((r.endpoint, r.connection_id))
    return service, registry, closer, store


def events(store: MemoryStore) -> list[dict[str, object]]:
    return [
        dict(e.data) | {"tenant": e.tenant_id, "app": e.app_id}
        for e in store.events.values()
        if e.detail_type is DetailType.SESSIONS_TERMINATED
    ]


def test_tenant_termination_closes_every_connection_of_the_tenant_in_every_region_and_none_of_another() -> None:
    service, registry, closer, store = world()
    # When tenant A's sessions are terminated
    count = service.terminate(TerminationScope(A), "keys revoked", ACTOR)
    # Then all 5 of A's connections (two license regions, two WebSocket regions) are closed, B's are not
    assert count == 5
    assert sorted(closer.closed) == sorted(f"{A[:4]}-{app}-{i}" for app, n in (("a1", 3), ("a2", 2)) for i in range(n))
    assert registry.count(A) == 0 and registry.count(B) == 3
    # And one SessionsTerminated event reports the count
    [event] = events(store)
    assert event["count"] == 5 and event["tenant"] == A and event["regions"] == ["eu-west-1", "us-east-1"]


def test_app_termination_closes_only_that_apps_connections() -> None:
    service, registry, _closer, store = world()
    assert service.terminate(TerminationScope(A, app_id="a2"), "app disabled", ACTOR) == 2
    assert registry.count(A) == 3
    assert events(store)[0]["app"] == "a2"


def test_already_gone_connections_are_removed_and_not_counted() -> None:
    # Given two of A's connections already gone (the API would answer 410)
    service, registry, closer, _ = world()
    closer.live = {x for x in closer.live if not x[1].endswith("a1-1") and not x[1].endswith("a1-2")}
    # When terminating / Then only the 3 live ones count, and every stale entry is gone from the registry
    assert service.terminate(TerminationScope(A), "suspended", ACTOR) == 3
    assert service.last_report is not None and service.last_report.already_gone == 2
    assert registry.count(A) == 0


def test_a_failing_close_does_not_stop_the_others_and_is_reported() -> None:
    service, registry, closer, store = world()
    closer.broken = {f"{A[:4]}-a2-0"}
    assert service.terminate(TerminationScope(A), "revoked", ACTOR) == 4
    assert service.last_report is not None and service.last_report.failed == 1
    assert events(store)[0]["failed"] == 1
    assert registry.count(A) == 1  # the one we could not close stays registered (found again next time)


def test_user_scope_finds_no_data_plane_sessions_but_is_recorded() -> None:
    service, registry, _, store = world()
    assert service.terminate(TerminationScope(A, user_id="u1"), "user disabled", ACTOR) == 0
    assert registry.count(A) == 5
    [event] = events(store)
    assert event["count"] == 0 and event["userId"] == "u1"


def test_a_regional_backstop_closes_only_connections_held_by_its_own_websocket_api() -> None:
    registry, closer, store = MemoryRegistry(), FakeCloser(), MemoryStore()
    for i, ws_region in enumerate(["eu-west-1", "us-east-1", "eu-west-1"]):
        r = record(A, "a1", i, "aws-eu-west-1", ws_region=ws_region)
        registry.put(r)
        closer.live.add((r.endpoint, r.connection_id))
    backstop = SessionTerminationService(
        registry, closer, store, FakeClock(), region="us-east-1", only_ws_region="us-east-1", record_empty=False
    )
    assert backstop.terminate(TerminationScope(A), "revoked", ACTOR) == 1
    assert registry.count(A) == 2
    # And when nothing is left to close, it records no event (the primary termination has one)
    assert backstop.terminate(TerminationScope(A), "revoked", ACTOR) == 0
    assert len(events(store)) == 1


def test_events_map_to_the_scopes_they_end() -> None:
    from wiresocket.services.sessions import scope_from_event

    assert scope_from_event("SigningKeyRevoked", {"tenantId": A}) == (TerminationScope(A), "signing keys revoked")
    assert scope_from_event("TenantStatusChanged", {"tenantId": A, "status": "suspended"}) is not None
    assert scope_from_event("TenantStatusChanged", {"tenantId": A, "status": "active"}) is None
    assert scope_from_event("AppStatusChanged", {"tenantId": A, "appId": "x", "status": "disabled"}) == (
        TerminationScope(A, app_id="x"),
        "app disabled",
    )
    assert scope_from_event("AppStatusChanged", {"tenantId": A, "appId": "x", "status": "enabled"}) is None
    assert scope_from_event("AppDeleted", {"tenantId": A, "appId": "x"}) is not None
    # Malformed or foreign events end nothing
    for detail_type, detail in [
        ("SigningKeyRevoked", {}),
        ("SigningKeyRevoked", {"tenantId": "../x"}),
        ("AppDeleted", {"tenantId": A}),
        ("UserCreated", {"tenantId": A}),
    ]:
        assert scope_from_event(detail_type, detail) is None


def test_an_unreachable_region_does_not_stop_the_others_and_is_reported() -> None:
    service, registry, _closer, store = world()
    real = registry.by_tenant

    def flaky(license_region: str, tenant_id: str) -> Iterator[ConnectionRecord]:
        if license_region == "aws-us-east-1":
            raise ConnectionError("region unreachable")
        return real(license_region, tenant_id)

    registry.by_tenant = flaky  # type: ignore[method-assign]
    # When one license region's registry cannot be read / Then the others' connections are still closed
    assert service.terminate(TerminationScope(A), "revoked", ACTOR) == 3
    [event] = events(store)
    assert event["unreachableRegions"] == ["aws-us-east-1"]


def test_the_license_regions_are_asked_all_at_once() -> None:
    service, registry, _closer, store = world()
    real = registry.by_tenant
    everyone_in = threading.Barrier(len(LICENSE_REGIONS), timeout=5)

    def waits_for_every_region(license_region: str, tenant_id: str) -> Iterator[ConnectionRecord]:
        everyone_in.wait()  # passes only once every region's query is in flight together
        return real(license_region, tenant_id)

    registry.by_tenant = waits_for_every_region  # type: ignore[method-assign]
    # When a tenant's sessions are terminated / Then no region waited for another (one at a time would break
    # the barrier: every region unreachable, nothing closed)
    assert service.terminate(TerminationScope(A), "revoked", ACTOR) == 5
    [event] = events(store)
    assert "unreachableRegions" not in event
