"""The ``wiresocket`` command: ``wiresocket local`` runs the local stack (SPEC §10); every other command is a
client of a control plane's token endpoint and admin API (docs/admin-api.md, issue 4).

Kept apart from ``local/stack.py`` so the stack stays a library the tests can drive in-process, and apart
from ``client/`` so scripts can use the HTTP client without the command line. This module owns what only a
process owns: arguments, prompts, output (tables or ``--json``), signals and the exit code.

Exit codes (``EXIT_CODES``): 0 ok, 1 local error, 2 usage, 3 authentication, 4 forbidden, 5 not found,
6 conflict, 7 invalid input, 8 rate limited, 9 unavailable / server error.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import re
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

from wiresocket.client.admin import AdminClient, JsonObject, Page
from wiresocket.client.errors import (
    EXIT_CODES,
    ClientError,
    InvalidInputError,
    LocalError,
    RateLimitedError,
    UsageError,
)
from wiresocket.client.http import Transport, normalize_url
from wiresocket.client.oauth import TokenClient, unverified_claims
from wiresocket.client.session import (
    Session,
    SessionManager,
    SessionStore,
    default_session_path,
    write_private_file,
)

if TYPE_CHECKING:
    from wiresocket.local.stack import LocalStackOptions, Seeder

P = ParamSpec("P")
R = TypeVar("R")

ENV_URL = "WIRESOCKET_URL"
ENV_STATE_DIR = "WIRESOCKET_STATE_DIR"
ENV_SESSION_FILE = "WIRESOCKET_SESSION_FILE"
ENV_IDEMPOTENCY_KEY = "WIRESOCKET_IDEMPOTENCY_KEY"
ENV_DASHBOARD_CLIENT_ID = "WIRESOCKET_DASHBOARD_CLIENT_ID"
ENV_DASHBOARD_CLIENT_SECRET = "WIRESOCKET_DASHBOARD_CLIENT_SECRET"  # noqa: S105 - a variable name
ENV_PASSWORD = "WIRESOCKET_PASSWORD"  # noqa: S105 - a variable name
ENV_NEW_PASSWORD = "WIRESOCKET_NEW_PASSWORD"  # noqa: S105 - a variable name
DEFAULT_STATE_DIR = Path(".wiresocket")
LOCAL_STATE_FILE = "local.json"
SCOPE_OFFLINE = "offline_access"
# Tried in this order when ``login`` is not told the scope: a human gets exactly one of them (docs/oauth.md).
LOGIN_SCOPES = ("WireSocket.Admin", "WireSocket.Read", "WireSocket.Platform")
SCOPE_PLATFORM = "WireSocket.Platform"
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
MASTER_KEY_TIMEOUT_SECONDS = 900.0
PROGRESS_POLL_SECONDS = 2.0
"""How often ``master-key rotate`` asks for progress. Each answer is a Scan of the directory's key items
(``AdminService.master_key_status``), so the CLI asks every 2 s rather than twice a second."""
SECRET_FIELDS = frozenset(
    {"clientSecret", "client_secret", "password", "accessToken", "refreshToken", "access_token", "refresh_token"}
)

EXIT_CODES_HELP = "Exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()) + "."

app = typer.Typer(
    name="wiresocket",
    help="WireSocket security plane tools: run the stack locally, or manage tenants, apps, users and keys.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
tenants_app = typer.Typer(help="Tenants (platform operator).", no_args_is_help=True, epilog=EXIT_CODES_HELP)
plans_app = typer.Typer(help="Plans: list (anyone), create (operator).", no_args_is_help=True, epilog=EXIT_CODES_HELP)
users_app = typer.Typer(help="Users of your tenant.", no_args_is_help=True, epilog=EXIT_CODES_HELP)
apps_app = typer.Typer(help="Apps (M2M clients) of your tenant.", no_args_is_help=True, epilog=EXIT_CODES_HELP)
keys_app = typer.Typer(help="Signing keys of your tenant.", no_args_is_help=True, epilog=EXIT_CODES_HELP)
master_key_app = typer.Typer(help="The KMS master key (operator).", no_args_is_help=True, epilog=EXIT_CODES_HELP)
app.add_typer(tenants_app, name="tenants")
app.add_typer(plans_app, name="plans")
app.add_typer(users_app, name="users")
app.add_typer(apps_app, name="apps")
app.add_typer(keys_app, name="keys")
app.add_typer(master_key_app, name="master-key")


# --- the local stack -------------------------------------------------------------------------------------


def _port(value: int) -> int:
    if not 0 <= value <= 65535:
        raise typer.BadParameter(f"not a port: {value}")
    return value


def _optional_port(value: int | None) -> int | None:
    return None if value is None else _port(value)


def _seconds(value: float) -> float:
    if not 0 < value < math.inf:
        raise typer.BadParameter(f"not a positive number of seconds: {value}")
    return value


def run_local(options: LocalStackOptions, *, seeder: Seeder | None = None) -> int:
    """Run the local stack until SIGINT or SIGTERM; 0 after a clean stop, 1 if it could not start."""
    from wiresocket.local.stack import LocalStack, LocalStackError, print_summary

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Installed before starting, so a signal that arrives during start-up still ends in a clean stop.
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack = LocalStack(options, seeder=seeder)
    try:
        try:
            state = stack.start()
        except (LocalStackError, OSError, ImportError) as exc:
            print(f"wiresocket local: cannot start: {exc}", file=sys.stderr, flush=True)
            return 1
        print_summary(state, stack.state_file, sys.stdout)
        while not stop.wait(0.5):
            pass
        print("wiresocket local: stopping", file=sys.stderr, flush=True)
        return 0
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@app.command("local")
def local_command(
    http_port: Annotated[int, typer.Option(callback=_port, help="control-plane HTTP port (0 = any free)")] = 8080,
    ws_port: Annotated[int, typer.Option(callback=_port, help="WebSocket API emulator port (0 = any free)")] = 8081,
    ws_idle_timeout: Annotated[
        float, typer.Option(callback=_seconds, help="close WebSocket connections idle this long (s)")
    ] = 600.0,
    ws_max_lifetime: Annotated[
        float, typer.Option(callback=_seconds, help="close WebSocket connections this old (s)")
    ] = 7200.0,
    demo_port: Annotated[
        int, typer.Option(callback=_port, help="demo page and token broker port (0 = off); the demo app allows 5173")
    ] = 5173,
    state_dir: Annotated[Path, typer.Option(help="where local.json is written")] = DEFAULT_STATE_DIR,
    moto_port: Annotated[int, typer.Option(callback=_port, help="embedded moto server port (0 = any free)")] = 0,
    second_ws_port: Annotated[
        int | None,
        typer.Option(
            callback=_optional_port,
            help="also run a second WebSocket region on this port (0 = any free), for region pinning (4009)",
        ),
    ] = None,
    second_ws_region: Annotated[str, typer.Option(help="the AWS region name of the second WebSocket region")] = (
        "us-east-1"
    ),
    pin_grace: Annotated[
        int, typer.Option(min=1, max=10, help="seconds a document stays pinned after its last user left")
    ] = 10,
) -> None:
    """Run the control plane on this machine: embedded moto, real handlers, local gateways.

    Exits 0 after a clean stop (SIGINT/SIGTERM), 1 if the stack could not start, 2 on bad flags.
    """
    from wiresocket.local.stack import LocalStackOptions

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    # moto's per-request lines, credential chatter, and websockets' per-connection lines (the emulator logs its own).
    for noisy in ("botocore", "boto3", "werkzeug", "pynamodb", "websockets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    options = LocalStackOptions(
        http_port=http_port,
        ws_port=ws_port,
        state_dir=state_dir,
        moto_port=moto_port,
        ws_idle_timeout=ws_idle_timeout,
        ws_max_lifetime=ws_max_lifetime,
        demo_port=demo_port,
        second_ws_port=second_ws_port,
        second_ws_region=second_ws_region,
        pin_grace_seconds=pin_grace,
    )
    raise typer.Exit(run_local(options))


# --- global options and the per-invocation context --------------------------------------------------------


@dataclass
class Context:
    """The global options of one invocation, and what is derived from them on first use."""

    url_option: str | None = None
    state_dir_option: Path | None = None
    session_file: Path | None = None
    json_output: bool = False
    timeout: float = 30.0
    idempotency_key: str | None = None
    _local_state: dict[str, Any] | None = field(default=None, repr=False)
    _transport: Transport | None = field(default=None, repr=False)

    @property
    def state_dir(self) -> Path:
        return self.state_dir_option or DEFAULT_STATE_DIR

    def local_state(self) -> dict[str, Any] | None:
        """The parsed ``local.json`` of the state directory, or None when there is none."""
        if self._local_state is None:
            path = self.state_dir / LOCAL_STATE_FILE
            try:
                data = json.loads(path.read_text())
            except FileNotFoundError:
                return None
            except (OSError, ValueError) as exc:
                raise UsageError(f"cannot read {path}: {exc}") from None
            self._local_state = data if isinstance(data, dict) else {}
        return self._local_state

    def _local_url(self) -> str | None:
        state = self.local_state()
        url = state.get("control_plane_url") if state else None
        return normalize_url(url) if isinstance(url, str) else None

    @property
    def url(self) -> str:
        """``--url``, else ``$WIRESOCKET_URL`` (typer resolves both), else ``control_plane_url`` of local.json."""
        if self.url_option:
            return normalize_url(self.url_option)
        local = self._local_url()
        if local is None:
            raise UsageError(
                f"no control plane: pass --url, set {ENV_URL}, or run `wiresocket local` "
                f"(which writes {self.state_dir / LOCAL_STATE_FILE})"
            )
        return local

    def local_state_for_url(self) -> dict[str, Any] | None:
        """local.json, but only when it describes the control plane we talk to (its secrets go nowhere else)."""
        state = self.local_state()
        return state if state is not None and self._local_url() == self.url else None

    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = Transport(self.url, timeout=self.timeout)
        return self._transport

    def session_store(self) -> SessionStore:
        """``--session-file``; else ``<state-dir>/session.json`` when the state directory was named or the URL
        came from its local.json; else ``~/.wiresocket/session-<hash of url>.json``."""
        if self.session_file is not None:
            return SessionStore(self.session_file)
        uses_state_dir = self.state_dir_option is not None or not self.url_option
        return SessionStore(default_session_path(self.url, state_dir=self.state_dir if uses_state_dir else None))

    def sessions(self) -> SessionManager:
        return SessionManager(self.session_store(), self.url, TokenClient(self.transport()))

    def admin(self, *, authenticated: bool = True) -> AdminClient:
        return AdminClient(self.transport(), self.sessions().access_token if authenticated else None)


def _idempotency_key(value: str | None) -> str | None:
    if value is not None and not IDEMPOTENCY_KEY_PATTERN.fullmatch(value):
        raise typer.BadParameter("1-128 characters of [A-Za-z0-9_-]")
    return value


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(envvar=ENV_URL, help="control-plane base URL (default: control_plane_url of local.json)"),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(envvar=ENV_STATE_DIR, help="directory of local.json (and session.json) [default: .wiresocket]"),
    ] = None,
    session_file: Annotated[
        Path | None, typer.Option(envvar=ENV_SESSION_FILE, help="where the login session is kept (mode 0600)")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")] = False,
    timeout: Annotated[float, typer.Option(min=1, max=3600, help="HTTP timeout in seconds")] = 30.0,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            envvar=ENV_IDEMPOTENCY_KEY,
            callback=_idempotency_key,
            help="Idempotency-Key of the mutating call (default: a fresh uuid4); reuse it to retry safely",
        ),
    ] = None,
) -> None:
    """WireSocket security plane tools."""
    ctx.obj = Context(
        url_option=url,
        state_dir_option=state_dir,
        session_file=session_file,
        json_output=json_output,
        timeout=timeout,
        idempotency_key=idempotency_key,
    )


def _context(ctx: typer.Context) -> Context:
    obj = ctx.find_root().obj
    if not isinstance(obj, Context):  # only when a command is invoked without the root callback (tests)
        obj = Context()
        ctx.find_root().obj = obj
    return obj


# --- errors and output ------------------------------------------------------------------------------------


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _handles_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turns a ``ClientError`` into one line on stderr and the exit code scripts rely on."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            _err(f"wiresocket: error: {exc.message}")
            if isinstance(exc, InvalidInputError):
                for item in exc.errors:
                    loc = ".".join(str(p) for p in item.get("loc", []) if p is not None)
                    _err(f"  {loc or '-'}: {item.get('msg', '')}")
            if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
                _err(f"  retry after {exc.retry_after:g} s")
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def _redact(value: Any) -> Any:
    """``value`` without secret-bearing fields (defence in depth: the API should never send them)."""
    if isinstance(value, Mapping):
        return {k: _redact(v) for k, v in value.items() if k not in SECRET_FIELDS}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def _wants_json(ctx: typer.Context, flag: bool) -> bool:
    return flag or _context(ctx).json_output


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=False))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value) or "-"
    if isinstance(value, Mapping):
        return " ".join(f"{k}={_cell(v)}" for k, v in value.items())
    return str(value)


def _console() -> Any:
    from rich.console import Console

    # Not a terminal (a pipe, a file): wide enough that ids are never cut; scripts should use --json anyway.
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200, highlight=False)


def _print_table(items: Sequence[Mapping[str, Any]], columns: Sequence[str], *, title: str | None = None) -> None:
    from rich.table import Table

    shown = [c for c in columns if any(c in item for item in items)]
    if not shown and items:
        shown = [k for k in items[0] if k not in SECRET_FIELDS]
    table = Table(title=title, show_lines=False)
    for column in shown:
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(*(_cell(item.get(c)) for c in shown))
    _console().print(table)
    if not items:
        _err("(none)")


def _print_object(item: Mapping[str, Any]) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in item.items():
        table.add_row(key, _cell(value))
    _console().print(table)


def _emit_object(ctx: typer.Context, item: Mapping[str, Any], json_flag: bool) -> None:
    safe = _redact(item)
    if _wants_json(ctx, json_flag):
        _print_json(safe)
    else:
        _print_object(safe)


def _emit_list(
    ctx: typer.Context,
    items: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    json_flag: bool,
    *,
    next_cursor: str | None = None,
    paginated: bool = True,
) -> None:
    safe = [_redact(i) for i in items]
    if _wants_json(ctx, json_flag):
        _print_json({"items": safe, "nextCursor": next_cursor} if paginated else {"items": safe})
        return
    _print_table(safe, columns)
    if next_cursor:
        _err(f"more: --cursor {next_cursor}  (or --all)")


def _collect(admin: AdminClient, fetch: Callable[[str | None], Page], all_pages: bool, cursor: str | None) -> Page:
    if not all_pages:
        return fetch(cursor)
    return Page(items=list(admin.pages(fetch)), next_cursor=None)


def _idem(ctx: typer.Context) -> str | None:
    return _context(ctx).idempotency_key


JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")]
LimitOption = Annotated[int | None, typer.Option(min=1, max=100, help="page size (1-100; server default 25)")]
CursorOption = Annotated[str | None, typer.Option(help="continue from this nextCursor")]
AllOption = Annotated[bool, typer.Option("--all", help="follow nextCursor through every page")]

TENANT_COLUMNS = ("tenantId", "name", "status", "createdAt")
PLAN_COLUMNS = ("planId", "name", "free", "status", "limits")
USER_COLUMNS = ("userId", "username", "role", "status", "createdAt")
APP_COLUMNS = ("appId", "name", "clientId", "licenseRegion", "allowedDomains", "planId", "status")
KEY_COLUMNS = ("kid", "state", "createdAt", "activatedAt", "retireAfter", "endedAt")
AUDIT_COLUMNS = ("occurredAt", "detailType", "actor", "tenantId", "appId", "kid")


# --- passwords --------------------------------------------------------------------------------------------


def _password(given: str | None, from_stdin: bool, *, prompt: str, confirm: bool) -> str:
    """A password from the flag/environment, stdin (``--password-stdin``), or a hidden prompt; never echoed."""
    if given is not None and from_stdin:
        raise UsageError("give the password either by flag/environment or on stdin, not both")
    if given is not None:
        return given
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise UsageError("--password-stdin: stdin was empty")
        return line
    value: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return value


# --- session commands -------------------------------------------------------------------------------------


def _dashboard_client(context: Context, client_id: str | None, client_secret: str | None) -> tuple[str, str]:
    if client_id and client_secret:
        return client_id, client_secret
    local = context.local_state_for_url()
    dashboard = local.get("dashboard_client") if local else None
    if isinstance(dashboard, dict) and not (client_id or client_secret):
        cid, secret = dashboard.get("client_id"), dashboard.get("client_secret")
        if isinstance(cid, str) and isinstance(secret, str):
            return cid, secret
    raise UsageError(
        f"the dashboard client is needed to log in: --client-id/--client-secret "
        f"(or {ENV_DASHBOARD_CLIENT_ID}/{ENV_DASHBOARD_CLIENT_SECRET}), or a local.json of this URL"
    )


def _session_summary(session: Session, path: Path) -> JsonObject:
    claims = unverified_claims(session.access_token)
    return {
        "url": session.url,
        "username": session.username,
        "scope": session.scope,
        "tenantId": claims.get("tenantid"),
        "userId": claims.get("sub"),
        "expiresAt": int(session.expires_at),
        "refreshable": session.refresh_token is not None,
        "sessionFile": str(path),
    }


@app.command("login")
@_handles_errors
def login(
    ctx: typer.Context,
    username: Annotated[str | None, typer.Option("--username", "-u", help="your username (prompted if absent)")] = None,
    password: Annotated[
        str | None, typer.Option(envvar=ENV_PASSWORD, show_envvar=True, help="prefer the hidden prompt or stdin")
    ] = None,
    password_stdin: Annotated[bool, typer.Option(help="read the password from the first line of stdin")] = False,
    client_id: Annotated[str | None, typer.Option(envvar=ENV_DASHBOARD_CLIENT_ID, help="dashboard client id")] = None,
    client_secret: Annotated[
        str | None, typer.Option(envvar=ENV_DASHBOARD_CLIENT_SECRET, help="dashboard client secret")
    ] = None,
    scope: Annotated[
        str | None,
        typer.Option(help="WireSocket.Admin, WireSocket.Read or WireSocket.Platform (default: tried in that order)"),
    ] = None,
    json_flag: JsonFlag = False,
) -> None:
    """Log in (password grant through the dashboard client) and keep the session (mode 0600).

    The session is refreshed transparently when its access token expires.
    """
    context = _context(ctx)
    url = context.url
    cid, csecret = _dashboard_client(context, client_id, client_secret)
    name = username or typer.prompt("Username")
    secret = _password(password, password_stdin, prompt="Password", confirm=False)
    tokens = TokenClient(context.transport())
    candidates = [scope] if scope else list(LOGIN_SCOPES)
    granted = None
    for index, candidate in enumerate(candidates):
        requested = " ".join(dict.fromkeys([*candidate.split(), SCOPE_OFFLINE]))
        try:
            granted = tokens.password(cid, csecret, name, secret, requested)
            break
        except InvalidInputError as exc:
            # A human holds exactly one role scope; ``invalid_scope`` means "not this one", after the password
            # was accepted, so trying the next costs no lock-out budget.
            if exc.code != "invalid_scope" or index == len(candidates) - 1:
                raise
    assert granted is not None
    session = Session(
        url=url,
        client_id=cid,
        username=name,
        scope=granted.scope,
        access_token=granted.access_token,
        expires_at=granted.expires_at,
        refresh_token=granted.refresh_token,
    )
    store = context.session_store()
    store.save(session)
    summary = _session_summary(session, store.path)
    if _wants_json(ctx, json_flag):
        _print_json(summary)
    else:
        _err(f"Logged in to {url} as {name} ({granted.scope}); session in {store.path}")


@app.command("logout")
@_handles_errors
def logout(ctx: typer.Context) -> None:
    """Revoke the session's refresh token and delete the session file."""
    context = _context(ctx)
    store = context.session_store()
    session = store.load()
    if session is not None and session.refresh_token is not None and session.url == context.url:
        try:
            TokenClient(context.transport()).revoke_refresh_token(session.client_id, session.refresh_token)
        except ClientError as exc:
            _err(f"wiresocket: warning: could not revoke the refresh token ({exc.message}); deleting it anyway")
    existed = store.delete()
    _err("Logged out." if existed else "Not logged in.")


@app.command("whoami")
@_handles_errors
def whoami(ctx: typer.Context, json_flag: JsonFlag = False) -> None:
    """Who the stored session is (from the token's claims, unverified; no network call, no token shown)."""
    context = _context(ctx)
    store = context.session_store()
    session = context.sessions().current()
    _emit_object(ctx, _session_summary(session, store.path), json_flag)


@app.command("signup")
@_handles_errors
def signup(
    ctx: typer.Context,
    tenant_name: Annotated[str, typer.Option(help="name of the new tenant")],
    owner_username: Annotated[str, typer.Option(help="username (e-mail) of its owner")],
    owner_password: Annotated[
        str | None, typer.Option(envvar=ENV_NEW_PASSWORD, help="owner's password (prompted, hidden, if absent)")
    ] = None,
    json_flag: JsonFlag = False,
) -> None:
    """Sign up a tenant (public): it stays pending until an operator approves it."""
    secret = _password(owner_password, False, prompt="Owner password", confirm=True)
    result = (
        _context(ctx).admin(authenticated=False).signup(tenant_name, owner_username, secret, idempotency_key=_idem(ctx))
    )
    _emit_object(ctx, result, json_flag)


# --- tenants (platform) -----------------------------------------------------------------------------------


class TenantStatusFilter(StrEnum):
    """Tenant statuses a list can be filtered by."""

    pending = "pending"
    active = "active"
    suspended = "suspended"


@tenants_app.command("list")
@_handles_errors
def tenants_list(
    ctx: typer.Context,
    status: Annotated[TenantStatusFilter | None, typer.Option(help="only tenants in this status")] = None,
    limit: LimitOption = None,
    cursor: CursorOption = None,
    all_pages: AllOption = False,
    json_flag: JsonFlag = False,
) -> None:
    """List tenants."""
    admin = _context(ctx).admin()
    wanted = status.value if status else None
    page = _collect(admin, lambda c: admin.list_tenants(wanted, limit, c), all_pages, cursor)
    _emit_list(ctx, page.items, TENANT_COLUMNS, json_flag, next_cursor=page.next_cursor)


@tenants_app.command("show")
@_handles_errors
def tenants_show(ctx: typer.Context, tenant_id: str, json_flag: JsonFlag = False) -> None:
    """Show one tenant."""
    _emit_object(ctx, _context(ctx).admin().get_tenant(tenant_id), json_flag)


@tenants_app.command("approve")
@_handles_errors
def tenants_approve(ctx: typer.Context, tenant_id: str, json_flag: JsonFlag = False) -> None:
    """Approve a pending tenant (creates its signing keys)."""
    _emit_object(ctx, _context(ctx).admin().tenant_action(tenant_id, "approve", idempotency_key=_idem(ctx)), json_flag)


@tenants_app.command("suspend")
@_handles_errors
def tenants_suspend(
    ctx: typer.Context,
    tenant_id: str,
    reason: Annotated[str | None, typer.Option(help="why (kept in the audit trail)")] = None,
    json_flag: JsonFlag = False,
) -> None:
    """Suspend a tenant: its tokens stop working and its live sessions are terminated."""
    body = {"reason": reason} if reason else None
    result = _context(ctx).admin().tenant_action(tenant_id, "suspend", body, idempotency_key=_idem(ctx))
    _emit_object(ctx, result, json_flag)


@tenants_app.command("reactivate")
@_handles_errors
def tenants_reactivate(ctx: typer.Context, tenant_id: str, json_flag: JsonFlag = False) -> None:
    """Reactivate a suspended tenant."""
    result = _context(ctx).admin().tenant_action(tenant_id, "reactivate", idempotency_key=_idem(ctx))
    _emit_object(ctx, result, json_flag)


# --- plans ------------------------------------------------------------------------------------------------


@plans_app.command("list")
@_handles_errors
def plans_list(ctx: typer.Context, json_flag: JsonFlag = False) -> None:
    """List plans (operators see every plan, tenants the active ones)."""
    context = _context(ctx)
    admin = context.admin()
    operator = SCOPE_PLATFORM in context.sessions().current().scopes
    items = admin.list_platform_plans() if operator else admin.list_tenant_plans()
    _emit_list(ctx, items, PLAN_COLUMNS, json_flag, paginated=False)


@plans_app.command("create")
@_handles_errors
def plans_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="plan name")],
    max_connections: Annotated[int, typer.Option(min=0)],
    max_documents: Annotated[int, typer.Option(min=0)],
    max_users_per_doc: Annotated[int, typer.Option(min=0)],
    ops_per_minute: Annotated[int, typer.Option(min=0)],
    free: Annotated[bool, typer.Option("--free/--paid", help="a Free plan (one Free-plan app per tenant)")] = False,
    json_flag: JsonFlag = False,
) -> None:
    """Create a plan (operator)."""
    limits = {
        "maxConnections": max_connections,
        "maxDocuments": max_documents,
        "maxUsersPerDoc": max_users_per_doc,
        "opsPerMinute": ops_per_minute,
    }
    _emit_object(ctx, _context(ctx).admin().create_plan(name, free, limits, idempotency_key=_idem(ctx)), json_flag)


# --- users ------------------------------------------------------------------------------------------------


class InviteRole(StrEnum):
    """Roles a user can be invited with."""

    admin = "admin"
    viewer = "viewer"


@users_app.command("list")
@_handles_errors
def users_list(
    ctx: typer.Context,
    limit: LimitOption = None,
    cursor: CursorOption = None,
    all_pages: AllOption = False,
    json_flag: JsonFlag = False,
) -> None:
    """List the users of your tenant."""
    admin = _context(ctx).admin()
    page = _collect(admin, lambda c: admin.list_users(limit, c), all_pages, cursor)
    _emit_list(ctx, page.items, USER_COLUMNS, json_flag, next_cursor=page.next_cursor)


@users_app.command("invite")
@_handles_errors
def users_invite(
    ctx: typer.Context,
    username: Annotated[str, typer.Option(help="the new user's username (e-mail)")],
    role: Annotated[InviteRole, typer.Option(help="admin or viewer")],
    password: Annotated[
        str | None, typer.Option(envvar=ENV_NEW_PASSWORD, help="initial password (prompted, hidden, if absent)")
    ] = None,
    json_flag: JsonFlag = False,
) -> None:
    """Invite a user to your tenant with an initial password."""
    secret = _password(password, False, prompt="Initial password", confirm=True)
    result = _context(ctx).admin().invite_user(username, secret, role.value, idempotency_key=_idem(ctx))
    _emit_object(ctx, result, json_flag)


@users_app.command("disable")
@_handles_errors
def users_disable(ctx: typer.Context, user_id: str, json_flag: JsonFlag = False) -> None:
    """Disable a user: their tokens stop working at once."""
    _emit_object(ctx, _context(ctx).admin().set_user_status(user_id, False, idempotency_key=_idem(ctx)), json_flag)


@users_app.command("enable")
@_handles_errors
def users_enable(ctx: typer.Context, user_id: str, json_flag: JsonFlag = False) -> None:
    """Enable a disabled user."""
    _emit_object(ctx, _context(ctx).admin().set_user_status(user_id, True, idempotency_key=_idem(ctx)), json_flag)


# --- apps -------------------------------------------------------------------------------------------------

SecretFileOption = Annotated[
    Path | None, typer.Option(help="write the one-time client secret to this new file (mode 0600)")
]
ShowSecretOption = Annotated[bool, typer.Option(help="print the one-time client secret")]


def _check_secret_destination(secret_file: Path | None, show_secret: bool) -> None:
    """Before the call: the one-time secret must have somewhere to go, and must not overwrite a file."""
    if secret_file is None and not show_secret:
        raise UsageError("the client secret is shown only once: pass --secret-file PATH or --show-secret")
    if secret_file is not None and (secret_file.exists() or secret_file.is_symlink()):
        raise UsageError(f"{secret_file} already exists; the secret is never written over a file")


def _deliver_secret(
    ctx: typer.Context, result: JsonObject, secret_file: Path | None, show_secret: bool, json_flag: bool
) -> None:
    secret = result.pop("clientSecret", None)
    if not isinstance(secret, str) or not secret:
        # An idempotent replay (same Idempotency-Key) answers with clientSecret null: the secret went to the
        # first answer only, so it is unrecoverable here.
        _emit_object(ctx, result, json_flag)
        raise LocalError("no client secret in the answer (a replayed request?): run `apps regenerate-secret`")
    if secret_file is not None:
        try:
            write_private_file(secret_file, secret + "\n", exclusive=True)
        except OSError as exc:
            _emit_object(ctx, result, json_flag)
            raise LocalError(
                f"cannot write {secret_file} ({exc.strerror}); the secret is lost: run `apps regenerate-secret`"
            ) from None
        _err(f"client secret written to {secret_file} (mode 0600); it will not be shown again")
    shown = dict(result)
    if show_secret:
        shown["clientSecret"] = secret
    if _wants_json(ctx, json_flag):
        _print_json(shown if show_secret else _redact(shown))
    else:
        _print_object(shown if show_secret else _redact(shown))


@apps_app.command("list")
@_handles_errors
def apps_list(
    ctx: typer.Context,
    limit: LimitOption = None,
    cursor: CursorOption = None,
    all_pages: AllOption = False,
    json_flag: JsonFlag = False,
) -> None:
    """List the apps of your tenant (never their secrets)."""
    admin = _context(ctx).admin()
    page = _collect(admin, lambda c: admin.list_apps(limit, c), all_pages, cursor)
    _emit_list(ctx, page.items, APP_COLUMNS, json_flag, next_cursor=page.next_cursor)


@apps_app.command("show")
@_handles_errors
def apps_show(ctx: typer.Context, app_id: str, json_flag: JsonFlag = False) -> None:
    """Show one app (never its secret)."""
    _emit_object(ctx, _context(ctx).admin().get_app(app_id), json_flag)


@apps_app.command("create")
@_handles_errors
def apps_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="app name (unique in your tenant)")],
    region: Annotated[str, typer.Option("--region", help="license region (immutable), e.g. aws-eu-west-1")],
    plan: Annotated[str, typer.Option("--plan", help="plan id")],
    domain: Annotated[
        list[str] | None, typer.Option("--domain", help="allowed domain (host or host:port), up to 3; repeat")
    ] = None,
    secret_file: SecretFileOption = None,
    show_secret: ShowSecretOption = False,
    json_flag: JsonFlag = False,
) -> None:
    """Create an app; its client secret is returned once (to --secret-file or, with --show-secret, stdout)."""
    _check_secret_destination(secret_file, show_secret)
    result = _context(ctx).admin().create_app(name, region, list(domain or []), plan, idempotency_key=_idem(ctx))
    _deliver_secret(ctx, result, secret_file, show_secret, json_flag)


@apps_app.command("regenerate-secret")
@_handles_errors
def apps_regenerate_secret(
    ctx: typer.Context,
    app_id: str,
    secret_file: SecretFileOption = None,
    show_secret: ShowSecretOption = False,
    json_flag: JsonFlag = False,
) -> None:
    """Replace the app's secret: the old one and every refresh token of the app stop working at once."""
    _check_secret_destination(secret_file, show_secret)
    result = _context(ctx).admin().regenerate_secret(app_id, idempotency_key=_idem(ctx))
    _deliver_secret(ctx, result, secret_file, show_secret, json_flag)


@apps_app.command("domains")
@_handles_errors
def apps_domains(
    ctx: typer.Context,
    app_id: str,
    domain: Annotated[list[str] | None, typer.Option("--domain", help="allowed domain, up to 3; repeat")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="allow no domain at all")] = False,
    json_flag: JsonFlag = False,
) -> None:
    """Replace the app's allowed domains."""
    domains = list(domain or [])
    if bool(domains) == clear:
        raise UsageError("give the new domains with --domain (repeat), or --clear to remove them all")
    _emit_object(ctx, _context(ctx).admin().set_app_domains(app_id, domains, idempotency_key=_idem(ctx)), json_flag)


@apps_app.command("plan")
@_handles_errors
def apps_plan(ctx: typer.Context, app_id: str, plan_id: str, json_flag: JsonFlag = False) -> None:
    """Put the app on another plan (one Free-plan app per tenant)."""
    _emit_object(ctx, _context(ctx).admin().set_app_plan(app_id, plan_id, idempotency_key=_idem(ctx)), json_flag)


@apps_app.command("disable")
@_handles_errors
def apps_disable(ctx: typer.Context, app_id: str, json_flag: JsonFlag = False) -> None:
    """Disable the app: it can no longer get tokens and its live sessions are terminated."""
    _emit_object(ctx, _context(ctx).admin().set_app_status(app_id, False, idempotency_key=_idem(ctx)), json_flag)


@apps_app.command("enable")
@_handles_errors
def apps_enable(ctx: typer.Context, app_id: str, json_flag: JsonFlag = False) -> None:
    """Enable a disabled app."""
    _emit_object(ctx, _context(ctx).admin().set_app_status(app_id, True, idempotency_key=_idem(ctx)), json_flag)


@apps_app.command("delete")
@_handles_errors
def apps_delete(
    ctx: typer.Context,
    app_id: str,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Delete the app (its sessions are terminated; this cannot be undone)."""
    if not yes:
        typer.confirm(f"Delete app {app_id}?", abort=True)
    _context(ctx).admin().delete_app(app_id, idempotency_key=_idem(ctx))
    _err(f"app {app_id} deleted")


# --- keys -------------------------------------------------------------------------------------------------


@keys_app.command("list")
@_handles_errors
def keys_list(ctx: typer.Context, json_flag: JsonFlag = False) -> None:
    """List your tenant's signing keys (public metadata only)."""
    _emit_list(ctx, _context(ctx).admin().list_keys(), KEY_COLUMNS, json_flag, paginated=False)


@keys_app.command("rotate")
@_handles_errors
def keys_rotate(ctx: typer.Context, json_flag: JsonFlag = False) -> None:
    """Rotate now: the next key becomes active, the active one retires after its grace period."""
    _emit_object(ctx, _context(ctx).admin().rotate_keys(idempotency_key=_idem(ctx)), json_flag)


@keys_app.command("revoke")
@_handles_errors
def keys_revoke(
    ctx: typer.Context,
    reason: Annotated[str | None, typer.Option(help="why (kept in the audit trail)")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    json_flag: JsonFlag = False,
) -> None:
    """EMERGENCY: revoke every live key; every token of your tenant (yours too) stops working at once."""
    if not yes:
        typer.confirm("Revoke every signing key of your tenant and end every session?", abort=True)
    _emit_object(ctx, _context(ctx).admin().revoke_keys(reason, idempotency_key=_idem(ctx)), json_flag)


# --- audit ------------------------------------------------------------------------------------------------


def _detail_type(event: Mapping[str, Any]) -> str | None:
    for key in ("detailType", "detail-type", "DetailType", "detail_type"):
        value = event.get(key)
        if isinstance(value, str):
            return value
    return None


def audit_row(event: Mapping[str, Any]) -> JsonObject:
    """One audit event flattened for a table: its ``data`` fields, then its own (``detailType``, ``actor``...)."""
    row: JsonObject = {}
    for nested in ("data", "detail"):
        inner = event.get(nested)
        if isinstance(inner, Mapping):
            row.update(inner)
    row.update({k: v for k, v in event.items() if k not in ("data", "detail")})
    row["detailType"] = _detail_type(event) or row.get("detailType")
    actor = row.get("actor")
    if isinstance(actor, Mapping):
        row["actor"] = f"{actor.get('type')}:{actor.get('id')}"
    return row


@app.command("audit")
@_handles_errors
def audit(
    ctx: typer.Context,
    platform: Annotated[bool, typer.Option("--platform", help="every tenant's events (operator)")] = False,
    limit: LimitOption = None,
    cursor: CursorOption = None,
    all_pages: AllOption = False,
    json_flag: JsonFlag = False,
) -> None:
    """Read the audit trail, newest first (your tenant's, or with --platform every event)."""
    admin = _context(ctx).admin()
    fetch = (lambda c: admin.platform_audit(limit, c)) if platform else (lambda c: admin.tenant_audit(limit, c))
    page = _collect(admin, fetch, all_pages, cursor)
    if _wants_json(ctx, json_flag):
        _emit_list(ctx, page.items, AUDIT_COLUMNS, json_flag, next_cursor=page.next_cursor)
    else:
        _emit_list(ctx, [audit_row(e) for e in page.items], AUDIT_COLUMNS, json_flag, next_cursor=page.next_cursor)


# --- master key -------------------------------------------------------------------------------------------


def rewrap_progress(status: Mapping[str, Any], target: str | None) -> tuple[int, int]:
    """(data keys under the target master key, all data keys) from ``GET /platform/master-key``.

    The target is ``--target-key-id`` (an ARN, or a key id matched against the ARNs' ``key/<id>`` suffix),
    else the current master key.
    """
    counts = status.get("keysByMasterKey")
    counts = counts if isinstance(counts, Mapping) else {}
    wanted = target or status.get("currentMasterKeyId")
    total = sum(v for v in counts.values() if isinstance(v, int))
    done = sum(
        v
        for k, v in counts.items()
        if isinstance(v, int) and isinstance(wanted, str) and (k == wanted or k.endswith("/" + wanted))
    )
    return done, total


class _ProgressReporter:
    """A bar on a terminal; plain ``n/total`` lines otherwise (logs, CI), both on stderr."""

    def __init__(self) -> None:
        self._last: tuple[int, int] | None = None
        self._bar: Any = None
        self._task: Any = None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("re-wrapping data keys"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(file=sys.stderr),
            )
            self._bar.start()
            self._task = self._bar.add_task("rewrap", total=None)

    def update(self, done: int, total: int) -> None:
        if (done, total) == self._last:
            return
        self._last = (done, total)
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total or None)
        else:
            _err(f"master-key rotate: {done}/{total} data keys under the target master key")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


MAX_REWRAP_CONTINUATIONS = 100


def rotate_master_key_with_progress(
    admin: AdminClient,
    target_key_id: str | None,
    idempotency_key: str | None,
    report: Callable[[int, int], None],
    *,
    poll_seconds: float = PROGRESS_POLL_SECONDS,
) -> JsonObject:
    """Run ``POST /platform/master-key/rotate`` in a thread while polling ``GET /platform/master-key`` for
    progress; the rotation's report (or its error, re-raised here)."""
    outcome: dict[str, Any] = {}

    def rotate() -> None:
        try:
            outcome["report"] = admin.rotate_master_key(
                target_key_id, idempotency_key=idempotency_key, timeout=MASTER_KEY_TIMEOUT_SECONDS
            )
        except BaseException as exc:  # handed to the main thread
            outcome["error"] = exc

    worker = threading.Thread(target=rotate, name="master-key-rotate", daemon=True)
    worker.start()
    while True:
        worker.join(poll_seconds)
        if not worker.is_alive():
            break
        # Progress is best effort; the rotation's own answer decides the outcome.
        with contextlib.suppress(ClientError):
            report(*rewrap_progress(admin.master_key_status(timeout=max(poll_seconds * 4, 2.0)), target_key_id))
    if "error" in outcome:
        raise outcome["error"]
    result: JsonObject = outcome["report"]
    # A run that stopped at the server's time budget is finished by rotating again to the (now current)
    # target; each continuation is a new request, so it gets its own idempotency key.
    for _ in range(MAX_REWRAP_CONTINUATIONS):
        target = result.get("targetMasterKeyId")
        if result.get("complete", True) is not False or not isinstance(target, str):
            break
        result = admin.rotate_master_key(target, idempotency_key=str(uuid.uuid4()), timeout=MASTER_KEY_TIMEOUT_SECONDS)
    total = result.get("total")
    if isinstance(total, int):
        done = sum(v for k, v in result.items() if k in ("rewrapped", "alreadyCurrent") and isinstance(v, int))
        report(done, total)
    return result


@master_key_app.command("rotate")
@_handles_errors
def master_key_rotate(
    ctx: typer.Context,
    target_key_id: Annotated[
        str | None, typer.Option(help="KMS key to re-wrap under (default: the provisioned master-key slot not in use)")
    ] = None,
    json_flag: JsonFlag = False,
) -> None:
    """Re-wrap every stored data key under the (new) master key, showing progress; safe to run again."""
    admin = _context(ctx).admin()
    reporter = _ProgressReporter()
    try:
        result = rotate_master_key_with_progress(
            admin, target_key_id, _idem(ctx), reporter.update, poll_seconds=PROGRESS_POLL_SECONDS
        )
    finally:
        reporter.close()
    skipped = result.get("skipped")
    if isinstance(skipped, list) and skipped:
        _err(f"master-key rotate: {len(skipped)} key(s) skipped (changed during the run): run it again")
    _emit_object(ctx, result, json_flag)


@master_key_app.command("status")
@_handles_errors
def master_key_status(ctx: typer.Context, json_flag: JsonFlag = False) -> None:
    """The current master key and how many data keys each master key still wraps."""
    _emit_object(ctx, _context(ctx).admin().master_key_status(), json_flag)


# --- entry point ------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wiresocket`` console script; returns the exit code."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="wiresocket")
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        return code if isinstance(code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
