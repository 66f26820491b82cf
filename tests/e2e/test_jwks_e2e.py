"""The demo tenant's JWKS from the running local stack, read by PyJWT's ``PyJWKClient`` as any verifier would."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import jwt
import requests

from tests.e2e.conftest import RunningStack
from wiresocket.adapters.directory_models import bind_directory
from wiresocket.adapters.dynamo_directory import DynamoDirectory
from wiresocket.adapters.kms import KmsKeyWrapper
from wiresocket.services.sealing import unseal


def _stack_keys(stack: RunningStack) -> tuple[list[Any], KmsKeyWrapper]:
    """The demo tenant's key records, read from the stack's own moto (as an operator with AWS access could)."""
    aws = stack.state["aws"]
    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=aws["region"],
    )
    import os

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    bind_directory(aws["directory_table"], aws["region"], host=aws["endpoint_url"])
    keys = DynamoDirectory().tenant_with_keys(stack.state["demo"]["tenant_id"])[1]
    wrapper = KmsKeyWrapper(session.client("kms", endpoint_url=aws["endpoint_url"]), aws["master_key_id"])
    return keys, wrapper


def test_pyjwkclient_verifies_tokens_signed_by_each_published_key(local_stack: RunningStack) -> None:
    # Given the live JWKS URL of the demo tenant
    tenant_id = local_stack.state["demo"]["tenant_id"]
    url = f"{local_stack.control_plane_url}/{tenant_id}/.well-known/jwks"
    response = requests.get(url, timeout=5)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=300"
    published = {k["kid"] for k in response.json()["keys"]}
    assert len(published) == 2  # the seeded tenant's active and next keys
    # When a token is signed by each published key's private key (unsealed through the stack's KMS)
    keys, wrapper = _stack_keys(local_stack)
    client = jwt.PyJWKClient(url, cache_keys=False)
    checked = 0
    for key in keys:
        if key.kid not in published:
            continue
        token = jwt.encode(
            {"sub": "e2e", "jti": str(uuid.uuid4())}, unseal(key, wrapper), "RS256", headers={"kid": key.kid}
        )
        # Then PyJWKClient picks the matching key from the live JWKS and the signature verifies
        signing_key = client.get_signing_key_from_jwt(token)
        assert jwt.decode(token, signing_key.key, algorithms=["RS256"])["sub"] == "e2e"
        checked += 1
    assert checked == len(published)


def test_bad_tenant_ids_and_unknown_tenants_get_clear_4xx(local_stack: RunningStack) -> None:
    base = local_stack.control_plane_url
    assert requests.get(f"{base}/not-a-tenant/.well-known/jwks", timeout=5).status_code == 400
    assert requests.get(f"{base}/{uuid.uuid4()}/.well-known/jwks", timeout=5).status_code == 404
    too_long = requests.get(f"{base}/{'a' * 9000}/.well-known/jwks", timeout=5)
    assert too_long.status_code == 414
    traversal = requests.get(f"{base}/..%2F..%2Fetc%2Fpasswd/.well-known/jwks", timeout=5)
    assert traversal.status_code == 400
    tenant_id = local_stack.state["demo"]["tenant_id"]
    assert requests.post(f"{base}/{tenant_id}/.well-known/jwks", timeout=5).status_code == 403
