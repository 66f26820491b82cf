"""WebSocket-edge benchmarks (issue 5): ``authorize``, ``cold_start`` (+ ``cold_start_token``) and ``terminate``.

Every result carries a baseline measured in the same run (SPEC §10):

- ``authorize``: the whole ``$connect`` authorizer (``services.authorize.authorize_event``: event parsing, token
  search, full verification with the state cache warm, app-token rules, Origin binding, document name, the
  powertools IAM policy) against a bare ``jwt.decode`` of the same token with the loaded public key
  (``algorithms=["RS256"]``, ``audience``: signature, ``exp``/``nbf``/``iat``, ``aud``). In-memory ports; one
  core (the process is pinned to one CPU while it runs); rounds interleaved; medians. Target ratio ≥ 1.0.
- ``cold_start`` / ``cold_start_token``: a fresh Python process that loads ``functions/ws_connect/handler.py``
  (resp. ``functions/token/handler.py``) by path, as Lambda (and ``local/handlers.py``) does, and invokes it
  once with a real request against a moto server with the stack's resources and seed data, against a fresh
  process that only does ``import boto3; boto3.client("dynamodb")``. Timed inside the child from its first
  statement (interpreter start-up, the same for both, is left out; the wall time is reported too). Medians
  of ``BENCH_COLD_RUNS`` (≥ 5) runs each, interleaved. Target ratio ≤ 1.3. The children (both sides) run on
  one CPU, moto (in this process) on the other (``cpus``): Lambda does not share its CPU with AWS's services
  (``unpinned`` repeats the headline measurement without pinning, for comparison).
  Bytecode is controlled so both sides run under the same conditions whatever the state of the tree's
  ``__pycache__`` directories (other edits leave them stale): every child gets its own
  ``PYTHONPYCACHEPREFIX``. The headline figures are *with
  bytecode* (as Lambda runs: a warm-up run of each child writes every module's ``.pyc`` into the prefix, the
  measured runs only read it); ``no_bytecode`` repeats the measurement with an empty prefix and nothing
  written, so every module — standard library, boto3 and ours alike — is compiled from source. The children
  run with ``AWS_LAMBDA_FUNCTION_NAME`` set, as in Lambda (the handlers pause the garbage collector through
  their cold start there: ``edge/coldstart.py``); ``without_gc_pause`` repeats the compiled measurement without
  it, for comparison. ``cpu_ms``/``cpu_ratio``: the child's CPU time (less sensitive to a busy machine than
  the wall-clock headline, which also includes the round trips to moto). ``page_faults``/``baseline_page_faults``:
  the children's minor page faults (medians), where CPython's frame-stack chunk churn shows (``edge/coldstart.py``).
- ``terminate``: N (default 2,000) websocket clients connected to the local API Gateway emulator
  (``LocalWebSocketGateway``, with stand-in functions that allow everything and register each connection in
  an in-memory registry); ``SessionTerminationService.terminate`` with the real ``ManagementApiCloser``
  (boto3 ``DeleteConnection`` against the emulator's ``@connections`` API) until every client has seen its
  close frame. Baseline: the same N closes, one after the other through the same closer. The value is
  connections closed per second end to end (terminate called → last client saw the close); ``ratio`` is the
  speed-up of the parallel terminator over the sequential loop (target ≥ 1.0, informative: it must not be
  slower than closing one by one).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt

from tests.benchkit import interleaved
from wiresocket.domain.audit import Actor, ActorType
from wiresocket.domain.connections import ConnectionRecord
from wiresocket.names import AUDIENCE_API

REPO_ROOT = Path(__file__).resolve().parents[1]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
PER_ROUND = int(os.environ.get("BENCH_PER_ROUND", "300"))
COLD_RUNS = max(5, int(os.environ.get("BENCH_COLD_RUNS", "11")))
TERMINATE_N = int(os.environ.get("BENCH_TERMINATE_N", "2000"))
OPEN_BATCH = 200
ALLOWED_ORIGIN = "http://localhost:5173"


@contextlib.contextmanager
def _one_core() -> Iterator[int | None]:
    """Pin this process to one CPU for the duration (where the platform allows it)."""
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    cpu = min(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


# --- authorize ------------------------------------------------------------------------------------------------


def authorize() -> dict[str, Any]:
    """The ``authorize`` result."""
    from tests.fakes.memory import FakeClock, FakeKeyWrapper, MemoryStore
    from tests.fakes.oauth_world import ISSUER_BASE, build_world
    from tests.fakes.ratelimit import MemoryCounterStore
    from wiresocket.domain.keys import select_active
    from wiresocket.local.ws_events import (
        ConnectionIdentity,
        HandshakeRequest,
        WebSocketStage,
        build_authorizer_event,
    )
    from wiresocket.services.authorize import (
        SECURITY_STATE,
        CachedStateDirectory,
        ConnectionAuthorizer,
        ConnectRequest,
        authorize_event,
    )
    from wiresocket.services.verification import TokenVerifier

    # The clock is "now", so the baseline's own exp/nbf/iat checks (PyJWT reads the system clock) pass too.
    store, clock = MemoryStore(), FakeClock(time.time())
    world = build_world(store, store, FakeKeyWrapper(), clock, MemoryCounterStore())
    token = str(world.client_credentials().body["access_token"])
    authorizer = ConnectionAuthorizer(
        # As production wires it: security state read fresh from the (in-memory) directory, plans cached.
        TokenVerifier(
            CachedStateDirectory(store, clock, ttl_seconds=5, always_fresh=SECURITY_STATE),
            clock,
            issuer_base=ISSUER_BASE,
        )
    )
    stage = WebSocketStage("wiresockws", "local", "eu-west-1", "000000000000", "127.0.0.1:8081", 8081)
    handshake = HandshakeRequest(
        raw_path="/",
        raw_query="doc=demo",
        headers=[
            ("Host", "127.0.0.1:8081"),
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Origin", ALLOWED_ORIGIN),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Protocol", f"access_token, {token}"),
            ("User-Agent", "Mozilla/5.0 (bench)"),
        ],
        source_ip="127.0.0.1",
    )
    identity = ConnectionIdentity("bench0connid=", int(clock.now() * 1000), "127.0.0.1", "Mozilla/5.0 (bench)")
    event = build_authorizer_event(handshake, stage, identity, request_id="bench", now=clock.now())
    request = ConnectRequest.from_event(event)

    def service() -> object:
        return authorize_event(event, lambda: authorizer)

    def connection_only() -> object:
        return authorizer.authorize_connection(request)

    outcome = authorize_event(event, lambda: authorizer)
    if outcome.decision != "allow":
        raise RuntimeError(f"the benchmark request is not allowed: {outcome.reason}")
    _, keys = store.tenant_with_keys(world.demo_tenant)
    key = select_active(keys)
    assert key is not None
    public_key = world.cache.private_key(key).public_key()

    def baseline() -> object:
        return jwt.decode(token, public_key, algorithms=["RS256"], audience=AUDIENCE_API)

    with _one_core() as cpu:
        for _ in range(50):
            service()
            baseline()
        measured = interleaved(
            service, baseline, rounds=ROUNDS, per_round=PER_ROUND, extras={"connection": connection_only}
        )
    value, base = measured.value, measured.baseline
    return {
        "name": "authorize",
        "unit": "authorizations/s",
        "value": round(value, 1),
        "baseline": round(base, 1),
        "ratio": round(value / base, 4),
        "target": 1.0,
        "rounds": ROUNDS,
        "per_round": PER_ROUND,
        "cpu": cpu,
        "authorize_connection_per_s": round(measured.extras["connection"], 1),
        "note": (
            "authorize_event (event -> IAM policy), security state read fresh from in-memory ports as in"
            " production, vs jwt.decode(RS256, aud) of the same token"
        ),
    }


# --- cold_start -----------------------------------------------------------------------------------------------

_CHILD_PRELUDE = "import time as _t\n_t0, _c0 = _t.perf_counter(), _t.process_time()\n"
_CHILD_HANDLER = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("wiresocket_fn_" + sys.argv[1], sys.argv[2])
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
_t1 = _t.perf_counter()
class Context:
    function_name = sys.argv[1]
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:000000000000:function:" + sys.argv[1]
    memory_limit_in_mb = 128
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/" + sys.argv[1]
    log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 30000
with open(sys.argv[3]) as f:
    event = json.load(f)
try:
    result = module.handler(event, Context())
    outcome = result.get("statusCode") or result.get("policyDocument", {}).get("Statement", [{}])[0].get("Effect")
except Exception as exc:
    result, outcome = None, "raised " + type(exc).__name__
_t2, _c2 = _t.perf_counter(), _t.process_time()
body = result.get("body") if isinstance(result, dict) else None
import resource
sys.stderr.write("BENCH_RESULT " + json.dumps({"import": _t1 - _t0, "total": _t2 - _t0, "cpu": _c2 - _c0,
                                                "minflt": resource.getrusage(resource.RUSAGE_SELF).ru_minflt,
                                                "outcome": outcome, "body": body if isinstance(body, str) else None})
                 + "\\n")
"""
_CHILD_BASELINE = """
import json, sys
import boto3
boto3.client("dynamodb")
_t2, _c2 = _t.perf_counter(), _t.process_time()
import resource
sys.stderr.write("BENCH_RESULT " + json.dumps({"import": _t2 - _t0, "total": _t2 - _t0, "cpu": _c2 - _c0,
                                                "minflt": resource.getrusage(resource.RUSAGE_SELF).ru_minflt,
                                                "outcome": "ok"}) + "\\n")
"""

_SETUP_CHILD = """
import json, sys
import boto3
from wiresocket import names
from wiresocket.local.resources import create_global_resources, create_regional_resources
from wiresocket.local.stack import settings_environment
import os
endpoint, region, issuer_base = sys.argv[1:4]
session = boto3.session.Session(region_name=region)
resources = create_global_resources(
    session.client("dynamodb", endpoint_url=endpoint),
    session.client("kms", endpoint_url=endpoint),
    session.client("events", endpoint_url=endpoint),
)
create_regional_resources(lambda r: session.client("dynamodb", region_name=r, endpoint_url=endpoint))
settings = settings_environment(resources, region=region, issuer_base=issuer_base)
os.environ.update(settings)
from wiresocket.local.seed import seed
demo = seed(endpoint, dict(settings))["demo"]
sys.stderr.write("BENCH_SETUP " + json.dumps({"settings": settings, "demo": demo}) + "\\n")
"""


def _child_result(stderr: str, marker: str) -> dict[str, Any]:
    for line in stderr.splitlines():
        if line.startswith(marker + " "):
            parsed: dict[str, Any] = json.loads(line[len(marker) + 1 :])
            return parsed
    raise RuntimeError(f"the child process reported nothing:\n{stderr[-2000:]}")


_CPUS: dict[str, int] = {}
"""While ``_apart_from_moto`` holds: ``{"children": cpu, "moto": cpu}``."""


@contextlib.contextmanager
def _apart_from_moto() -> Iterator[dict[str, int]]:
    """Run the measured children on one CPU and this process (the moto server's threads, and the threads they
    start for each request) on another, where the machine has two and allows pinning.

    Lambda does not share its CPU with DynamoDB or KMS; unpinned, the stand-in for AWS in this process and the
    child being measured took turns on the same two cores (and the child moved between them), which is noise,
    and a cost no Lambda pays. Both sides are measured the same way: the baseline child is pinned too.
    """
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []
    if len(cpus) < 2:
        yield {}
        return
    threads = [thread.native_id for thread in threading.enumerate() if thread.native_id is not None]
    before = {native_id: os.sched_getaffinity(native_id) for native_id in threads}
    for native_id in before:
        os.sched_setaffinity(native_id, {cpus[0]})  # on Linux, per thread: the server's, and this one
    _CPUS.update(children=cpus[-1], moto=cpus[0])
    try:
        yield dict(_CPUS)
    finally:
        _CPUS.clear()
        for native_id, mask in before.items():
            with contextlib.suppress(OSError):  # a thread that has ended since
                os.sched_setaffinity(native_id, mask)


def _run_child(code: str, args: list[str], env: dict[str, str], marker: str = "BENCH_RESULT") -> dict[str, Any]:
    started = time.perf_counter()
    if _CPUS:  # the child inherits the affinity of the thread that starts it: this one, for that moment
        os.sched_setaffinity(0, {_CPUS["children"]})
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, *args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        if _CPUS:
            os.sched_setaffinity(0, {_CPUS["moto"]})
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"child process failed ({done.returncode}):\n{done.stderr[-2000:]}")
    result = _child_result(done.stderr, marker)
    result["wall"] = wall
    return result


def _child_env(extra: dict[str, str], pycache: str | None = None) -> dict[str, str]:
    """This process's environment without any AWS/WireSocket/powertools/bytecode settings, plus ``extra``;
    ``pycache``: the child's ``PYTHONPYCACHEPREFIX`` (reads ``.pyc`` only there, never writes)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "WIRESOCKET_", "POWERTOOLS_", "PYTHONPYCACHEPREFIX"))
    }
    env.update(extra)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if pycache is not None:
        env["PYTHONPYCACHEPREFIX"] = pycache
    env.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon here, as in the local stack
    return env


def _authorizer_event(access_token: str, region: str) -> dict[str, Any]:
    from wiresocket.local.ws_events import (
        ConnectionIdentity,
        HandshakeRequest,
        WebSocketStage,
        build_authorizer_event,
    )

    stage = WebSocketStage("wiresockws", "local", region, "000000000000", "127.0.0.1:8081", 8081)
    handshake = HandshakeRequest(
        raw_path="/",
        raw_query="doc=demo",
        headers=[
            ("Host", "127.0.0.1:8081"),
            ("Origin", ALLOWED_ORIGIN),
            ("Sec-WebSocket-Protocol", f"access_token, {access_token}"),
        ],
        source_ip="127.0.0.1",
    )
    now = time.time()
    identity = ConnectionIdentity("bench0connid=", int(now * 1000), "127.0.0.1", None)
    return build_authorizer_event(handshake, stage, identity, request_id="bench", now=now)


def _cold_runs(
    env: dict[str, str], tmp: Path, token_event_file: Path, region: str, runs: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """``runs`` interleaved rounds: baseline, token handler, authorizer (with the token just issued)."""
    token_handler = str(REPO_ROOT / "functions" / "token" / "handler.py")
    ws_handler = str(REPO_ROOT / "functions" / "ws_connect" / "handler.py")
    authorizer_event_file = tmp / "authorizer_event.json"
    baseline: list[dict[str, Any]] = []
    token_runs: list[dict[str, Any]] = []
    authorizer_runs: list[dict[str, Any]] = []
    for _ in range(runs):
        baseline.append(_run_child(_CHILD_PRELUDE + _CHILD_BASELINE, [], env))
        run = _run_child(_CHILD_PRELUDE + _CHILD_HANDLER, ["token", token_handler, str(token_event_file)], env)
        if run["outcome"] != 200 or not run.get("body"):
            raise RuntimeError(f"the token handler answered {run['outcome']}")
        access_token = str(json.loads(run.pop("body"))["access_token"])
        token_runs.append(run)
        authorizer_event_file.write_text(json.dumps(_authorizer_event(access_token, region)))
        run = _run_child(_CHILD_PRELUDE + _CHILD_HANDLER, ["ws_connect", ws_handler, str(authorizer_event_file)], env)
        run.pop("body", None)
        if run["outcome"] != "Allow":
            raise RuntimeError(f"the authorizer answered {run['outcome']}")
        authorizer_runs.append(run)
    return baseline, token_runs, authorizer_runs


def _median(runs: list[dict[str, Any]], key: str = "total") -> float:
    return statistics.median(float(r[key]) for r in runs)


def _quartiles(values: list[float]) -> list[float]:
    """Lower quartile, median, upper quartile, rounded."""
    return [round(q, 4) for q in statistics.quantiles(values, n=4)]


def _ms(runs: list[dict[str, Any]], key: str = "total") -> float:
    return round(_median(runs, key) * 1000, 1)


def cold_start() -> Iterator[dict[str, Any]]:
    """The ``cold_start`` (authorizer) and ``cold_start_token`` results."""
    from tests.fakes.oauth_world import rest_event
    from wiresocket.local.moto_server import MotoServer, aws_environment

    region, issuer_base = "eu-west-1", "http://127.0.0.1:8080"
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    with MotoServer(0, configure_environment=False) as moto, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        aws = aws_environment(region, moto.endpoint_url)
        setup = _run_child(_SETUP_CHILD, [moto.endpoint_url, region, issuer_base], _child_env(aws), "BENCH_SETUP")
        demo = setup["demo"]
        token_event = rest_event(
            "/connect/token",
            {
                "grant_type": "client_credentials",
                "client_id": demo["client_id"],
                "client_secret": demo["client_secret"],
                "scope": "WireSocket.API",
            },
        )
        token_event_file = tmp / "token_event.json"
        token_event_file.write_text(json.dumps(token_event))
        # The variable Lambda sets in every function: the handlers behave as in Lambda (edge/coldstart.py pauses
        # the garbage collector through a cold start only there). The baseline ignores it.
        settings = {**aws, **setup["settings"], "AWS_LAMBDA_FUNCTION_NAME": "bench"}

        with _apart_from_moto() as cpus:
            # With bytecode: one warm-up round writes every module's .pyc into the prefix; then only reads.
            compiled = _child_env(settings, str(tmp / "pyc"))
            warm_up = {**compiled}
            warm_up.pop("PYTHONDONTWRITEBYTECODE")
            _cold_runs(warm_up, tmp, token_event_file, region, 1)
            measured = _cold_runs(compiled, tmp, token_event_file, region, COLD_RUNS)
            # Informative: the same, outside Lambda's environment (so without edge/coldstart.py's collector pause).
            plain = {k: v for k, v in compiled.items() if k != "AWS_LAMBDA_FUNCTION_NAME"}
            unpaused = _cold_runs(plain, tmp, token_event_file, region, COLD_RUNS)
            # Without bytecode: an empty prefix, nothing written: every module is compiled from source each time.
            (tmp / "empty").mkdir()
            source = _cold_runs(_child_env(settings, str(tmp / "empty")), tmp, token_event_file, region, COLD_RUNS)
        # Informative: the headline measurement again with nothing pinned (children, moto and the host's other
        # work sharing both cores as the scheduler likes).
        shared = _cold_runs(compiled, tmp, token_event_file, region, COLD_RUNS)

    for index, (name, function) in enumerate((("cold_start", "ws_connect"), ("cold_start_token", "token"))):
        baseline, runs = measured[0], measured[1 + (1 - index)]
        source_baseline, source_runs = source[0], source[1 + (1 - index)]
        unpaused_baseline, unpaused_runs = unpaused[0], unpaused[1 + (1 - index)]
        shared_baseline, shared_runs = shared[0], shared[1 + (1 - index)]
        value, base = statistics.median(r["total"] for r in runs), statistics.median(r["total"] for r in baseline)
        yield {
            "name": name,
            "unit": "ms",
            "value": round(value * 1000, 1),
            "baseline": round(base * 1000, 1),
            "ratio": round(value / base, 4),
            "target": 1.3,
            "runs": COLD_RUNS,
            "cpus": cpus or "unpinned (fewer than two CPUs to pin to)",
            "function": function,
            "bytecode": "compiled (warm-up run writes .pyc into a private PYTHONPYCACHEPREFIX)",
            "import_ms": _ms(runs, "import"),
            "first_invoke_ms": round(statistics.median(r["total"] - r["import"] for r in runs) * 1000, 1),
            "cpu_ms": _ms(runs, "cpu"),
            "baseline_cpu_ms": _ms(baseline, "cpu"),
            "cpu_ratio": round(_median(runs, "cpu") / _median(baseline, "cpu"), 4),
            # Minor page faults of the whole child (interpreter start-up included, the same on both sides): the
            # trace of memory first touched, frame-stack chunks mapped again and again included (edge/coldstart.py).
            "page_faults": int(_median(runs, "minflt")),
            "baseline_page_faults": int(_median(baseline, "minflt")),
            # Informative on a noisy host (the headline stays the medians'): the fastest run of each side, where
            # the neighbours' noise is least; and the spread of the ratio over the interleaved rounds.
            "ratio_of_fastest": round(min(r["total"] for r in runs) / min(r["total"] for r in baseline), 4),
            "round_ratio_quartiles": _quartiles([r["total"] / b["total"] for r, b in zip(runs, baseline, strict=True)]),
            "wall_ms": _ms(runs, "wall"),
            "baseline_wall_ms": _ms(baseline, "wall"),
            "unpinned": {
                "value": _ms(shared_runs),
                "baseline": _ms(shared_baseline),
                "ratio": round(_median(shared_runs) / _median(shared_baseline), 4),
                "cpu_ratio": round(_median(shared_runs, "cpu") / _median(shared_baseline, "cpu"), 4),
            },
            "without_gc_pause": {
                "value": _ms(unpaused_runs),
                "baseline": _ms(unpaused_baseline),
                "ratio": round(_median(unpaused_runs) / _median(unpaused_baseline), 4),
                "cpu_ratio": round(_median(unpaused_runs, "cpu") / _median(unpaused_baseline, "cpu"), 4),
            },
            "no_bytecode": {
                "value": _ms(source_runs),
                "baseline": _ms(source_baseline),
                "ratio": round(_median(source_runs) / _median(source_baseline), 4),
                "cpu_ratio": round(_median(source_runs, "cpu") / _median(source_baseline, "cpu"), 4),
                "import_ms": _ms(source_runs, "import"),
            },
            "note": "fresh process: load handler by path + first invocation vs import boto3; boto3.client('dynamodb')",
        }


# --- terminate ------------------------------------------------------------------------------------------------

BENCH_TENANT = "0b7c6c5e-8c1f-4a57-9e5e-3f2a1b0c9d8e"
BENCH_APP = "benchapp0000000000000000"
BENCH_REGION = "aws-eu-west-1"


class _Registry:
    """An in-memory ``ConnectionRegistry`` (one dict per license region)."""

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
        with self._lock:
            found = [r for r in self.tables.get(license_region, {}).values() if r.tenant_id == tenant_id]
        yield from found

    def by_app(self, license_region: str, tenant_id: str, app_id: str) -> Iterator[ConnectionRecord]:
        yield from (r for r in self.by_tenant(license_region, tenant_id) if r.app_id == app_id)

    def by_document(
        self, license_region: str, tenant_id: str, app_id: str, document: str
    ) -> Iterator[ConnectionRecord]:
        yield from (r for r in self.by_app(license_region, tenant_id, app_id) if r.document == document)

    def records(self) -> list[ConnectionRecord]:
        with self._lock:
            return [r for table in self.tables.values() for r in table.values()]


class _Functions:
    """Stand-ins for the data-plane functions: allow everything; ``$connect`` registers, ``$disconnect`` forgets."""

    def __init__(self, registry: _Registry) -> None:
        self.registry = registry
        self.endpoint = ""

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        if event.get("type") == "REQUEST":
            return {
                "principalId": f"{BENCH_TENANT}/{BENCH_APP}",
                "policyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [event["methodArn"]]}
                    ],
                },
                "context": {"tenantId": BENCH_TENANT},
            }
        context = event["requestContext"]
        connection_id = str(context["connectionId"])
        if context.get("eventType") == "CONNECT":
            self.registry.put(
                ConnectionRecord(
                    connection_id=connection_id,
                    ws_region="eu-west-1",
                    endpoint=self.endpoint,
                    tenant_id=BENCH_TENANT,
                    app_id=BENCH_APP,
                    kid="k" * 24,
                    document="bench",
                    license_region=BENCH_REGION,
                    connected_at=int(time.time()),
                    token_exp=int(time.time()) + 900,
                    expires_at=int(time.time()) + 9000,
                )
            )
        elif context.get("eventType") == "DISCONNECT":
            self.registry.delete(BENCH_REGION, f"eu-west-1#{connection_id}")
        return {"statusCode": 200}


def _raise_fd_limit(needed: int) -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            raise RuntimeError(f"the open-files limit ({hard}) is below the {needed} this benchmark needs")
    return soft, hard


async def _open_clients(url: str, count: int) -> list[Any]:
    from websockets.asyncio.client import connect

    clients: list[Any] = []
    for start in range(0, count, OPEN_BATCH):
        batch = [
            connect(url, open_timeout=60, ping_interval=None, compression=None, close_timeout=10, max_queue=None)
            for _ in range(min(OPEN_BATCH, count - start))
        ]
        clients.extend(await asyncio.gather(*batch))
    return clients


async def _close_round(
    url: str, count: int, registry: _Registry, close_all: Callable[[], object]
) -> tuple[float, float, int]:
    """Open ``count`` clients, run ``close_all`` in a thread, wait until each saw the close; (seconds, call
    seconds, closes seen)."""
    clients = await _open_clients(url, count)
    deadline = time.monotonic() + 30
    while len(registry.records()) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    if len(registry.records()) < count:
        raise RuntimeError(f"only {len(registry.records())} of {count} connections were registered")
    started = time.perf_counter()
    call = asyncio.create_task(asyncio.to_thread(close_all))
    await asyncio.wait_for(asyncio.gather(*(client.wait_closed() for client in clients)), timeout=300)
    elapsed = time.perf_counter() - started
    await call
    call_seconds = time.perf_counter() - started
    seen = sum(1 for client in clients if client.close_code == 1000)
    return elapsed, call_seconds, seen


def terminate() -> dict[str, Any]:
    """The ``terminate`` result."""
    from tests.fakes.memory import FakeClock, MemoryStore
    from wiresocket.adapters.apigw_management import ManagementApiCloser
    from wiresocket.local.ws_gateway import LocalWebSocketGateway
    from wiresocket.services.admin_contract import TerminationScope
    from wiresocket.services.sessions import SessionTerminationService

    count = TERMINATE_N
    old_limit = _raise_fd_limit(2 * count + 512)
    registry = _Registry()
    functions = _Functions(registry)
    gateway = LocalWebSocketGateway(functions.invoke, port=0, management_port=0)
    saved_env = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL")}
    # The emulator does not check signatures, but botocore needs credentials to sign at all.
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        url = gateway.start() + "/?doc=bench"
        functions.endpoint = gateway.management_url
        closer = ManagementApiCloser()
        store = MemoryStore()
        service = SessionTerminationService(registry, closer, store, FakeClock(time.time()), region="eu-west-1")
        actor = Actor(ActorType.USER, "bench")
        scope = TerminationScope(BENCH_TENANT)
        closed_counts: list[int] = []

        def parallel() -> None:
            closed_counts.append(service.terminate(scope, "bench", actor))

        def sequential() -> None:
            for record in registry.records():
                closer.close(record.endpoint, record.connection_id, record.ws_region)

        closer.close(gateway.management_url, "warm-up-unknown-id", "eu-west-1")  # the boto3 client, created once
        parallel_s, call_s, parallel_seen = asyncio.run(_close_round(url, count, registry, parallel))
        sequential_s, _, sequential_seen = asyncio.run(_close_round(url, count, registry, sequential))
    finally:
        gateway.stop()
        for name, saved in saved_env.items():
            if saved is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = saved
        resource.setrlimit(resource.RLIMIT_NOFILE, old_limit)
    if parallel_seen != count or sequential_seen != count or closed_counts != [count]:
        raise RuntimeError(
            f"closes seen: parallel {parallel_seen}, sequential {sequential_seen}, reported {closed_counts} of {count}"
        )
    value, base = count / parallel_s, count / sequential_s
    return {
        "name": "terminate",
        "unit": "connections closed/s",
        "value": round(value, 1),
        "baseline": round(base, 1),
        "ratio": round(value / base, 4),
        "target": 1.0,
        "connections": count,
        "seconds": round(parallel_s, 3),
        "terminate_call_seconds": round(call_s, 3),
        "baseline_seconds": round(sequential_s, 3),
        "workers": 32,
        "note": "terminate() -> last client saw close 1000; baseline: same closer, one DeleteConnection at a time",
    }


def benchmarks() -> Iterator[dict[str, Any]]:
    """The WebSocket-edge results."""
    yield authorize()
    print("# authorize done; cold_start next", file=sys.stderr, flush=True)
    yield from cold_start()
    print("# cold_start done; terminate next", file=sys.stderr, flush=True)
    yield terminate()
