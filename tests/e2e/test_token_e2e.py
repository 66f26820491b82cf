"""Real third-party OAuth/JWT clients against the running local stack (issue 3).

authlib's ``OAuth2Session`` obtains a token with client_credentials and refreshes it; PyJWT's ``PyJWKClient``
and Node's ``jose`` (``createRemoteJWKSet`` + ``jwtVerify``) verify it from the live JWKS URL, with no
WireSocket-specific code.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session

from tests.e2e.conftest import RunningStack

JS_DIR = Path(__file__).parent / "js"


def demo(stack: RunningStack) -> dict[str, Any]:
    section = stack.state["demo"]
    assert isinstance(section, dict)
    return section


def issuer(stack: RunningStack) -> str:
    return f"{stack.control_plane_url}/{demo(stack)['tenant_id']}"


def session(stack: RunningStack, auth_method: str = "client_secret_basic") -> OAuth2Session:
    return OAuth2Session(
        client_id=demo(stack)["client_id"],
        client_secret=demo(stack)["client_secret"],
        token_endpoint_auth_method=auth_method,
        scope="WireSocket.API offline_access",
    )


@pytest.fixture(scope="module")
def node_jose() -> Path:
    """``tests/e2e/js`` with its locked dependencies installed (``npm ci`` when ``node_modules`` is missing)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are required for the jose end-to-end check")
    if not (JS_DIR / "node_modules" / "jose").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True, timeout=180)
    return JS_DIR


def test_discovery_document_points_at_the_live_endpoints(local_stack: RunningStack) -> None:
    url = f"{issuer(local_stack)}/.well-known/openid-configuration"
    document = requests.get(url, timeout=5).json()
    assert document["issuer"] == issuer(local_stack)
    assert document["token_endpoint"] == f"{local_stack.control_plane_url}/connect/token"
    assert document["jwks_uri"] == f"{issuer(local_stack)}/.well-known/jwks"
    assert set(document["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post"}
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert requests.get(document["jwks_uri"], timeout=5).status_code == 200


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_authlib_client_credentials_then_refresh(local_stack: RunningStack, auth_method: str) -> None:
    token_url = f"{local_stack.control_plane_url}/connect/token"
    client = session(local_stack, auth_method)
    token = client.fetch_token(token_url, grant_type="client_credentials")
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 900
    assert token["scope"] == "WireSocket.API offline_access"
    refreshed = client.refresh_token(token_url, refresh_token=token["refresh_token"])
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] != token["refresh_token"]
    # The old refresh token is dead, and replaying it kills the new one too
    replay = requests.post(
        token_url,
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"], "client_id": client.client_id},
        timeout=5,
    )
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
    after = requests.post(
        token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": refreshed["refresh_token"],
            "client_id": client.client_id,
        },
        timeout=5,
    )
    assert after.json()["error"] == "invalid_grant"


def test_pyjwkclient_verifies_an_issued_token(local_stack: RunningStack) -> None:
    token = session(local_stack).fetch_token(
        f"{local_stack.control_plane_url}/connect/token", grant_type="client_credentials"
    )["access_token"]
    jwks = jwt.PyJWKClient(f"{issuer(local_stack)}/.well-known/jwks", cache_keys=False)
    claims = jwt.decode(
        token,
        jwks.get_signing_key_from_jwt(token).key,
        algorithms=["RS256"],
        audience="WireSocket.API",
        issuer=issuer(local_stack),
        options={"require": ["exp", "iat", "nbf", "jti"]},
    )
    assert claims["tenantid"] == demo(local_stack)["tenant_id"]
    assert claims["appId"] == demo(local_stack)["app_id"]
    assert claims["sub"] == demo(local_stack)["client_id"]
    assert [claims["allowed_domain_1"], claims["allowed_domain_2"]] == demo(local_stack)["allowed_domains"]
    assert set(claims["limits"]) == {"maxConnections", "maxDocuments", "maxUsersPerDoc", "opsPerMinute"}


def test_node_jose_verifies_an_issued_token(local_stack: RunningStack, node_jose: Path) -> None:
    token = session(local_stack).fetch_token(
        f"{local_stack.control_plane_url}/connect/token", grant_type="client_credentials"
    )["access_token"]
    args = [token, f"{issuer(local_stack)}/.well-known/jwks", issuer(local_stack), "WireSocket.API"]
    run = subprocess.run(
        ["node", "verify_token.mjs", *args], cwd=node_jose, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    verified = json.loads(run.stdout)
    assert verified["protectedHeader"]["alg"] == "RS256"
    assert verified["payload"]["tenantid"] == demo(local_stack)["tenant_id"]
    # And a tampered token fails the same check
    head, body, sig = token.split(".")
    forged = f"{head}.{body}.{sig[:-4]}AAAA"
    bad = subprocess.run(
        ["node", "verify_token.mjs", forged, *args[1:]],
        cwd=node_jose,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1


def test_operator_password_grant_through_the_dashboard_client(local_stack: RunningStack) -> None:
    dashboard, operator = local_stack.state["dashboard_client"], local_stack.state["operator"]
    assert isinstance(dashboard, dict) and isinstance(operator, dict)
    response = requests.post(
        f"{local_stack.control_plane_url}/connect/token",
        data={"grant_type": "password", "username": operator["username"], "password": operator["password"]},
        auth=(dashboard["client_id"], dashboard["client_secret"]),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["scope"] == "WireSocket.Platform"
    assert claims["aud"] == "WireSocket.Dashboard"
