"""``wiresocket local``: the whole control plane on this machine, in one process, on moto (SPEC §10).

Order matters and is the point of this module:

1. start moto and point this process's AWS configuration at it (fake credentials, fixed region), so nothing
   started later can reach a real AWS account;
2. bind the HTTP gateway, to learn its real port before any handler reads its settings (the issuer is
   ``http://127.0.0.1:<port>``), and the WebSocket emulator and its ``@connections`` API;
3. set every settings variable of every function (``config.FUNCTION_SETTINGS``) from the created resources,
   and check that each function's settings model parses, so a misconfiguration fails here, not on the first
   request;
4. create the resources from the same definitions as the CDK app, seed the demo data, start serving;
5. only when both gateways answer HTTP, write ``<state-dir>/local.json`` — tools and tests wait for that file,
   so its existence means "ready".
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO
from urllib.parse import urlsplit

import boto3

from wiresocket import names
from wiresocket.config import FUNCTION_SETTINGS
from wiresocket.domain.pinning import GRACE_SECONDS
from wiresocket.local.demo import DEFAULT_DEMO_PORT, DemoServer, demo_credentials
from wiresocket.local.gateway import LocalHttpGateway
from wiresocket.local.handlers import LocalFunctions
from wiresocket.local.moto_server import LOCAL_REGION, MotoServer, apply_aws_environment, aws_environment
from wiresocket.local.regions import RegionalInvoke, regional_environment
from wiresocket.local.resources import GlobalResources, create_global_resources, create_regional_resources
from wiresocket.local.ws_gateway import (
    DEFAULT_IDLE_TIMEOUT_SECONDS,
    DEFAULT_MAX_LIFETIME_SECONDS,
    LocalWebSocketGateway,
)

if TYPE_CHECKING:
    from wiresocket.local.gateway import Invoke

logger = logging.getLogger(__name__)

STATE_FILE_NAME: Final = "local.json"
SECOND_WS_REGION: Final = "us-east-1"
AWS_REGION_NAME: Final = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
SEEDED_KEYS: Final = ("operator", "dashboard_client", "demo")
"""Keys of ``local.json`` whose values come from the seeder (SPEC §10)."""
BACKGROUND_INTERVAL_SECONDS: Final = 2.0
READY_TIMEOUT_SECONDS: Final = 10.0

Seeder = Callable[[str, dict[str, str]], Mapping[str, object]]
"""``seed(endpoint_url, settings) -> {"operator": ..., "dashboard_client": ..., "demo": ...}``."""


class LocalStackError(RuntimeError):
    """The local stack could not be started."""


@dataclass(frozen=True)
class LocalStackOptions:
    """The ``wiresocket local`` flags."""

    http_port: int = 8080
    ws_port: int = 8081
    state_dir: Path = Path(".wiresocket")
    moto_port: int = 0
    host: str = "127.0.0.1"
    ws_idle_timeout: float = DEFAULT_IDLE_TIMEOUT_SECONDS
    ws_max_lifetime: float = DEFAULT_MAX_LIFETIME_SECONDS
    demo_port: int = DEFAULT_DEMO_PORT
    """The demo page and token broker (local/demo.py); 0 disables them. Fixed by default: the demo app's
    allowed domains are ``localhost:5173`` and ``127.0.0.1:5173``."""
    demo_dir: Path | None = None
    """Where the demo bundle is (default: ``clients/js/dist`` of the source tree)."""
    second_ws_port: int | None = None
    """A second WebSocket emulator as another AWS region (``second_ws_region``), for region pinning (4009);
    None: one region only. 0: any free port."""
    second_ws_region: str = SECOND_WS_REGION
    pin_grace_seconds: int = GRACE_SECONDS
    """How long a document stays pinned after its last user left (shorter only for tests)."""


def _real_seeder(endpoint_url: str, settings: dict[str, str]) -> Mapping[str, object]:
    # Imported here: the seeding module is optional for everything but actually running the stack.
    from wiresocket.local.seed import seed

    return seed(endpoint_url, settings)


def settings_environment(resources: GlobalResources, *, region: str, issuer_base: str) -> dict[str, str]:
    """The settings variables of the functions, valued for the local stack (created resources, issuer).

    Variables the stack has no value for keep their model default; a new *required* variable of a
    ``FUNCTION_SETTINGS`` model without a value here is an error, so adding a setting cannot silently break
    only the local stack.
    """
    known = {
        names.ENV_REGION: region,
        names.ENV_PRIMARY_REGION: region,
        names.ENV_DIRECTORY_TABLE: resources.directory_table,
        # The alias, as in AWS: rotating the master key re-points it and re-wraps (docs/keys.md).
        names.ENV_MASTER_KEY_ID: resources.master_key_alias,
        names.ENV_AUDIT_BUS: resources.audit_bus,
        names.ENV_RATE_LIMIT_TABLE: resources.rate_limit_table,
        names.ENV_IDEMPOTENCY_TABLE: resources.idempotency_table,
        names.ENV_ISSUER_BASE: issuer_base,
    }
    env = dict(known)  # all of them: the seeder and shared wiring read settings models beyond FUNCTION_SETTINGS
    for function, model in FUNCTION_SETTINGS.items():
        try:
            model.from_env(env)
        except ValueError as exc:
            raise LocalStackError(f"settings of function {function!r} do not parse locally: {exc}") from exc
    return env


def write_state_file(state_dir: Path, state: Mapping[str, object]) -> Path:
    """Write ``local.json`` atomically (temp file + rename) with mode 0600: it holds the demo credentials."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ignore = state_dir / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Written by `wiresocket local`: local secrets, never commit.\n*\n")
    target = state_dir / STATE_FILE_NAME
    fd, tmp = tempfile.mkstemp(dir=state_dir, prefix=".local-", suffix=".json.tmp")  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(state, out, indent=2, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def wait_until_answering(url: str, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    """Block until ``url`` answers any HTTP response (a 403 is an answer), or raise ``LocalStackError``."""
    parts = urlsplit(url)
    deadline = time.monotonic() + timeout
    while True:
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=2)
        try:
            connection.request("GET", "/")
            connection.getresponse().read()
            return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise LocalStackError(f"{url} did not answer within {timeout:.0f}s") from exc
            time.sleep(0.05)
        finally:
            connection.close()


class LocalStack:
    """Starts and stops moto, the resources, the seed data and the gateways, in the order SPEC §10 needs."""

    def __init__(
        self,
        options: LocalStackOptions,
        *,
        seeder: Seeder | None = None,
        invoke: Invoke | None = None,
        routes: Iterable[names.Route] = names.CONTROL_PLANE_ROUTES,
        region: str = LOCAL_REGION,
    ) -> None:
        self.options = options
        self._seeder = seeder or _real_seeder
        self._invoke = invoke or LocalFunctions(region=region).invoke
        self._routes = tuple(routes)
        self._region = region
        self._moto: MotoServer | None = None
        self._gateway: LocalHttpGateway | None = None
        self._ws_gateway: LocalWebSocketGateway | None = None
        self._demo: DemoServer | None = None
        self._second_ws_gateway: LocalWebSocketGateway | None = None
        self._stop_background = threading.Event()
        self._background: threading.Thread | None = None
        self.state: dict[str, object] = {}

    @property
    def state_file(self) -> Path:
        """Where ``local.json`` is written."""
        return self.options.state_dir / STATE_FILE_NAME

    def start(self) -> dict[str, object]:
        """Start everything, write ``local.json`` once the gateway answers, and return its content.

        On failure everything already started is stopped again before the error propagates.
        """
        # A file left by an earlier run would announce a stack that is not ready (or not running).
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> dict[str, object]:
        opts = self.options
        self._moto = MotoServer(opts.moto_port, host=opts.host, region=self._region)
        endpoint_url = self._moto.start()
        apply_aws_environment(os.environ, aws_environment(self._region, endpoint_url))

        self._gateway = LocalHttpGateway(self._invoke, routes=self._routes, host=opts.host, port=opts.http_port)
        control_plane_url = self._gateway.bind()
        # --- WebSocket emulator (SPEC §10): bound now, served with the HTTP gateway. With a second region, both
        # invoke through a RegionalInvoke that applies their region's settings (local/regions.py).
        ws_invoke, second_invoke = self._invoke, None
        if opts.second_ws_port is not None:
            if opts.second_ws_region == self._region or not AWS_REGION_NAME.fullmatch(opts.second_ws_region):
                raise LocalStackError("the second WebSocket region must be an AWS region name other than the first")
            lock = threading.Lock()
            ws_invoke, second_invoke = RegionalInvoke(self._invoke, {}, lock), RegionalInvoke(self._invoke, {}, lock)
        self._ws_gateway = LocalWebSocketGateway(
            ws_invoke,
            host=opts.host,
            port=opts.ws_port,
            region=self._region,
            idle_timeout=opts.ws_idle_timeout,
            max_lifetime=opts.ws_max_lifetime,
        )
        websocket_url = self._ws_gateway.bind()
        websocket_urls = {self._region: websocket_url}
        if second_invoke is not None and opts.second_ws_port is not None:
            self._second_ws_gateway = LocalWebSocketGateway(
                second_invoke,
                host=opts.host,
                port=opts.second_ws_port,
                region=opts.second_ws_region,
                idle_timeout=opts.ws_idle_timeout,
                max_lifetime=opts.ws_max_lifetime,
            )
            websocket_urls[opts.second_ws_region] = self._second_ws_gateway.bind()

        # --- Demo page and token broker (issue 6, local/demo.py): bound now, so a busy port fails the start.
        demo_url = self._bind_demo()

        session = boto3.session.Session(region_name=self._region)
        resources = create_global_resources(
            session.client("dynamodb", endpoint_url=endpoint_url),
            session.client("kms", endpoint_url=endpoint_url),
            session.client("events", endpoint_url=endpoint_url),
        )
        # --- Data plane (issue 5): the regional app-data tables of every license region, each created in its
        # own AWS region (moto keeps regions apart), and the @connections endpoint the handlers record.
        create_regional_resources(lambda r: session.client("dynamodb", region_name=r, endpoint_url=endpoint_url))
        settings = settings_environment(resources, region=self._region, issuer_base=control_plane_url)
        settings[names.ENV_WS_MANAGEMENT_ENDPOINT] = self._ws_gateway.management_url
        settings[names.ENV_WS_PUBLIC_URL] = websocket_url
        settings[names.ENV_DATA_REGION] = self._region
        settings[names.ENV_PIN_GRACE_SECONDS] = str(opts.pin_grace_seconds)
        if self._second_ws_gateway is not None:
            assert isinstance(ws_invoke, RegionalInvoke) and isinstance(second_invoke, RegionalInvoke)
            ws_invoke.set_overrides(regional_environment(settings))
            second_invoke.set_overrides(
                {
                    names.ENV_DATA_REGION: opts.second_ws_region,
                    names.ENV_WS_MANAGEMENT_ENDPOINT: self._second_ws_gateway.management_url,
                    names.ENV_WS_PUBLIC_URL: websocket_urls[opts.second_ws_region],
                }
            )
        os.environ.update(settings)
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # there is no X-Ray daemon locally

        seeded = self._seeder(endpoint_url, dict(settings))
        missing = [key for key in SEEDED_KEYS if key not in seeded]
        if missing:
            # Published as null: SPEC §10 fixes the keys of local.json even while seeding is incomplete.
            logger.warning("the seeder returned no %s", ", ".join(missing))

        self._gateway.serve()
        wait_until_answering(control_plane_url)
        self._ws_gateway.serve()
        wait_until_answering(websocket_url.replace("ws://", "http://", 1))  # GET / is ws_http's health check
        if self._second_ws_gateway is not None:
            self._second_ws_gateway.serve()
            wait_until_answering(websocket_urls[opts.second_ws_region].replace("ws://", "http://", 1))
        self._start_background_tasks()
        self._serve_demo(control_plane_url, websocket_url, seeded)

        state: dict[str, object] = {
            "control_plane_url": control_plane_url,
            "websocket_url": websocket_url,
            # Every local WebSocket region (two with --second-ws-port): region pinning redirects between them.
            "websocket_urls": websocket_urls,
            **{key: seeded.get(key) for key in SEEDED_KEYS},
            "demo_url": demo_url,  # the demo page (None with --demo-port 0)
            # Where the local AWS resources are, for the AWS CLI/boto3 (`--endpoint-url`) and the e2e tests.
            "aws": {
                "endpoint_url": endpoint_url,
                "region": self._region,
                "directory_table": resources.directory_table,
                "master_key_id": resources.master_key_alias,
                "audit_bus": resources.audit_bus,
                # The @connections API of the WebSocket emulator: the apigatewaymanagementapi endpoint_url.
                "websocket_management_url": self._ws_gateway.management_url,
            },
        }
        write_state_file(opts.state_dir, state)
        self.state = state
        return state

    def _bind_demo(self) -> str | None:
        """Bind the demo listener (``--demo-port``, 0 = none); its page URL."""
        if not self.options.demo_port:
            return None
        self._demo = DemoServer(host=self.options.host, port=self.options.demo_port, dist_dir=self.options.demo_dir)
        return self._demo.bind()

    def _serve_demo(self, control_plane_url: str, websocket_url: str, seeded: Mapping[str, object]) -> None:
        if self._demo is not None:
            self._demo.serve(
                control_plane_url=control_plane_url,
                websocket_url=websocket_url,
                credentials=demo_credentials(seeded.get("demo")),
            )

    def _start_background_tasks(self) -> None:
        self._stop_background.clear()
        self._background = threading.Thread(target=self._background_loop, name="wiresocket-background", daemon=True)
        self._background.start()

    def _background_loop(self) -> None:
        while not self._stop_background.wait(BACKGROUND_INTERVAL_SECONDS):
            try:
                self._background_tasks()
            except Exception:
                logger.exception("background task failed")

    def _background_tasks(self) -> None:
        """Periodic work AWS triggers on a schedule; runs every ``BACKGROUND_INTERVAL_SECONDS``.

        The outbox sweep: audit events that the inline publish missed reach the bus, as the scheduled
        ``outbox`` function does in AWS.
        """
        from wiresocket import wiring

        s = wiring.outbox_settings()
        wiring.outbox_publisher(s.directory_table, s.region, s.audit_bus).publish_pending()

    def stop(self) -> None:
        """Stop the background tasks, the gateways and moto (idempotent). Files are left in place."""
        self._stop_background.set()
        if self._demo is not None:
            self._demo.stop()
            self._demo = None
        if self._background is not None:
            self._background.join(timeout=BACKGROUND_INTERVAL_SECONDS * 5)
            self._background = None
        if self._second_ws_gateway is not None:
            self._second_ws_gateway.stop()
            self._second_ws_gateway = None
        if self._ws_gateway is not None:  # first: its $disconnect invocations still need moto
            self._ws_gateway.stop()
            self._ws_gateway = None
        if self._gateway is not None:
            self._gateway.stop()
            self._gateway = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None


def _field(section: object, key: str) -> str:
    value = section.get(key) if isinstance(section, Mapping) else None
    if value is None:
        return "(not seeded)"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def _region_lines(urls: object) -> list[str]:
    if not isinstance(urls, Mapping) or len(urls) < 2:
        return []
    return [f"  ws {region:<13} {url}" for region, url in urls.items()]


def print_summary(state: Mapping[str, object], state_file: Path, out: TextIO) -> None:
    """The human summary. It prints the local demo credentials on purpose (SPEC §10), and nothing else secret."""
    operator, dashboard, demo = state.get("operator"), state.get("dashboard_client"), state.get("demo")
    tenant_id = _field(demo, "tenant_id")
    lines = [
        "WireSocket local stack is running (Ctrl-C to stop).",
        f"  control plane    {state['control_plane_url']}",
        f"  websocket        {state['websocket_url']}",
        *_region_lines(state.get("websocket_urls")),
        f"  ws management    {_field(state.get('aws'), 'websocket_management_url')}",
        f"  operator         {_field(operator, 'username')} / {_field(operator, 'password')}",
        f"  dashboard client {_field(dashboard, 'client_id')} / {_field(dashboard, 'client_secret')}",
        f"  demo tenant      {tenant_id}",
        f"  demo app         {_field(demo, 'app_id')}",
        f"  demo client      {_field(demo, 'client_id')} / {_field(demo, 'client_secret')}",
        f"  allowed domains  {_field(demo, 'allowed_domains')}",
        *([f"  demo page        {state['demo_url']}"] if state.get("demo_url") else []),
        f"  state file       {state_file}",
        "",
        "Try:",
        f"  curl -s {state['control_plane_url']}/{tenant_id}/.well-known/jwks",
    ]
    print("\n".join(lines), file=out, flush=True)
