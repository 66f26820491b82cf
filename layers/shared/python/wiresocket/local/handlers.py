"""Load and invoke the real Lambda handlers in-process, the way the Lambda runtime would.

Each ``functions/<name>/handler.py`` is loaded from its file under its own module name
(``wiresocket_fn_<name>``) with ``importlib.util.spec_from_file_location``. ``functions/`` is never put on
``sys.path``: its ``token/`` folder would shadow the standard library's ``token`` module (which
``tokenize``, and with it ``inspect`` and most of the world, imports), and two handlers would collide as
``handler``. A consequence, on purpose: a handler can import only from the ``wiresocket`` layer, not from
sibling files in its folder.

One loaded module stands for one warm Lambda container: module-level state (``functools.cache`` wiring,
boto3 clients) is shared between invocations, and invocations of one function run one at a time, because a
Lambda container never runs two at once and handler code may rely on that.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Final

HANDLER_FILE: Final = "handler.py"
HANDLER_ATTRIBUTE: Final = "handler"
"""The entry point in every handler file; the CDK app uses ``handler.handler`` likewise."""

MODULE_PREFIX: Final = "wiresocket_fn_"
LOCAL_ACCOUNT_ID: Final = "000000000000"
DEFAULT_TIMEOUT_SECONDS: Final = 30
DEFAULT_MEMORY_MB: Final = 128

_FUNCTION_NAME = re.compile(r"[a-z][a-z0-9_]*")

LambdaHandler = Callable[[dict[str, Any], Any], Any]
"""A Lambda handler: ``(event, context) -> result``."""


class HandlerLoadError(RuntimeError):
    """A function's handler file is missing or does not define a callable entry point."""


@dataclass
class LocalLambdaContext:
    """The Lambda context object: the attributes of the Python runtime's context that powertools reads."""

    function_name: str
    region: str = "eu-west-1"
    memory_limit_in_mb: int = DEFAULT_MEMORY_MB
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    identity: object | None = None
    client_context: object | None = None
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    @property
    def invoked_function_arn(self) -> str:
        """The ARN the function was invoked with (the local account id)."""
        return f"arn:aws:lambda:{self.region}:{LOCAL_ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        """Where Lambda would send this function's logs."""
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        """A log stream name in Lambda's format (date/[version]id)."""
        return f"{time.strftime('%Y/%m/%d')}/[{self.function_version}]local"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before Lambda would time the invocation out (never negative)."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def default_functions_dir() -> Path:
    """The repository's ``functions/`` folder, found next to the ``layers/`` folder this file lives in."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "functions").is_dir() and (parent / "layers").is_dir():
            return parent / "functions"
    return Path.cwd() / "functions"


class LocalFunctions:
    """Loads each function's handler once (cached) and invokes it with a fresh Lambda context."""

    def __init__(
        self,
        functions_dir: Path | None = None,
        *,
        region: str = "eu-west-1",
        handler_attribute: str = HANDLER_ATTRIBUTE,
    ) -> None:
        self._functions_dir = functions_dir if functions_dir is not None else default_functions_dir()
        self._region = region
        self._handler_attribute = handler_attribute
        self._handlers: dict[str, LambdaHandler] = {}
        self._load_lock = threading.Lock()
        self._invoke_locks: dict[str, threading.Lock] = {}

    def module_name(self, function: str) -> str:
        """The ``sys.modules`` name a function's handler is loaded under."""
        return f"{MODULE_PREFIX}{function}"

    def load(self, function: str) -> LambdaHandler:
        """The handler of ``function`` (``functions/<function>/handler.py``), loaded on first use."""
        with self._load_lock:
            cached = self._handlers.get(function)
            if cached is not None:
                return cached
            handler = self._load_uncached(function)
            self._handlers[function] = handler
            self._invoke_locks[function] = threading.Lock()
            return handler

    def _load_uncached(self, function: str) -> LambdaHandler:
        if not _FUNCTION_NAME.fullmatch(function):
            raise HandlerLoadError(f"invalid function name {function!r}")
        path = self._functions_dir / function / HANDLER_FILE
        if not path.is_file():
            raise HandlerLoadError(f"no handler file at {path}")
        module_name = self.module_name(function)
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise HandlerLoadError(f"cannot load {path}")
        module: ModuleType = importlib.util.module_from_spec(spec)
        # Registered before executing, like a normal import, so dataclasses and pickling inside the
        # handler module can find it; removed again if its import fails (a Lambda init error).
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        handler = getattr(module, self._handler_attribute, None)
        if not callable(handler):
            sys.modules.pop(module_name, None)
            raise HandlerLoadError(f"{path} defines no callable {self._handler_attribute!r}")
        return handler  # type: ignore[no-any-return]

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """Invoke ``function`` with ``event`` and return its result as Lambda would hand it on.

        The result goes through JSON like Lambda's response marshalling, so a handler that returns something
        that is not JSON fails here as it would in AWS (``TypeError``/``ValueError``).
        """
        handler = self.load(function)
        context = LocalLambdaContext(function_name=function, region=self._region)
        with self._invoke_locks[function]:
            result = handler(event, context)
        return json.loads(json.dumps(result))
