"""The key vault on moto: real KMS context binding, DynamoDB transactions, locks and the audit outbox."""

from __future__ import annotations

import base64
import logging
import threading
from typing import Any
from unittest import mock

import jwt
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from cryptography.hazmat.primitives import serialization

from tests.integration.conftest import Aws, Vault, make_vault
from wiresocket.adapters.kms import KmsKeyWrapper
from wiresocket.domain.audit import SYSTEM_ACTOR
from wiresocket.domain.errors import DependencyUnavailable, IntegrityError
from wiresocket.domain.keys import KeyState, encryption_context
from wiresocket.domain.tenants import Tenant, TenantStatus
from wiresocket.local.resources import create_master_key
from wiresocket.ports import PutTenant
from wiresocket.services.sealing import unseal

TENANT = "0b7c6c5e-8c1f-4a57-9e5e-3f2a1b0c9d8e"
OTHER = "5f0e7d2c-1a3b-4c5d-8e9f-0a1b2c3d4e5f"


def add_tenants(v: Vault, *tenant_ids: str) -> None:
    for tid in tenant_ids:
        v.directory.commit([PutTenant(Tenant(tid, "t", TenantStatus.ACTIVE, 0, 0))])


def raw_table_dump(aws: Aws) -> bytes:
    """Every attribute of every item, raw as DynamoDB stores it (binary attributes as bytes)."""
    chunks: list[bytes] = []
    kwargs: dict[str, Any] = {"TableName": aws.resources.directory_table}
    while True:
        page = aws.dynamodb.scan(**kwargs)
        for item in page["Items"]:
            for value in item.values():
                for kind, raw in value.items():
                    chunks.append(raw if kind == "B" and isinstance(raw, bytes) else repr(raw).encode())
        if "LastEvaluatedKey" not in page:
            return b"\n".join(chunks)
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def private_key_forms(v: Vault, tenant_id: str) -> list[bytes]:
    """Every spelling of every live private key of the tenant that could leak: DER, PEM, base64, d."""
    forms: list[bytes] = []
    for key in v.directory.tenant_with_keys(tenant_id)[1]:
        if key.sealed is None:
            continue
        private = unseal(key, v.wrapper)
        der = private.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        d = private.private_numbers().d
        forms += [
            der[:64],
            der[-64:],
            pem.splitlines()[1],
            base64.b64encode(der)[:64],
            base64.urlsafe_b64encode(d.to_bytes(256, "big")).rstrip(b"=")[:40],
            str(d)[:40].encode(),
        ]
    return forms


def test_no_private_key_appears_in_plaintext_in_items_logs_or_events(
    aws: Aws, vault: Vault, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a tenant that went through create, rotate and emergency revoke, with debug logging on
    caplog.set_level(logging.DEBUG)
    add_tenants(vault, TENANT)
    vault.vault.create_initial_keys(TENANT, SYSTEM_ACTOR)
    vault.vault.rotate(TENANT, SYSTEM_ACTOR)
    vault.vault.revoke_all(TENANT, SYSTEM_ACTOR)
    vault.vault.rotate(TENANT, SYSTEM_ACTOR)
    forms = private_key_forms(vault, TENANT)
    assert len(forms) >= 3 * 6
    # When we read every stored attribute, every log line and every event on the bus
    stored = raw_table_dump(aws)
    logs = (caplog.text + capsys.readouterr().out).encode()
    events = repr(aws.audit_messages()).encode()
    # Then no form of any private key is in any of them
    for form in forms:
        assert form not in stored
        assert form not in logs
        assert form not in events
    # And the table does hold the sealed material (the scan really covered it)
    key = next(k for k in vault.directory.tenant_with_keys(TENANT)[1] if k.sealed)
    assert key.sealed is not None and key.sealed.ciphertext in stored


def test_kms_refuses_to_unwrap_under_another_tenants_or_kids_context(aws: Aws, vault: Vault) -> None:
    # Given one key each for two tenants, wrapped by real (moto) KMS
    add_tenants(vault, TENANT, OTHER)
    mine = vault.vault.create_initial_keys(TENANT, SYSTEM_ACTOR)[0]
    theirs = vault.vault.create_initial_keys(OTHER, SYSTEM_ACTOR)[0]
    assert mine.sealed is not None
    # When A's wrapped data key is unwrapped with B's context, or with another kid of A
    for context in (encryption_context(OTHER, mine.kid), encryption_context(TENANT, theirs.kid), {}):
        # Then KMS refuses it as an integrity failure
        with pytest.raises(IntegrityError):
            vault.wrapper.unwrap(mine.sealed.wrapped_data_key, context)
    # And with its own context it works
    assert len(vault.wrapper.unwrap(mine.sealed.wrapped_data_key, encryption_context(TENANT, mine.kid))) == 32


def test_twenty_concurrent_rotations_on_dynamodb_keep_exactly_one_active_and_one_next(aws: Aws) -> None:
    # Given a tenant with first keys
    v = make_vault(aws, publish=False)
    add_tenants(v, TENANT)
    v.vault.create_initial_keys(TENANT, SYSTEM_ACTOR)
    results: list[str] = []
    errors: list[BaseException] = []
    guard = threading.Lock()

    def rotate() -> None:
        try:
            r = v.vault.rotate(TENANT, SYSTEM_ACTOR)
            with guard:
                results.append(r.retiring_kid)
        except Exception as exc:
            with guard:
                errors.append(exc)

    # When 20 rotations run at once through the DynamoDB lock
    threads = [threading.Thread(target=rotate) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then every rotation that returned success is reflected, and no key was lost
    keys = v.directory.tenant_with_keys(TENANT)[1]
    by_state = {s: [k for k in keys if k.state is s] for s in KeyState}
    assert len(by_state[KeyState.ACTIVE]) == 1 and len(by_state[KeyState.NEXT]) == 1
    assert sorted(k.kid for k in by_state[KeyState.RETIRING]) == sorted(results)
    assert len(keys) == 2 + len(results)
    assert len(results) + len(errors) == 20 and len(results) >= 1


def test_rewrap_crash_after_k_keys_then_second_run_finishes_and_every_key_signs(aws: Aws) -> None:
    # Given 2 tenants' keys under the first master key
    v = make_vault(aws, publish=False)
    add_tenants(v, TENANT, OTHER)
    for tid in (TENANT, OTHER):
        v.vault.create_initial_keys(tid, SYSTEM_ACTOR)
        v.vault.rotate(tid, SYSTEM_ACTOR)
    total = 6
    old_arn = aws.resources.master_key_arn
    new_arn = create_master_key(aws.kms, "alias/wiresocket-master-v2")
    # When the KMS client dies after 2 ReEncrypt calls
    real = aws.kms.re_encrypt
    calls = {"n": 0}

    def dying(**kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > 2:
            raise EndpointConnectionError(endpoint_url="https://kms")
        return real(**kwargs)

    with mock.patch.object(aws.kms, "re_encrypt", side_effect=dying), pytest.raises(DependencyUnavailable):
        v.vault.rewrap_all(new_arn, SYSTEM_ACTOR)
    tags = [k.sealed.master_key_id for t in (TENANT, OTHER) for k in v.directory.tenant_with_keys(t)[1] if k.sealed]
    assert sorted(tags) == sorted([new_arn] * 2 + [old_arn] * (total - 2))
    # And a second run finishes
    report = v.vault.rewrap_all(new_arn, SYSTEM_ACTOR)
    assert (report.rewrapped, report.already_current, report.skipped) == (total - 2, 2, [])
    # Then every key is under the new master key and still decrypts and signs
    for tid in (TENANT, OTHER):
        for key in v.directory.tenant_with_keys(tid)[1]:
            assert key.sealed is not None and key.sealed.master_key_id == new_arn
            private = unseal(key, KmsKeyWrapper(aws.kms, "alias/wiresocket-master-v2"))
            token = jwt.encode({"sub": tid}, private, algorithm="RS256", headers={"kid": key.kid})
            assert jwt.decode(token, private.public_key(), algorithms=["RS256"])["sub"] == tid


def test_eventbridge_down_at_change_time_events_delivered_later_exactly_once(aws: Aws, vault: Vault) -> None:
    # Given EventBridge refuses every PutEvents while keys are created, rotated and revoked
    add_tenants(vault, TENANT)
    down = ClientError({"Error": {"Code": "InternalException", "Message": "down"}}, "PutEvents")
    with mock.patch.object(aws.events, "put_events", side_effect=down):
        vault.vault.create_initial_keys(TENANT, SYSTEM_ACTOR)
        vault.vault.rotate(TENANT, SYSTEM_ACTOR)
        vault.vault.revoke_all(TENANT, SYSTEM_ACTOR)
    # Then the changes happened and nothing reached the bus
    assert aws.audit_messages() == []
    pending = {e.event_id for e in vault.publisher._outbox.pending(100)}
    assert len(pending) == 2 + 2 + 3
    # When the bus is back and the publisher runs twice
    vault.publisher.publish_pending()
    vault.publisher.publish_pending()
    # Then each event arrived exactly once, with the SPEC detail shape and no secret
    delivered = aws.audit_messages()
    ids = [m["detail"]["eventId"] for m in delivered]
    assert sorted(ids) == sorted(pending) and len(set(ids)) == len(ids)
    for message in delivered:
        assert message["source"] == "wiresocket.security"
        assert {"eventId", "occurredAt", "actor", "tenantId", "region"} <= set(message["detail"])
    assert vault.publisher._outbox.pending(100) == []
