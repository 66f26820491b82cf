"""The hot handlers' cold path: the authorizer's IAM policy is exactly powertools' document, the JSON logs and
EMF metrics keep powertools' shapes, and loading the handlers pulls in none of the heavy packages."""

from __future__ import annotations

import gc
import json
import resource
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponseWebSocket,
)

from wiresocket.edge.metrics import CONNECTIONS_DENIED, NAMESPACE, count, metrics
from wiresocket.edge.telemetry import EmfMetrics, JsonLogger
from wiresocket.services.authorize import _policy

REPO = Path(__file__).resolve().parents[2]
ARNS = [
    "arn:aws:execute-api:eu-west-1:000000000000:wiresockws/local/$connect",
    "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/$connect",
    "arn:aws:execute-api:ap-southeast-2:123456789012:abcdef1234/v1/some/deeper/route",
]


class Context:
    function_name = "fn"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:eu-west-1:000000000000:function:fn"
    aws_request_id = "req-1"


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:execute-api:eu-west-1:000000000000",
        "arn:aws:execute-api:eu-west-1:000000000000:apionly",
        "arn:aws:execute-api::000000000000:api/stage/$connect",
        "arn:aws:execute-api:eu-west-1:000000000000:/stage/$connect",
        "arn:aws:execute-api:eu-west-1:000000000000:api//$connect",
        "arn::execute-api:eu-west-1:000000000000:api/stage/$connect",
    ],
)
def test_a_method_arn_without_partition_region_api_or_stage_builds_no_policy(arn: str) -> None:
    # Given / When / Then
    with pytest.raises(ValueError):
        _policy(arn, "t/a", allow=True, context=None)


@pytest.mark.parametrize("arn", ARNS)
@pytest.mark.parametrize("context", [None, {}, {"tenantId": "t", "limits": '{"maxConnections":5}'}])
def test_the_policy_is_exactly_the_powertools_document(arn: str, context: dict[str, Any] | None) -> None:
    # Given powertools' builder for the same ARN, principal and context
    allow = APIGatewayAuthorizerResponseWebSocket.from_route_arn(arn, "tenant/app", context)
    allow.allow_route("$connect")
    deny = APIGatewayAuthorizerResponseWebSocket.from_route_arn(arn, "anonymous", context)
    deny.deny_all_routes()
    # When / Then ours is the same document, allow and deny
    assert _policy(arn, "tenant/app", allow=True, context=context) == allow.asdict()
    assert _policy(arn, "anonymous", allow=False, context=context) == deny.asdict()


def test_the_policy_keeps_the_partition_of_the_method_arn() -> None:
    # Given a method ARN outside the "aws" partition (powertools' from_route_arn drops it and writes "aws")
    arn = "arn:aws-cn:execute-api:cn-north-1:123456789012:abcdef1234/prod/$connect"
    # When / Then the policy names the route in the partition it came from
    [statement] = _policy(arn, "t/a", allow=True, context=None)["policyDocument"]["Statement"]
    assert statement["Resource"] == [arn]


def test_log_records_carry_the_lambda_context_only_inside_the_handler(capsys: pytest.CaptureFixture[str]) -> None:
    logger = JsonLogger(service="svc")
    logger.info("outside")

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: object) -> str:
        logger.info("decision", extra={"decision": "deny", "reason": "origin"})
        logger.debug("hidden at the default level")
        return "done"

    # When the handler runs twice
    assert handler({"token": "secret-token"}, Context()) == "done"
    handler({}, Context())
    outside, first, second = lines(capsys)
    # Then the powertools keys are there, cold_start only on the first invocation, nothing from the event
    assert set(outside) == {"level", "location", "message", "timestamp", "service"}
    assert first["cold_start"] is True and second["cold_start"] is False
    assert first["function_request_id"] == "req-1" and first["function_name"] == "fn"
    assert first["function_memory_size"] == 128 and first["function_arn"] == Context.invoked_function_arn
    assert (first["level"], first["service"], first["decision"], first["reason"]) == ("INFO", "svc", "deny", "origin")
    assert first["location"].startswith("handler:")
    assert "secret-token" not in json.dumps([outside, first, second])


def test_the_log_level_threshold_comes_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    logger = JsonLogger(service="svc")
    logger.info("dropped")
    logger.warning("kept")
    assert [r["message"] for r in lines(capsys)] == ["kept"]


def test_metrics_flush_once_per_invocation_even_when_the_handler_raises(capsys: pytest.CaptureFixture[str]) -> None:
    emf = EmfMetrics(namespace=NAMESPACE, service="svc")

    @emf.log_metrics
    def handler(fail: bool) -> None:
        emf.add_metric(name="A", unit="Count", value=1)
        emf.add_metric(name="A", unit="Count", value=2)
        if fail:
            raise RuntimeError("boom")

    handler(False)
    with pytest.raises(RuntimeError):
        handler(True)
    emf.flush_metrics()  # nothing left: writes nothing
    first, second = lines(capsys)
    directive = first["_aws"]["CloudWatchMetrics"][0]
    assert directive == {
        "Namespace": NAMESPACE,
        "Dimensions": [["service"]],
        "Metrics": [{"Name": "A", "Unit": "Count"}],
    }
    assert first["service"] == "svc" and first["A"] == [1.0, 2.0] and second["A"] == [1.0, 2.0]
    assert isinstance(first["_aws"]["Timestamp"], int)


def test_a_metric_with_dimensions_is_written_alone_with_exactly_those(capsys: pytest.CaptureFixture[str]) -> None:
    sink = metrics("svc")
    count(sink, CONNECTIONS_DENIED, reason="origin")
    sink.flush_metrics()  # the dimensioned metric did not go into the function's document
    [blob] = lines(capsys)
    assert blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["reason"]]
    assert blob["reason"] == "origin" and blob[CONNECTIONS_DENIED] == [1.0] and "service" not in blob


@pytest.mark.parametrize("function", ["ws_connect", "token"])
def test_loading_a_hot_handler_imports_no_heavy_package(function: str) -> None:
    # Given a fresh interpreter that loads the handler by path, as Lambda does
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('h', {str(REPO / 'functions' / function / 'handler.py')!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(sorted(m for m in ('aws_lambda_powertools', 'pynamodb', 'boto3', 'jwt') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    # Then none of them is loaded before the first invocation needs it
    assert done.stdout.strip() == "[]"


GRANT_MODULES = (
    "import sys\n"
    "import wiresocket.wiring, wiresocket.edge.oauth, wiresocket.services.token, wiresocket.services.clientauth\n"
    "import wiresocket.services.signing, wiresocket.services.sealing, wiresocket.services.pepper\n"
    "import wiresocket.services.ratelimit, wiresocket.adapters.kms, wiresocket.adapters.dynamo_state\n"
    "import wiresocket.adapters.dynamo_ratelimit, wiresocket.adapters.clock\n"
)
"""Every module a client_credentials grant runs (wiring's token factories), for a fresh interpreter to import."""


def test_a_client_credentials_grant_loads_nothing_only_other_grants_or_failures_use() -> None:
    # Given a fresh interpreter with every module a client_credentials grant runs (wiring's token factories)
    code = (
        GRANT_MODULES
        + "heavy = ('argon2', 'wiresocket.ports', 'wiresocket.services.refresh', 'wiresocket.domain.refresh',\n"
        "         'wiresocket.domain.audit', 'wiresocket.domain.users', 'jwt', 'pynamodb')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    # Then Argon2, write commands, refresh families, audit events and users wait for the grants/failures needing them
    assert done.stdout.strip() == "[]"


def test_the_layer_is_compiled_by_the_runtime_python_into_pyc_used_without_source_checks(tmp_path: Path) -> None:
    from scripts import build_layer

    # Given / When the layer build's compile step
    command = build_layer.compile_command("uv", tmp_path)
    # Then it runs the runtime's minor version (a .pyc is version-specific) and never revalidates against sources
    assert command[command.index("--python") + 1] == build_layer.PYTHON_VERSION
    assert command[command.index("--invalidation-mode") + 1] == "unchecked-hash"
    assert command[-1] == str(tmp_path) and "compileall" in command


@pytest.fixture
def fresh_coldstart(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from wiresocket.edge import coldstart

    monkeypatch.setattr(coldstart, "_state", {"paused": False, "resumed": False, "invoked": False})
    yield coldstart
    gc.unfreeze()
    gc.enable()


def test_outside_lambda_the_collector_is_never_paused(fresh_coldstart: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no AWS_LAMBDA_FUNCTION_NAME (a test run, the local stack)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    # When a handler module pauses and its first invocation ends
    fresh_coldstart.pause()
    assert gc.isenabled()
    fresh_coldstart.after_first_invocation(lambda: None)()
    # Then nothing was frozen either
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_in_lambda_the_collector_pauses_until_the_first_invocation_ends_even_if_it_raised(
    fresh_coldstart: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the variable Lambda sets
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    fresh_coldstart.pause()
    assert not gc.isenabled()

    def handler() -> None:
        raise RuntimeError("boom")

    # When the first invocation raises
    with pytest.raises(RuntimeError):
        fresh_coldstart.after_first_invocation(handler)()
    # Then the collector runs again, with the cold start's objects frozen, and a later pause changes nothing
    assert gc.isenabled() and gc.get_freeze_count() > 0
    fresh_coldstart.pause()
    assert gc.isenabled()


def test_only_the_first_invocation_runs_through_the_frame_that_reserves_stack(fresh_coldstart: Any) -> None:
    # Given a decorated handler that reports the frame that called it
    def handler(value: int) -> tuple[int, int]:
        caller = sys._getframe(1).f_code
        return value, caller.co_stacksize

    decorated = fresh_coldstart.after_first_invocation(handler)
    # When it is invoked twice
    first, second = decorated(1), decorated(2)
    # Then the first call came through the roomy frame, with its arguments, and the second straight from the wrapper
    assert first == (1, fresh_coldstart._call_with_room.__code__.co_stacksize)
    assert first[1] >= fresh_coldstart.STACK_ROOM_SLOTS
    assert second[0] == 2 and second[1] < 100


def _leaf() -> None:
    return None


# A leaf whose frame (2 KiB) is larger than a frame of _descend, so some depth leaves less room in a chunk than it
# needs while _burst's own frame still fits.
_big_leaf: Callable[[], None] = types.FunctionType(
    _leaf.__code__.replace(co_stacksize=_leaf.__code__.co_stacksize + 256), globals(), "_big_leaf"
)


def _burst() -> None:
    for _ in range(300):
        _big_leaf()


def _faults_at(depth: int, run: Callable[[Callable[[], None]], None]) -> int:
    """Minor page faults of one ``_burst`` run by ``run``, ``depth`` frames further down the stack."""
    if depth:
        return _faults_at(depth - 1, run)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    run(_burst)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_a_loop_of_calls_at_a_frame_stack_chunk_boundary_costs_no_page_faults_with_room(fresh_coldstart: Any) -> None:
    # Given the worst depth for 300 calls of a small function on this interpreter (python/cpython#142183: each
    # call past a chunk boundary maps a new chunk and faults its pages in)
    plain = max(_faults_at(depth, lambda burst: burst()) for depth in range(400))
    if plain < 300:
        pytest.skip(f"this CPython keeps a spare frame-stack chunk (worst depth: {plain} faults)")
    # When the same calls run through the first invocation's roomy frame, at every one of those depths
    roomy = fresh_coldstart._call_with_room
    with_room = max(_faults_at(depth, lambda burst: roomy(burst, (), {})) for depth in range(400))
    # Then no depth costs more than the handful of faults of mapping that one 2 MiB chunk
    assert with_room < 30, (plain, with_room)


def test_the_grant_s_modules_load_no_cryptography_until_preload_or_first_use() -> None:
    # Given a fresh interpreter with every module a client_credentials grant runs
    code = (
        GRANT_MODULES + "before = sorted(m for m in sys.modules if m.startswith('cryptography'))\n"
        "wiresocket.services.sealing.preload()\n"
        "after = {m for m in sys.modules if m.startswith('cryptography')}\n"
        "needed = {'cryptography.hazmat.primitives.ciphers.aead', 'cryptography.hazmat.primitives.serialization',\n"
        "          'cryptography.hazmat.primitives.asymmetric.padding', 'cryptography.hazmat.primitives.hashes'}\n"
        "print(before, sorted(needed - after))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    # Then cryptography (~12 ms) waits for the pepper thread's preload (or the first unseal or signature), and
    # preload loads what unsealing and signing use
    assert done.stdout.strip() == "[] []"
