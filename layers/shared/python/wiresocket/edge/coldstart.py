"""Cold start without the cyclic garbage collector's full passes over the freshly loaded SDK.

A cold start allocates a few hundred thousand long-lived objects (botocore's endpoint and service models, the
modules themselves) and almost no garbage. CPython's collector, triggered by allocation counts, keeps
walking that whole heap while it grows: about 20 ms of a bare ``boto3.client("dynamodb")`` and more of a
handler's cold start (measured: tests/bench_ws.py ``cold_start``). So the hot handlers pause the collector
while their module loads (``pause``, the handler module's first statement) and through their first
invocation, then move everything alive into the permanent generation and resume it (``resume_once``, after
the first invocation): later collections never walk the SDK's models again, which also keeps warm
invocations' collections short. This is CPython's documented pattern (``gc.disable`` early, ``gc.freeze``
once the long-lived state is built). The cost: cyclic garbage made during that window is never reclaimed —
a bounded, one-off amount per container (init allocates almost no cycles; peak RSS of the authorizer's cold
start measured 54.4 MB paused vs 54.1 MB not).

Only inside Lambda (``AWS_LAMBDA_FUNCTION_NAME``, which the runtime sets, is present): a test run or the local
stack imports handlers into a long-lived process that may never invoke them, and must keep its collector.
"""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Callable
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])
_state = {"paused": False, "resumed": False}


def pause() -> None:
    """Stop automatic collections until ``resume_once`` (call it before the handler's heavy imports); only in
    Lambda."""
    if not _state["resumed"] and os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        _state["paused"] = True
        gc.disable()


def resume_once() -> None:
    """Freeze what the cold start built and resume automatic collections (only the first call does)."""
    if _state["resumed"] or not _state["paused"]:
        return
    _state["resumed"] = True
    gc.freeze()
    gc.enable()


def after_first_invocation(handler: _F) -> _F:
    """Decorate a handler: ``resume_once`` after its first invocation, however it ended."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        finally:
            resume_once()

    return wrapper  # type: ignore[return-value]
