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

The first invocation also runs with room on CPython's frame stack (``after_first_invocation``), a workaround
for python/cpython#142183 ("Calls across stack chunks perform badly"). CPython keeps a thread's Python frames
in 16 KiB chunks and frees a chunk as soon as the frame at its base returns, so a loop that calls a function
whose frame lands just past a chunk boundary maps and unmaps a fresh chunk on every call (an ``mmap``, a
``munmap`` and the page faults of first touching it). Where that happens depends only on the stack depth, and a
first invocation runs the SDK's imports, model parsing and regular-expression compilation deep under the
handler's decorators, the service and the wiring: measured under ``strace``, the token function's cold start
mapped 1,348 such chunks (the ``import boto3`` baseline: 8), about 10 ms of CPU. Upstream fixed it by caching
one chunk per thread (python/cpython#145789 in 3.14, backported to 3.13 by #146123); the Python 3.11 this
project is developed and benchmarked on, and any runtime before the fix, still has it. There is no interpreter
setting for the chunk size, so the first invocation is called through a frame that reserves 1 MiB of stack
(``_call_with_room``: the same one-line call, with a larger ``co_stacksize``). CPython then allocates it a
2 MiB chunk and every frame the first invocation pushes, to a depth of thousands, fits in that chunk: no
boundary to cross, whatever the depth (the same run then mapped 12 chunks). The reservation is virtual
memory; only the pages the frames touch are ever faulted in, and the chunk is released when the first
invocation returns. Warm invocations call the handler directly.
"""

from __future__ import annotations

import functools
import gc
import os
import types
from collections.abc import Callable
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])
_state = {"paused": False, "resumed": False, "invoked": False}

STACK_ROOM_SLOTS = 128 * 1024
"""Frame-stack slots (8 bytes each) reserved around the first invocation: 1 MiB."""


def _call(function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return function(*args, **kwargs)


_call_with_room: Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any]], Any] = types.FunctionType(
    _call.__code__.replace(co_stacksize=_call.__code__.co_stacksize + STACK_ROOM_SLOTS), globals(), "_call_with_room"
)
"""``_call`` whose frame reserves ``STACK_ROOM_SLOTS`` more evaluation-stack slots than it uses (a larger
``co_stacksize`` only sizes the frame; the code is the same), so that CPython gives it a chunk of its own with
room to spare for everything it calls (see the module docstring)."""


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
    """Decorate a handler: its first invocation (the process's first of any decorated handler) runs with room on
    the frame stack, and ``resume_once`` follows it, however it ended."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _state["invoked"]:
            return handler(*args, **kwargs)
        _state["invoked"] = True
        try:
            return _call_with_room(handler, args, kwargs)
        finally:
            resume_once()

    return wrapper  # type: ignore[return-value]
