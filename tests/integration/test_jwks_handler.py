"""GET /{tenantId}/.well-known/jwks through the real handler on moto: lifecycle visibility and bad input."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from tests.integration.conftest import Aws, Vault
from tests.integration.rest import body_json, invoke, rest_event
from tests.integration.test_keyvault_dynamo import raw_table_dump
from wiresocket.domain.audit import SYSTEM_ACTOR
from wiresocket.domain.tenants import Tenant, TenantStatus
from wiresocket.ports import PutTenant
from wiresocket.services.sealing import unseal

TENANT = "0b7c6c5e-8c1f-4a57-9e5e-3f2a1b0c9d8e"
RESOURCE = "/{tenantId}/.well-known/jwks"


def get_jwks(tenant_id: str, method: str = "GET") -> dict[str, Any]:
    return invoke(
        "jwks",
        rest_event(method, f"/{tenant_id}/.well-known/jwks", resource=RESOURCE, path_params={"tenantId": tenant_id}),
    )


def kids(result: dict[str, Any]) -> set[str]:
    return {k["kid"] for k in body_json(result)["keys"]}


@pytest.fixture
def tenant(vault: Vault) -> str:
    vault.directory.commit([PutTenant(Tenant(TENANT, "t", TenantStatus.ACTIVE, 0, 0))])
    vault.vault.create_initial_keys(TENANT, SYSTEM_ACTOR)
    return TENANT


@pytest.mark.parametrize(
    "tenant_id",
    [
        "not-a-uuid",
        "0B7C6C5E-8C1F-4A57-9E5E-3F2A1B0C9D8E",  # upper case: one tenant has one spelling
        "..%2F..%2Fetc%2Fpasswd",
        "../../etc/passwd",
        "0b7c6c5e-8c1f-4a57-9e5e-3f2a1b0c9d8e/../x",
        "0b7c6c5e-8c1f-4a57-9e5e-3f2a1b0c9d8e\x00",
        " 0b7c6c5e-8c1f-4a57-9e5e-3f2a1b0c9d8e",
        "a" * 10_000,
        "%00",
        "",
        "{tenantId}",
        "0b7c6c5e8c1f4a579e5e3f2a1b0c9d8e",
    ],
)
def test_malformed_tenant_ids_get_400_problem_and_write_nothing(aws: Aws, tenant: str, tenant_id: str) -> None:
    # Given a table snapshot / When a malformed id is asked for
    before = raw_table_dump(aws)
    result = get_jwks(tenant_id)
    # Then a clear 400 problem+json, and the table is unchanged
    assert result["statusCode"] == 400
    assert result["headers"]["Content-Type"] == "application/problem+json"
    assert body_json(result)["status"] == 400
    assert raw_table_dump(aws) == before


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])
def test_methods_other_than_get_get_405(tenant: str, method: str) -> None:
    result = get_jwks(tenant, method)
    assert result["statusCode"] == 405 and result["headers"]["Allow"] == "GET"


def test_unknown_pending_and_suspended_tenants_get_404(vault: Vault, tenant: str) -> None:
    pending, suspended = "11111111-2222-4333-8444-555555555555", "66666666-7777-4888-9999-aaaaaaaaaaaa"
    vault.directory.commit(
        [
            PutTenant(Tenant(pending, "p", TenantStatus.PENDING, 0, 0)),
            PutTenant(Tenant(suspended, "s", TenantStatus.SUSPENDED, 0, 0)),
        ]
    )
    for tid in (pending, suspended, "99999999-9999-4999-8999-999999999999"):
        result = get_jwks(tid)
        assert result["statusCode"] == 404 and body_json(result)["title"] == "Not Found"


def test_jwks_lists_next_active_and_in_grace_retiring_keys_never_revoked_or_retired(
    aws: Aws, vault: Vault, tenant: str
) -> None:
    # Given a rotation (one retiring key in grace)
    rotation = vault.vault.rotate(tenant, SYSTEM_ACTOR)
    result = get_jwks(tenant)
    # Then the JWKS has active, next and the retiring key, with SPEC fields and cache headers
    assert result["statusCode"] == 200
    assert result["headers"]["Cache-Control"] == "public, max-age=300"
    assert kids(result) == {rotation.active_kid, rotation.next_kid, rotation.retiring_kid}
    for jwk in body_json(result)["keys"]:
        assert set(jwk) == {"kty", "kid", "use", "alg", "n", "e"} and jwk["alg"] == "RS256"
    # And every listed key verifies a token signed by its matching private key
    for key in vault.directory.tenant_with_keys(tenant)[1]:
        if key.kid in kids(result):
            token = jwt.encode({"sub": "s"}, unseal(key, vault.wrapper), "RS256", headers={"kid": key.kid})
            jwk = next(k for k in body_json(result)["keys"] if k["kid"] == key.kid)
            assert jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS256"]) == {"sub": "s"}
    # When the keys are revoked (fresh handler container: its 5 s cache would otherwise answer)
    from tests.integration.conftest import reset_wiring

    revocation = vault.vault.revoke_all(tenant, SYSTEM_ACTOR)
    reset_wiring()
    # Then none of the revoked keys is listed, only the fresh pair
    assert kids(get_jwks(tenant)) == {revocation.active_kid, revocation.next_kid}


def test_retiring_key_disappears_when_its_grace_period_ends(
    aws: Aws, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a rotation with a 60 s grace period, under one clock the test moves (the vault's and the handler's:
    # real sleeps made this test race the clock on a loaded machine)
    import time

    from tests.fakes.memory import FakeClock
    from tests.integration.conftest import REGION, reset_wiring
    from wiresocket import wiring
    from wiresocket.adapters.dynamo_directory import DynamoDirectory, DynamoLockStore
    from wiresocket.adapters.kms import KmsKeyWrapper
    from wiresocket.services.keyvault import KeyPolicy, KeyVault
    from wiresocket.services.locks import LockManager

    clock = FakeClock(time.time())
    monkeypatch.setattr(wiring, "clock", lambda: clock)
    vault = KeyVault(
        DynamoDirectory(),
        KmsKeyWrapper(aws.kms, aws.resources.master_key_alias),
        LockManager(DynamoLockStore(), clock),
        clock,
        region=REGION,
        policy=KeyPolicy(grace_seconds=60, next_key_min_age_seconds=0),
    )
    rotation = vault.rotate(tenant, SYSTEM_ACTOR)
    reset_wiring()
    clock.advance(59)
    assert rotation.retiring_kid in kids(get_jwks(tenant))
    # When the grace period is over (even before the retirement job has run)
    clock.advance(2)
    reset_wiring()
    # Then the retiring key is no longer published
    assert rotation.retiring_kid not in kids(get_jwks(tenant))
    assert vault.retire_expired(tenant, SYSTEM_ACTOR) == [rotation.retiring_kid]
    reset_wiring()
    assert rotation.retiring_kid not in kids(get_jwks(tenant))


def test_directory_down_gives_503_not_500(aws: Aws, tenant: str) -> None:
    from unittest import mock

    from tests.integration.conftest import reset_wiring
    from wiresocket.domain.errors import DependencyUnavailable

    reset_wiring()
    with mock.patch(
        "wiresocket.adapters.dynamo_directory.DynamoDirectory.tenant_with_keys",
        side_effect=DependencyUnavailable("down"),
    ):
        result = get_jwks(tenant)
    assert result["statusCode"] == 503 and "Retry-After" in result["headers"]
