"""Issue 4's user story, end to end, as an operator and a tenant's people would live it with the CLI.

Every step runs ``python -m wiresocket.cli --url ...`` as a subprocess against the running local stack, and
checks its effect where it matters — the token endpoint (``client_credentials``, introspection) and the
admin API itself — at once, then reads the whole story back from the tenant's audit trail.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from tests.e2e.conftest import REPO_ROOT, RunningStack

CLI_TIMEOUT_SECONDS = 120.0
AUDIT_WAIT_SECONDS = 15.0


@dataclass
class Cli:
    """Runs the ``wiresocket`` command against one stack, as one person (one session file)."""

    stack: RunningStack
    home: Path

    def run(
        self, who: str, *args: str, expect: int = 0, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        command = [
            sys.executable, "-m", "wiresocket.cli",
            "--url", self.stack.control_plane_url,
            "--state-dir", str(self.stack.state_dir),
            "--session-file", str(self.home / f"{who}.json"),
            *args,
        ]  # fmt: skip
        environment = {
            k: v for k, v in os.environ.items() if not k.startswith("WIRESOCKET_") and k != "PYTHONDONTWRITEBYTECODE"
        }
        # ~60 short-lived processes: let them share compiled bytecode (in a temporary directory, not the tree).
        environment.update(
            {
                "HOME": str(self.home),
                "PYTHONUNBUFFERED": "1",
                "PYTHONPYCACHEPREFIX": str(self.home / "pycache"),
                **(env or {}),
            }
        )
        done = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_SECONDS,
            check=False,
        )
        assert done.returncode == expect, (
            f"`wiresocket {' '.join(args)}` as {who}: exit {done.returncode}, expected {expect}\n"
            f"stdout: {done.stdout}\nstderr: {done.stderr}"
        )
        return done

    def json(self, who: str, *args: str, env: dict[str, str] | None = None) -> Any:
        return json.loads(self.run(who, *args, "--json", env=env).stdout)

    def login(self, who: str, username: str, password: str, *extra: str, expect: int = 0) -> None:
        self.run(who, "login", "--username", username, *extra, expect=expect, env={"WIRESOCKET_PASSWORD": password})


@dataclass
class AppClient:
    """The token endpoint as an app sees it."""

    base: str
    client_id: str

    def token(self, secret: str) -> requests.Response:
        return requests.post(
            f"{self.base}/connect/token",
            data={"grant_type": "client_credentials"},
            auth=(self.client_id, secret),
            timeout=30,
        )

    def introspect(self, secret: str, token: str) -> dict[str, Any]:
        response = requests.post(
            f"{self.base}/connect/introspect", data={"token": token}, auth=(self.client_id, secret), timeout=30
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def assert_invalid_client(response: requests.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


def active_kid(keys: dict[str, Any]) -> str:
    (kid,) = [k["kid"] for k in keys["items"] if k["state"] == "active"]
    return str(kid)


def audit_trail(cli: Cli, who: str, wanted: set[str]) -> list[dict[str, Any]]:
    """The tenant's audit trail once it holds every ``wanted`` detail-type (or whatever it holds at the deadline)."""
    deadline = time.monotonic() + AUDIT_WAIT_SECONDS
    while True:
        events: list[dict[str, Any]] = cli.json(who, "audit", "--all", "--limit", "100")["items"]
        if wanted <= {e["detailType"] for e in events} or time.monotonic() > deadline:
            return events
        time.sleep(0.5)


@pytest.fixture
def story_stack(
    start_local_stack: Callable[[], RunningStack], monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunningStack]:
    """A private stack whose JWKS cache lifetime is 1 s instead of 300 s.

    "Rotate now" refuses until the next key has been published for one JWKS cache lifetime (docs/keys.md);
    with the default the story would have to wait five minutes after approval. A private stack also keeps
    the master-key re-wrap and this story's rate-limit counters away from the shared ``local_stack``.
    """
    monkeypatch.setenv("WIRESOCKET_JWKS_MAX_AGE_SECONDS", "1")
    stack = start_local_stack()
    yield stack
    assert stack.stop() == 0, stack.output()


@pytest.mark.timeout(300)
def test_the_issue_4_user_story_through_the_cli(story_stack: RunningStack, tmp_path: Path) -> None:
    local_stack = story_stack
    cli = Cli(local_stack, tmp_path)
    base = local_stack.control_plane_url
    suffix = uuid.uuid4().hex[:8]
    operator = local_stack.state["operator"]
    owner_name, owner_password = f"owner-{suffix}@story.example.com", f"owner-pw-{uuid.uuid4().hex}"
    admin_name, viewer_name = f"admin-{suffix}@story.example.com", f"viewer-{suffix}@story.example.com"
    member_password = f"member-pw-{uuid.uuid4().hex}"

    # --- sign up, approve ---------------------------------------------------------------------------------
    # Given a tenant that signed up (public) and is still pending
    signed_up = cli.json(
        "anonymous",
        "signup", "--tenant-name", f"Story {suffix}", "--owner-username", owner_name,
        env={"WIRESOCKET_NEW_PASSWORD": owner_password},
    )  # fmt: skip
    tenant_id = signed_up["tenantId"]
    assert signed_up["status"] == "pending"
    # Then its owner cannot log in yet
    cli.login("owner", owner_name, owner_password, expect=3)
    # When the operator finds it among the pending tenants and approves it
    cli.login("operator", operator["username"], operator["password"], "--scope", "WireSocket.Platform")
    pending = cli.json("operator", "tenants", "list", "--status", "pending", "--all", "--limit", "100")["items"]
    assert tenant_id in {t["tenantId"] for t in pending}
    assert cli.json("operator", "tenants", "approve", tenant_id)["status"] == "active"
    # Then the owner logs in (password grant through the dashboard client), and is no operator
    cli.login("owner", owner_name, owner_password)
    session_mode = stat.S_IMODE((tmp_path / "owner.json").stat().st_mode)
    assert session_mode == 0o600
    assert cli.json("owner", "whoami")["tenantId"] == tenant_id
    cli.run("owner", "tenants", "approve", tenant_id, expect=4)

    # --- people -----------------------------------------------------------------------------------------------
    # When the owner invites an admin and a viewer
    member = {"WIRESOCKET_NEW_PASSWORD": member_password}
    admin_user = cli.json("owner", "users", "invite", "--username", admin_name, "--role", "admin", env=member)
    viewer_user = cli.json("owner", "users", "invite", "--username", viewer_name, "--role", "viewer", env=member)
    assert (admin_user["role"], viewer_user["role"]) == ("admin", "viewer")
    users = cli.json("owner", "users", "list")["items"]
    assert {u["username"] for u in users} == {owner_name, admin_name, viewer_name}
    assert all("password" not in json.dumps(u).lower() for u in users)
    # Then both can log in, and the viewer can read but never change anything (exit 4)
    cli.login("admin", admin_name, member_password)
    cli.login("viewer", viewer_name, member_password, "--scope", "WireSocket.Read")
    cli.run("viewer", "apps", "list")
    viewer_secret = tmp_path / "never-written"
    cli.run(
        "viewer", "apps", "create", "--name", "nope", "--region", "aws-eu-west-1", "--plan", "developer",
        "--secret-file", str(viewer_secret), expect=4,
    )  # fmt: skip
    cli.run(
        "viewer",
        "users",
        "invite",
        "--username",
        f"x-{suffix}@story.example.com",
        "--role",
        "viewer",
        env=member,
        expect=4,
    )
    cli.run("viewer", "keys", "rotate", expect=4)
    assert not viewer_secret.exists()

    # --- plans and an app --------------------------------------------------------------------------------------
    # Given a plan the operator creates next to the seeded "developer" plan
    plan = cli.json(
        "operator", "plans", "create", "--name", f"Story Plan {suffix}",
        "--max-connections", "10", "--max-documents", "5", "--max-users-per-doc", "3", "--ops-per-minute", "600",
    )  # fmt: skip
    plan_id = plan["planId"]
    assert {plan_id, "developer"} <= {p["planId"] for p in cli.json("owner", "plans", "list")["items"]}
    # When the owner asks for four allowed domains, it is invalid input (exit 7)
    four = (
        "--domain",
        "a.example.com",
        "--domain",
        "b.example.com",
        "--domain",
        "c.example.com",
        "--domain",
        "d.example.com",
    )
    cli.run(
        "owner", "apps", "create", "--name", "too-many", "--region", "aws-eu-west-1", "--plan", plan_id,
        *four, "--show-secret", expect=7,
    )  # fmt: skip
    # When the owner creates an app pinned to a license region with three domains and the plan
    secret_file = tmp_path / "app-secret"
    created = cli.run(
        "owner", "apps", "create", "--name", f"story-app-{suffix}", "--region", "aws-us-west-2", "--plan", plan_id,
        "--domain", "https://App.Example.com/", "--domain", "localhost:3000", "--domain", "127.0.0.1:8080",
        "--secret-file", str(secret_file), "--json",
    )  # fmt: skip
    app = json.loads(created.stdout)
    app_id, client = app["appId"], AppClient(base, app["clientId"])
    first_secret = secret_file.read_text().strip()
    # Then the secret was given exactly once — to a 0600 file, never printed — and is never shown again
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert first_secret
    assert first_secret not in created.stdout + created.stderr
    assert "clientSecret" not in app
    shown = cli.run("owner", "apps", "show", app_id, "--json")
    assert "clientSecret" not in json.loads(shown.stdout)
    assert first_secret not in shown.stdout
    assert app["licenseRegion"] == "aws-us-west-2"
    assert app["allowedDomains"] == ["app.example.com", "localhost:3000", "127.0.0.1:8080"]
    assert app["planId"] == plan_id
    # and the app gets tokens with it at once
    issued = client.token(first_secret)
    assert issued.status_code == 200, issued.text
    first_claims = claims_of(issued.json()["access_token"])
    assert first_claims["tenantid"] == tenant_id
    assert first_claims["allowed_domain_1"] == "app.example.com"

    # --- regenerate the secret --------------------------------------------------------------------------------
    second_file = tmp_path / "app-secret-2"
    cli.run("owner", "apps", "regenerate-secret", app_id, "--secret-file", str(second_file))
    second_secret = second_file.read_text().strip()
    assert second_secret != first_secret
    assert_invalid_client(client.token(first_secret))
    assert client.token(second_secret).status_code == 200

    # --- domains and plan (by the admin) ----------------------------------------------------------------------
    domains = cli.json("admin", "apps", "domains", app_id, "--domain", "new.example.com")
    assert domains["allowedDomains"] == ["new.example.com"]
    assert cli.json("admin", "apps", "plan", app_id, "developer")["planId"] == "developer"
    changed = client.token(second_secret)
    assert changed.status_code == 200, changed.text
    changed_claims = claims_of(changed.json()["access_token"])
    assert changed_claims["allowed_domain_1"] == "new.example.com"
    assert "allowed_domain_2" not in changed_claims
    assert changed_claims["limits"] != first_claims["limits"]

    # --- disable / enable -----------------------------------------------------------------------------------
    assert cli.json("admin", "apps", "disable", app_id)["status"] == "disabled"
    assert_invalid_client(client.token(second_secret))
    assert cli.json("admin", "apps", "enable", app_id)["status"] == "enabled"
    assert client.token(second_secret).status_code == 200

    # --- keys: rotate, then emergency revoke ------------------------------------------------------------------
    before = active_kid(cli.json("owner", "keys", "list"))
    rotation = cli.json("owner", "keys", "rotate")
    assert rotation["retiringKid"] == before
    assert active_kid(cli.json("owner", "keys", "list")) == rotation["activeKid"] != before
    pre_revocation = client.token(second_secret).json()["access_token"]
    assert client.introspect(second_secret, pre_revocation)["active"] is True
    revocation = cli.json("owner", "keys", "revoke", "--yes", "--reason", "story drill")
    assert rotation["activeKid"] in revocation["revokedKids"]
    # Then a token issued before no longer introspects active, and old owner/admin tokens are refused (exit 3)
    assert client.introspect(second_secret, pre_revocation)["active"] is False
    cli.run("owner", "apps", "list", expect=3)
    cli.run("admin", "apps", "list", expect=3)
    # and after logging in again, everything works under the fresh key
    cli.login("owner", owner_name, owner_password)
    assert active_kid(cli.json("owner", "keys", "list")) == revocation["activeKid"]
    fresh = client.token(second_secret).json()["access_token"]
    assert client.introspect(second_secret, fresh)["active"] is True

    # --- master key -------------------------------------------------------------------------------------------
    # Given a new KMS key (the "rotated" master key)
    aws = local_stack.state["aws"]
    kms = boto3.client(
        "kms",
        endpoint_url=aws["endpoint_url"],
        region_name=aws["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    new_key = kms.create_key(
        Description=f"story master key {suffix}", KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT"
    )["KeyMetadata"]
    original = cli.json("operator", "master-key", "status")["currentMasterKeyId"]
    # When the operator re-wraps every data key under it
    rotated = cli.run("operator", "master-key", "rotate", "--target-key-id", new_key["KeyId"], "--json")
    report = json.loads(rotated.stdout)
    # Then progress was shown, every key is under the new master key, and tokens still issue
    assert "data keys under the target master key" in rotated.stderr
    assert report["targetMasterKeyId"] == new_key["Arn"]
    assert report["skipped"] == []
    assert report["rewrapped"] >= 1
    status = cli.json("operator", "master-key", "status")
    assert status["currentMasterKeyId"] == new_key["Arn"] != original
    assert status["keysByMasterKey"] == {new_key["Arn"]: report["total"]}
    assert client.token(second_secret).status_code == 200
    # and without a target the alias moves to a provisioned slot not in use (no key is ever created: the
    # local stack, like the CDK app, has slots a and b; the original key is slot a) and everything follows
    again = cli.json("operator", "master-key", "rotate")
    assert again["targetMasterKeyId"] == original != new_key["Arn"]
    assert (again["rewrapped"], again["skipped"], again["complete"]) == (report["total"], [], True)
    assert client.token(second_secret).status_code == 200

    # --- audit ------------------------------------------------------------------------------------------------
    wanted = {
        "TenantCreated",
        "UserCreated",
        "TenantStatusChanged",
        "SigningKeyCreated",
        "AppCreated",
        "AppPlanChanged",
        "AppSecretRegenerated",
        "AppDomainsChanged",
        "AppStatusChanged",
        "SigningKeyRotated",
        "SigningKeyRevoked",
        "MasterKeyRewrapped",
    }
    events = audit_trail(cli, "owner", wanted)
    seen = {e["detailType"] for e in events}
    assert wanted <= seen, f"missing from the audit trail: {sorted(wanted - seen)}"
    assert {e["tenantId"] for e in events} == {tenant_id}  # tenant-scoped
    assert [e["occurredAt"] for e in events] == sorted((e["occurredAt"] for e in events), reverse=True)
    by_type = {e["detailType"]: e for e in events}
    assert by_type["AppSecretRegenerated"]["appId"] == app_id
    assert by_type["AppDomainsChanged"]["actor"] == {"type": "user", "id": admin_user["userId"]}
    assert len([e for e in events if e["detailType"] == "UserCreated"]) == 3
    platform = cli.json("operator", "audit", "--platform", "--limit", "100")["items"]
    assert any(e["detailType"] == "TenantStatusChanged" and e["tenantId"] == tenant_id for e in platform)
    cli.run("owner", "audit", "--platform", expect=4)

    # --- it all takes effect at once: suspend, disable a user, delete the app --------------------------------
    cli.run("operator", "tenants", "suspend", tenant_id, "--reason", "story drill")
    cli.run("owner", "apps", "list", expect=3)
    assert_invalid_client(client.token(second_secret))
    cli.run("operator", "tenants", "reactivate", tenant_id)
    cli.run("owner", "apps", "list")
    cli.login("viewer", viewer_name, member_password, "--scope", "WireSocket.Read")
    cli.run("viewer", "apps", "list")
    cli.run("owner", "users", "disable", viewer_user["userId"])
    cli.run("viewer", "apps", "list", expect=3)
    cli.login("viewer", viewer_name, member_password, "--scope", "WireSocket.Read", expect=3)
    cli.run("owner", "apps", "delete", app_id, "--yes")
    cli.run("owner", "apps", "show", app_id, expect=5)
    assert_invalid_client(client.token(second_secret))
