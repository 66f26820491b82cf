"""The ``wiresocket`` CLI against a fake control plane: exit codes, sessions, secrets, idempotency, output.

The fake is a real HTTP server on 127.0.0.1 that answers canned JSON per route and records every request,
so these tests pin the CLI's side of the HTTP contract (docs/admin-api.md, docs/oauth.md) without moto.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner, Result

from wiresocket import cli
from wiresocket.client.errors import UnavailableError
from wiresocket.client.http import Transport
from wiresocket.local.stack import LocalStackOptions

ACCESS_TTL = 900


def fake_jwt(claims: dict[str, Any]) -> str:
    """A JWT-shaped string (unsigned) so ``whoami`` can read claims."""

    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


Reply = tuple[int, Any, dict[str, str]]
Responder = Callable[[Recorded], Reply]


@dataclass
class FakeControlPlane:
    """Routes ``(method, path)`` to canned replies (or responders) and records every request."""

    url: str = ""
    routes: dict[tuple[str, str], Responder] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on(
        self, method: str, path: str, status: int = 200, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        self.routes[(method, path)] = lambda _: (status, body, headers or {})

    def respond(self, method: str, path: str, responder: Responder) -> None:
        self.routes[(method, path)] = responder

    def sent(self, method: str, path: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def reset(self) -> None:
        with self.lock:
            self.routes.clear()
            self.requests.clear()


def _handler_for(fake: FakeControlPlane) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            recorded = Recorded(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            with fake.lock:
                fake.requests.append(recorded)
            responder = fake.routes.get((self.command, parts.path))
            status, body, headers = (
                responder(recorded)
                if responder
                else (404, {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no route"}, {})
            )
            payload = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            content_type = "application/problem+json" if status >= 400 else "application/json"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_PUT(self) -> None:
            self._serve()

        def do_DELETE(self) -> None:
            self._serve()

    return Handler


@pytest.fixture(scope="module")
def server() -> Iterator[FakeControlPlane]:
    fake = FakeControlPlane()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(fake))
    httpd.daemon_threads = True
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield fake
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def fake(server: FakeControlPlane, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeControlPlane:
    server.reset()
    for name in list(os.environ):
        if name.startswith("WIRESOCKET_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return server


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli.app, list(args), input=input, env=env)


def write_session(
    path: Path,
    url: str,
    *,
    expires_in: float = ACCESS_TTL,
    refresh: str | None = "wsr_old",
    scope: str = "WireSocket.Admin offline_access",
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "url": url,
        "client_id": "dash",
        "username": "owner@t.test",
        "scope": scope,
        "access_token": fake_jwt({"tenantid": "t-1", "sub": "u-1"}),
        "expires_at": time.time() + expires_in,
        "refresh_token": refresh,
    }
    path.write_text(json.dumps(data))
    path.chmod(0o600)


@pytest.fixture
def session_file(fake: FakeControlPlane, tmp_path: Path) -> Path:
    path = tmp_path / "owner-session.json"
    write_session(path, fake.url)
    return path


def as_owner(fake: FakeControlPlane, session_file: Path, *args: str, input: str | None = None) -> Result:
    return run("--url", fake.url, "--session-file", str(session_file), *args, input=input)


def problem(status: int, **extra: Any) -> dict[str, Any]:
    return {"type": "about:blank", "title": "x", "status": status, "detail": "y", **extra}


APP = {
    "appId": "a-1",
    "tenantId": "t-1",
    "name": "shop",
    "clientId": "c-1",
    "status": "enabled",
    "licenseRegion": "aws-eu-west-1",
    "allowedDomains": ["shop.example.com"],
    "planId": "developer",
    "createdAt": "2026-01-01T00:00:00Z",
    "updatedAt": "2026-01-01T00:00:00Z",
}
THE_SECRET = "s3cr3t-" + "x" * 40


# --- exit codes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "exit_code"),
    [(401, 3), (403, 4), (404, 5), (409, 6), (400, 7), (422, 7), (429, 8), (500, 9), (503, 9)],
)
def test_each_error_status_maps_to_its_documented_exit_code(
    fake: FakeControlPlane, session_file: Path, status: int, exit_code: int
) -> None:
    # Given a control plane that answers this status with problem+json (and Retry-After 0 when it would retry)
    fake.on("GET", "/admin/apps/a-1", status, problem(status), {"Retry-After": "0"})
    # When an app is shown
    result = as_owner(fake, session_file, "apps", "show", "a-1")
    # Then the exit code is the documented one, and nothing is printed on stdout
    assert result.exit_code == exit_code, result.output
    assert result.stdout == ""


def test_validation_errors_list_the_fields(fake: FakeControlPlane, session_file: Path) -> None:
    # Given a 422 with field errors
    errors = [{"loc": ["body", "allowedDomains"], "msg": "at most 3"}]
    fake.on("PUT", "/admin/apps/a-1/domains", 422, problem(422, errors=errors))
    # When domains are set
    result = as_owner(fake, session_file, "apps", "domains", "a-1", "--domain", "a.com")
    # Then the exit code is 7 and the field is named on stderr
    assert result.exit_code == 7
    assert "body.allowedDomains" in result.stderr


def test_an_unreachable_control_plane_is_unavailable(fake: FakeControlPlane, session_file: Path) -> None:
    # Given a URL nothing listens on (the session is for that URL)
    write_session(session_file, "http://127.0.0.1:9")
    # When apps are listed
    result = run("--url", "http://127.0.0.1:9", "--session-file", str(session_file), "--timeout", "2", "apps", "list")
    # Then exit 9
    assert result.exit_code == 9


def test_no_url_and_no_local_json_is_a_usage_error(fake: FakeControlPlane) -> None:
    # Given no --url, no WIRESOCKET_URL, no .wiresocket/local.json
    # When apps are listed
    result = run("apps", "list")
    # Then exit 2 and no request was made
    assert result.exit_code == 2
    assert fake.requests == []


def test_a_url_that_is_not_http_is_a_usage_error(fake: FakeControlPlane) -> None:
    result = run("--url", "ftp://example.com", "apps", "list")
    assert result.exit_code == 2


def test_a_bad_idempotency_key_is_a_usage_error(fake: FakeControlPlane, session_file: Path) -> None:
    result = as_owner(fake, session_file, "--idempotency-key", "no spaces please", "keys", "rotate")
    assert result.exit_code == 2
    assert fake.requests == []


# --- sessions --------------------------------------------------------------------------------------------


def test_without_a_session_commands_ask_to_log_in(fake: FakeControlPlane, tmp_path: Path) -> None:
    # Given no session file
    # When apps are listed
    result = as_owner(fake, tmp_path / "none.json", "apps", "list")
    # Then exit 3 and nothing was sent
    assert result.exit_code == 3
    assert fake.requests == []


def test_a_session_of_another_url_is_never_sent(fake: FakeControlPlane, tmp_path: Path) -> None:
    # Given a session issued by another control plane
    path = tmp_path / "s.json"
    write_session(path, "https://other.example.com")
    # When a command runs against this one
    result = as_owner(fake, path, "apps", "list")
    # Then it is not logged in (exit 3) and no token went anywhere
    assert result.exit_code == 3
    assert fake.requests == []


def test_a_session_file_readable_by_others_is_refused(fake: FakeControlPlane, session_file: Path) -> None:
    # Given a session file with mode 0644
    session_file.chmod(0o644)
    # When it would be used
    result = as_owner(fake, session_file, "apps", "list")
    # Then exit 1 and nothing was sent
    assert result.exit_code == 1
    assert fake.requests == []


def test_an_expired_session_without_refresh_token_asks_to_log_in(fake: FakeControlPlane, tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    write_session(path, fake.url, expires_in=-10, refresh=None)
    result = as_owner(fake, path, "apps", "list")
    assert result.exit_code == 3
    assert fake.requests == []


def test_an_expired_session_is_refreshed_transparently_and_stored(fake: FakeControlPlane, tmp_path: Path) -> None:
    # Given an expired session with a refresh token, and a token endpoint that rotates it
    path = tmp_path / "s.json"
    write_session(path, fake.url, expires_in=-10, refresh="wsr_old")
    new_access = fake_jwt({"tenantid": "t-1", "sub": "u-1", "n": 2})
    fake.on(
        "POST",
        "/connect/token",
        200,
        {
            "access_token": new_access,
            "expires_in": ACCESS_TTL,
            "scope": "WireSocket.Admin offline_access",
            "refresh_token": "wsr_new",
            "token_type": "Bearer",
        },
    )
    fake.on("GET", "/admin/apps", 200, {"items": [APP], "nextCursor": None})
    # When apps are listed
    result = as_owner(fake, path, "apps", "list", "--json")
    # Then the refresh grant was used (client id, no secret), the call carried the new token,
    assert result.exit_code == 0, result.output
    (grant,) = fake.sent("POST", "/connect/token")
    assert grant.form() == {"grant_type": "refresh_token", "refresh_token": "wsr_old", "client_id": "dash"}
    (call,) = fake.sent("GET", "/admin/apps")
    assert call.headers["authorization"] == f"Bearer {new_access}"
    # and the rotated tokens are stored, still 0600
    stored = json.loads(path.read_text())
    assert (stored["access_token"], stored["refresh_token"]) == (new_access, "wsr_new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_dead_refresh_family_deletes_the_session(fake: FakeControlPlane, tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    write_session(path, fake.url, expires_in=-10)
    fake.on("POST", "/connect/token", 400, {"error": "invalid_grant"})
    result = as_owner(fake, path, "apps", "list")
    assert result.exit_code == 3
    assert not path.exists()
    assert fake.sent("GET", "/admin/apps") == []


# --- login -----------------------------------------------------------------------------------------------


def _token_endpoint(accepted_scope: str, password: str) -> Responder:
    def respond(request: Recorded) -> Reply:
        form = request.form()
        if form.get("password") != password:
            return 400, {"error": "invalid_grant"}, {}
        if form.get("scope") != f"{accepted_scope} offline_access":
            return 400, {"error": "invalid_scope"}, {}
        claims = {"tenantid": "t-1", "sub": "u-9", "scope": form["scope"]}
        body = {
            "access_token": fake_jwt(claims),
            "expires_in": ACCESS_TTL,
            "scope": form["scope"],
            "refresh_token": "wsr_first",
            "token_type": "Bearer",
        }
        return 200, body, {}

    return respond


def test_login_with_a_wrong_password_stores_nothing(fake: FakeControlPlane, tmp_path: Path) -> None:
    # Given a token endpoint that refuses the password
    fake.respond("POST", "/connect/token", _token_endpoint("WireSocket.Admin", "right"))
    path = tmp_path / "s.json"
    # When logging in with the wrong one
    result = run(
        "--url", fake.url, "--session-file", str(path), "login", "-u", "o@t.test",
        "--client-id", "dash", "--client-secret", "dsecret", input="wrong\n",
    )  # fmt: skip
    # Then exit 3 and no session exists
    assert result.exit_code == 3
    assert not path.exists()


def test_login_without_dashboard_client_is_a_usage_error(fake: FakeControlPlane, tmp_path: Path) -> None:
    result = run("--url", fake.url, "--session-file", str(tmp_path / "s.json"), "login", "-u", "o@t.test", input="pw\n")
    assert result.exit_code == 2
    assert fake.requests == []


def test_login_prompts_hidden_finds_the_role_scope_and_stores_a_private_session(
    fake: FakeControlPlane, tmp_path: Path
) -> None:
    # Given a viewer (only WireSocket.Read is accepted) and a local.json that names this URL's dashboard client
    password = "viewer-password-123"
    fake.respond("POST", "/connect/token", _token_endpoint("WireSocket.Read", password))
    state_dir = tmp_path / ".wiresocket"
    state_dir.mkdir()
    local = {"control_plane_url": fake.url, "dashboard_client": {"client_id": "dash", "client_secret": "dsecret"}}
    (state_dir / "local.json").write_text(json.dumps(local))
    # When logging in with the URL from local.json and the password typed at the hidden prompt
    result = run("login", "-u", "viewer@t.test", input=f"{password}\n")
    # Then it succeeds with the Read scope after trying Admin,
    assert result.exit_code == 0, result.output
    scopes = [r.form()["scope"] for r in fake.sent("POST", "/connect/token")]
    assert scopes == ["WireSocket.Admin offline_access", "WireSocket.Read offline_access"]
    assert all(r.headers["authorization"].startswith("Basic ") for r in fake.sent("POST", "/connect/token"))
    # the password and tokens appear nowhere in the output,
    assert password not in result.output
    assert "wsr_first" not in result.output
    # and the session lives next to local.json, mode 0600
    session = state_dir / "session.json"
    assert stat.S_IMODE(session.stat().st_mode) == 0o600
    stored = json.loads(session.read_text())
    assert stored["scope"] == "WireSocket.Read offline_access"
    assert stored["refresh_token"] == "wsr_first"
    assert "dsecret" not in session.read_text()  # the dashboard secret is not kept
    # and whoami reads it back without a network call
    before = len(fake.requests)
    who = run("whoami", "--json")
    assert who.exit_code == 0
    assert json.loads(who.stdout)["tenantId"] == "t-1"
    assert len(fake.requests) == before


def test_login_with_a_url_flag_keeps_the_session_in_home_per_url(fake: FakeControlPlane, tmp_path: Path) -> None:
    fake.respond("POST", "/connect/token", _token_endpoint("WireSocket.Admin", "pw"))
    env = {
        "WIRESOCKET_DASHBOARD_CLIENT_ID": "dash",
        "WIRESOCKET_DASHBOARD_CLIENT_SECRET": "x",
        "WIRESOCKET_PASSWORD": "pw",
    }
    result = run("--url", fake.url, "login", "-u", "o@t.test", env=env)
    assert result.exit_code == 0, result.output
    sessions = list((tmp_path / "home" / ".wiresocket").glob("session-*.json"))
    assert len(sessions) == 1
    assert stat.S_IMODE(sessions[0].stat().st_mode) == 0o600


def test_logout_revokes_the_refresh_token_and_deletes_the_session(fake: FakeControlPlane, session_file: Path) -> None:
    fake.on("POST", "/connect/revocation", 200, None)
    result = as_owner(fake, session_file, "logout")
    assert result.exit_code == 0
    (revoke,) = fake.sent("POST", "/connect/revocation")
    assert revoke.form()["token"] == "wsr_old"
    assert not session_file.exists()


# --- secrets ---------------------------------------------------------------------------------------------


def test_apps_create_refuses_to_lose_the_one_time_secret(fake: FakeControlPlane, session_file: Path) -> None:
    # Given no --secret-file and no --show-secret
    # When an app is created
    result = as_owner(fake, session_file, "apps", "create", "--name", "n", "--region", "aws-eu-west-1", "--plan", "p")
    # Then it is a usage error and nothing was created
    assert result.exit_code == 2
    assert fake.requests == []


def test_apps_create_never_overwrites_a_file_with_the_secret(
    fake: FakeControlPlane, session_file: Path, tmp_path: Path
) -> None:
    existing = tmp_path / "exists"
    existing.write_text("keep")
    result = as_owner(
        fake, session_file, "apps", "create", "--name", "n", "--region", "aws-eu-west-1", "--plan", "p",
        "--secret-file", str(existing),
    )  # fmt: skip
    assert result.exit_code == 2
    assert existing.read_text() == "keep"
    assert fake.requests == []


def test_apps_create_writes_the_secret_to_a_private_file_and_prints_it_nowhere(
    fake: FakeControlPlane, session_file: Path, tmp_path: Path
) -> None:
    # Given a control plane that creates the app
    fake.on("POST", "/admin/apps", 201, {**APP, "clientSecret": THE_SECRET})
    secret_file = tmp_path / "secret"
    # When it is created with --secret-file, three domains and --json
    result = as_owner(
        fake, session_file, "apps", "create", "--name", "shop", "--region", "aws-eu-west-1", "--plan", "developer",
        "--domain", "a.example.com", "--domain", "b.example.com", "--domain", "localhost:3000",
        "--secret-file", str(secret_file), "--json",
    )  # fmt: skip
    # Then the body is the documented one, with an Idempotency-Key,
    assert result.exit_code == 0, result.output
    (call,) = fake.sent("POST", "/admin/apps")
    assert call.json() == {
        "name": "shop",
        "licenseRegion": "aws-eu-west-1",
        "allowedDomains": ["a.example.com", "b.example.com", "localhost:3000"],
        "planId": "developer",
    }
    uuid.UUID(call.headers["idempotency-key"])
    # the secret is in the 0600 file only
    assert secret_file.read_text() == THE_SECRET + "\n"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert THE_SECRET not in result.output
    assert json.loads(result.stdout)["appId"] == "a-1"


def test_show_secret_prints_it_when_asked(fake: FakeControlPlane, session_file: Path) -> None:
    fake.on("POST", "/admin/apps/a-1/secret", 200, {"clientId": "c-1", "clientSecret": THE_SECRET})
    result = as_owner(fake, session_file, "apps", "regenerate-secret", "a-1", "--show-secret", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"clientId": "c-1", "clientSecret": THE_SECRET}


def test_a_replayed_secret_answer_is_reported_not_hidden(
    fake: FakeControlPlane, session_file: Path, tmp_path: Path
) -> None:
    # Given an idempotent replay, whose clientSecret is null
    fake.on("POST", "/admin/apps/a-1/secret", 200, {"clientId": "c-1", "clientSecret": None})
    result = as_owner(fake, session_file, "apps", "regenerate-secret", "a-1", "--secret-file", str(tmp_path / "s"))
    # Then the command fails (the secret is not there) and writes no file
    assert result.exit_code == 1
    assert not (tmp_path / "s").exists()


def test_secret_fields_are_never_shown_by_reads(fake: FakeControlPlane, session_file: Path) -> None:
    # Given a (misbehaving) server that returns a secret on a read
    fake.on("GET", "/admin/apps/a-1", 200, {**APP, "clientSecret": THE_SECRET})
    for flags in ((), ("--json",)):
        result = as_owner(fake, session_file, "apps", "show", "a-1", *flags)
        assert result.exit_code == 0
        assert THE_SECRET not in result.output


def test_passwords_of_invited_users_are_prompted_hidden(fake: FakeControlPlane, session_file: Path) -> None:
    fake.on(
        "POST", "/admin/users", 201, {"userId": "u-2", "username": "v@t.test", "role": "viewer", "status": "active"}
    )
    result = as_owner(
        fake,
        session_file,
        "users",
        "invite",
        "--username",
        "v@t.test",
        "--role",
        "viewer",
        input="pw-123456\npw-123456\n",
    )
    assert result.exit_code == 0, result.output
    assert "pw-123456" not in result.output
    (call,) = fake.sent("POST", "/admin/users")
    assert call.json() == {"username": "v@t.test", "password": "pw-123456", "role": "viewer"}


def test_inviting_an_owner_is_a_usage_error(fake: FakeControlPlane, session_file: Path) -> None:
    result = as_owner(
        fake, session_file, "users", "invite", "--username", "o@t.test", "--role", "owner", input="p\np\n"
    )
    assert result.exit_code == 2
    assert fake.requests == []


# --- idempotency -----------------------------------------------------------------------------------------


def test_every_mutating_call_sends_a_fresh_idempotency_key_and_reads_send_none(
    fake: FakeControlPlane, session_file: Path
) -> None:
    fake.on("POST", "/admin/keys/rotate", 200, {"activeKid": "k2"})
    fake.on("GET", "/admin/keys", 200, {"items": [], "nextCursor": None})
    first = as_owner(fake, session_file, "keys", "rotate")
    second = as_owner(fake, session_file, "keys", "rotate")
    listed = as_owner(fake, session_file, "keys", "list")
    assert (first.exit_code, second.exit_code, listed.exit_code) == (0, 0, 0)
    keys = [r.headers["idempotency-key"] for r in fake.sent("POST", "/admin/keys/rotate")]
    assert len(set(keys)) == 2
    assert all(uuid.UUID(k).version == 4 for k in keys)
    assert "idempotency-key" not in fake.sent("GET", "/admin/keys")[0].headers


def test_a_retry_after_503_reuses_the_same_key(fake: FakeControlPlane, session_file: Path) -> None:
    # Given a server that is unavailable once, then succeeds
    answers = iter([(503, problem(503), {"Retry-After": "0"}), (200, {**APP, "status": "disabled"}, {})])
    fake.respond("POST", "/admin/apps/a-1/disable", lambda _: next(answers))
    # When the app is disabled with a chosen key
    result = as_owner(fake, session_file, "--idempotency-key", "retry-me_1", "apps", "disable", "a-1")
    # Then both attempts carried that key, and the command succeeded
    assert result.exit_code == 0, result.output
    assert [r.headers["idempotency-key"] for r in fake.sent("POST", "/admin/apps/a-1/disable")] == ["retry-me_1"] * 2


def test_transport_never_follows_redirects_with_the_token(fake: FakeControlPlane) -> None:
    fake.on("GET", "/admin/tenant", 302, None, {"Location": "http://evil.example/"})
    transport = Transport(fake.url, retries=0)
    with pytest.raises(UnavailableError):
        transport.request_json("GET", "/admin/tenant", token="t")
    assert len(fake.requests) == 1


# --- lists and output ------------------------------------------------------------------------------------


def test_all_follows_next_cursor(fake: FakeControlPlane, session_file: Path) -> None:
    def pages(request: Recorded) -> Reply:
        cursor = request.query.get("cursor", [None])[0]
        if cursor is None:
            return 200, {"items": [{**APP, "appId": "a-1"}], "nextCursor": "c2"}, {}
        return 200, {"items": [{**APP, "appId": "a-2"}], "nextCursor": None}, {}

    fake.respond("GET", "/admin/apps", pages)
    result = as_owner(fake, session_file, "apps", "list", "--all", "--limit", "1", "--json")
    assert result.exit_code == 0, result.output
    assert [a["appId"] for a in json.loads(result.stdout)["items"]] == ["a-1", "a-2"]
    assert [r.query["limit"] for r in fake.sent("GET", "/admin/apps")] == [["1"], ["1"]]


def test_lists_are_tables_by_default(fake: FakeControlPlane, session_file: Path) -> None:
    fake.on("GET", "/admin/apps", 200, {"items": [APP], "nextCursor": "more"})
    result = as_owner(fake, session_file, "apps", "list")
    assert result.exit_code == 0
    assert "appId" in result.stdout
    assert "a-1" in result.stdout
    assert "--cursor more" in result.stderr


def test_audit_shows_detail_types_and_platform_uses_the_platform_route(
    fake: FakeControlPlane, session_file: Path
) -> None:
    event = {
        "eventId": "e-1",
        "detailType": "AppCreated",
        "occurredAt": "2026-01-01T00:00:00Z",
        "actor": {"type": "user", "id": "u-1"},
        "tenantId": "t-1",
        "appId": "a-1",
        "region": "eu-west-1",
        "data": {"name": "shop"},
    }
    fake.on("GET", "/admin/audit", 200, {"items": [event], "nextCursor": None})
    fake.on("GET", "/platform/audit", 200, {"items": [], "nextCursor": None})
    table = as_owner(fake, session_file, "audit", "--limit", "5")
    platform = as_owner(fake, session_file, "audit", "--platform", "--json")
    assert table.exit_code == platform.exit_code == 0
    assert "AppCreated" in table.stdout
    assert "user:u-1" in table.stdout
    assert fake.sent("GET", "/admin/audit")[0].query == {"limit": ["5"]}
    assert json.loads(platform.stdout) == {"items": [], "nextCursor": None}


def test_plans_list_uses_the_platform_route_for_operators(fake: FakeControlPlane, tmp_path: Path) -> None:
    path = tmp_path / "op.json"
    write_session(path, fake.url, scope="WireSocket.Platform offline_access")
    fake.on("GET", "/platform/plans", 200, {"items": [{"planId": "p", "name": "P", "free": False}], "nextCursor": None})
    result = as_owner(fake, path, "plans", "list", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["items"][0]["planId"] == "p"


def test_signup_is_public_and_sends_the_documented_body(fake: FakeControlPlane) -> None:
    fake.on("POST", "/signup", 201, {"tenantId": "t-9", "status": "pending", "ownerUserId": "u-9"})
    result = run(
        "--url", fake.url, "signup", "--tenant-name", "Acme", "--owner-username", "o@acme.test", "--json",
        env={"WIRESOCKET_NEW_PASSWORD": "pw-1234567"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (call,) = fake.sent("POST", "/signup")
    assert "authorization" not in call.headers
    assert call.json() == {"tenantName": "Acme", "ownerUsername": "o@acme.test", "ownerPassword": "pw-1234567"}
    assert json.loads(result.stdout)["tenantId"] == "t-9"


# --- master key ------------------------------------------------------------------------------------------


def test_rewrap_progress_matches_a_key_id_against_arns() -> None:
    status = {
        "currentMasterKeyId": "arn:aws:kms:eu-west-1:1:key/old",
        "keysByMasterKey": {"arn:aws:kms:eu-west-1:1:key/old": 3, "arn:aws:kms:eu-west-1:1:key/new": 5},
    }
    assert cli.rewrap_progress(status, "new") == (5, 8)
    assert cli.rewrap_progress(status, None) == (3, 8)
    assert cli.rewrap_progress({}, None) == (0, 0)


def test_master_key_rotate_reports_progress_while_it_runs(
    fake: FakeControlPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an operator, a rotation that takes a moment, and a status that moves (polled faster than the CLI's
    # 2 s, which spares the directory a key scan twice a second, so that this test stays short)
    monkeypatch.setattr(cli, "PROGRESS_POLL_SECONDS", 0.3)
    path = tmp_path / "op.json"
    write_session(path, fake.url, scope="WireSocket.Platform offline_access")
    polls = iter([1, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4])

    def status(_: Recorded) -> Reply:
        done = next(polls, 4)
        return (
            200,
            {"currentMasterKeyId": "arn:k/new", "keysByMasterKey": {"arn:k/new": done, "arn:k/old": 4 - done}},
            {},
        )

    def rotate(_: Recorded) -> Reply:
        time.sleep(1.2)
        report = {"targetMasterKeyId": "arn:k/new", "total": 4, "rewrapped": 4, "alreadyCurrent": 0, "skipped": []}
        return 200, report, {}

    fake.respond("GET", "/platform/master-key", status)
    fake.respond("POST", "/platform/master-key/rotate", rotate)
    # When the master key is rotated to a target
    result = as_owner(fake, path, "master-key", "rotate", "--target-key-id", "new", "--json")
    # Then progress lines were shown on stderr while it ran, and the report is on stdout
    assert result.exit_code == 0, result.output
    assert "4/4" in result.stderr
    assert len(fake.sent("GET", "/platform/master-key")) >= 1
    assert json.loads(result.stdout)["rewrapped"] == 4
    (call,) = fake.sent("POST", "/platform/master-key/rotate")
    assert call.json() == {"targetKeyId": "new"}


def test_a_failed_master_key_rotation_exits_with_its_code(fake: FakeControlPlane, tmp_path: Path) -> None:
    path = tmp_path / "op.json"
    write_session(path, fake.url, scope="WireSocket.Platform offline_access")
    fake.on("GET", "/platform/master-key", 200, {"currentMasterKeyId": "k", "keysByMasterKey": {}})
    fake.on("POST", "/platform/master-key/rotate", 409, problem(409))
    result = as_owner(fake, path, "master-key", "rotate")
    assert result.exit_code == 6


# --- wiresocket local ------------------------------------------------------------------------------------


def record_local_runs(monkeypatch: pytest.MonkeyPatch, *, exit_code: int) -> list[LocalStackOptions]:
    """Replace ``run_local`` by a recorder of the options it is given, returning ``exit_code``."""
    started: list[LocalStackOptions] = []

    def fake_run_local(options: LocalStackOptions, **_: object) -> int:
        started.append(options)
        return exit_code

    monkeypatch.setattr(cli, "run_local", fake_run_local)
    return started


@pytest.mark.parametrize(
    "flags",
    [
        ("--http-port", "70000"),
        ("--ws-port", "-1"),
        ("--moto-port", "x"),
        ("--ws-idle-timeout", "0"),
        ("--ws-max-lifetime", "inf"),
        ("--bogus",),
    ],
)
def test_local_rejects_bad_flags_with_exit_2(flags: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    started = record_local_runs(monkeypatch, exit_code=0)
    assert cli.main(["local", *flags]) == 2
    assert started == []


def test_local_passes_every_flag_to_the_stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Given run_local replaced by a recorder that "fails to start"
    started = record_local_runs(monkeypatch, exit_code=1)
    # When wiresocket local runs with every flag, and with none
    code = cli.main(
        ["local", "--http-port", "0", "--ws-port", "9001", "--moto-port", "0", "--state-dir", str(tmp_path),
         "--ws-idle-timeout", "1.5", "--ws-max-lifetime", "30"]
    )  # fmt: skip
    default_code = cli.main(["local"])
    # Then the exit code is run_local's and the options are exactly the flags (and the documented defaults)
    assert (code, default_code) == (1, 1)
    assert started == [
        LocalStackOptions(
            http_port=0, ws_port=9001, state_dir=tmp_path, moto_port=0, ws_idle_timeout=1.5, ws_max_lifetime=30.0
        ),
        LocalStackOptions(
            http_port=8080,
            ws_port=8081,
            state_dir=Path(".wiresocket"),
            moto_port=0,
            ws_idle_timeout=600.0,
            ws_max_lifetime=7200.0,
        ),
    ]


def test_help_documents_the_exit_codes() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "rate limited" in result.stdout
