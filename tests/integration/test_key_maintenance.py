"""Scheduled key maintenance on moto (issue 4): tenants come from the directory's tenant index, only due tenants
rotate, expired retiring keys are retired, and the real handler runs it."""

from __future__ import annotations

import time
from typing import Any

from tests.fakes.memory import FakeClock
from tests.fakes.oauth_world import fast_keys_and_hashes
from tests.integration import rest
from tests.integration.conftest import REGION, Aws
from wiresocket.adapters.dynamo_directory import DynamoDirectory, DynamoLockStore
from wiresocket.adapters.kms import KmsKeyWrapper
from wiresocket.domain.audit import SYSTEM_ACTOR
from wiresocket.domain.keys import KeyState
from wiresocket.names import PLATFORM_TENANT_ID
from wiresocket.services.key_maintenance import KeyMaintenance
from wiresocket.services.keyvault import KeyPolicy, KeyVault
from wiresocket.services.locks import LockManager
from wiresocket.services.tenants import TenantService

DAY = 86400


def test_only_due_tenants_rotate_and_expired_keys_retire(aws: Aws) -> None:
    # Given (on a hand-moved clock) the platform and an "old" tenant approved 31 days ago, a "young" tenant
    # approved 10 days ago, and a pending tenant
    clock = FakeClock()
    directory = DynamoDirectory()
    locks = LockManager(DynamoLockStore(), clock, wait_seconds=1)
    vault = KeyVault(
        directory,
        KmsKeyWrapper(aws.kms, aws.resources.master_key_alias),
        locks,
        clock,
        region=REGION,
        policy=KeyPolicy(grace_seconds=3600, next_key_min_age_seconds=300),
    )
    tenants = TenantService(directory, vault, locks, clock, region=REGION)
    with fast_keys_and_hashes(pool_size=24):
        tenants.create("Platform", SYSTEM_ACTOR, tenant_id=PLATFORM_TENANT_ID)
        tenants.approve(PLATFORM_TENANT_ID, SYSTEM_ACTOR)
        old = tenants.create("Old", SYSTEM_ACTOR)
        tenants.approve(old.tenant_id, SYSTEM_ACTOR)
        clock.advance(21 * DAY)
        young = tenants.create("Young", SYSTEM_ACTOR)
        tenants.approve(young.tenant_id, SYSTEM_ACTOR)
        pending = tenants.create("Pending", SYSTEM_ACTOR)
        clock.advance(10 * DAY)
        job = KeyMaintenance(directory, vault, clock, rotation_days=30)
        # When the job runs
        report = job.run()
        # Then exactly the due tenants rotated; the pending one was not even visited
        rotated = {t.tenant_id for t in report.tenants if t.rotated_to is not None}
        assert rotated == {PLATFORM_TENANT_ID, old.tenant_id}
        assert {t.tenant_id for t in report.tenants} == {PLATFORM_TENANT_ID, old.tenant_id, young.tenant_id}
        assert pending.tenant_id not in {t.tenant_id for t in report.tenants}
        assert report.failed == 0
        # When it runs again before the grace ends / Then nothing more happens
        again = job.run()
        assert (again.rotated, again.retired) == (0, 0)
        # When the grace period is over / Then the retiring keys are retired, without private material
        clock.advance(3601)
        later = job.run()
    assert later.retired == 2 and later.rotated == 0
    for tenant_id in (PLATFORM_TENANT_ID, old.tenant_id):
        keys = directory.tenant_with_keys(tenant_id)[1]
        retired = [k for k in keys if k.state is KeyState.RETIRED]
        assert len(retired) == 1 and retired[0].sealed is None
        assert sorted(k.state.value for k in keys if k.state is not KeyState.RETIRED) == ["active", "next"]
    young_keys = directory.tenant_with_keys(young.tenant_id)[1]
    assert sorted(k.state.value for k in young_keys) == ["active", "next"]


def test_the_handler_runs_the_job_and_reports_counts(aws: Aws) -> None:
    # Given an active tenant with fresh keys (real clock)
    clock = FakeClock(start=time.time())
    directory = DynamoDirectory()
    locks = LockManager(DynamoLockStore(), clock)
    vault = KeyVault(directory, KmsKeyWrapper(aws.kms, aws.resources.master_key_alias), locks, clock, region=REGION)
    tenants = TenantService(directory, vault, locks, clock, region=REGION)
    with fast_keys_and_hashes():
        tenant = tenants.create("Fresh", SYSTEM_ACTOR)
        tenants.approve(tenant.tenant_id, SYSTEM_ACTOR)
    # When the scheduled function is invoked (the payload is ignored)
    result: Any = rest.invoke("key_maintenance", {"source": "aws.events", "detail": {"anything": True}})
    # Then it visited the tenant, rotated nothing (fresh keys) and failed nothing
    assert result == {"tenants": 1, "rotated": 0, "retired": 0, "busy": 0, "failed": 0}
