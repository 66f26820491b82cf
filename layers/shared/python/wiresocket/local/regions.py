"""Two WebSocket regions in one local process (``wiresocket local --second-ws-port``).

In AWS each region's ``ws_connect``/``ws_message`` run in their own containers with their own environment
(``WIRESOCKET_DATA_REGION``, the ``@connections`` endpoint, the public URL). Locally both emulators invoke the
same loaded handlers, so each emulator invokes through a ``RegionalInvoke``: under one lock shared by all
regions, it sets its region's values of ``config.DATA_PLANE_REGIONAL_ENV`` in ``os.environ`` for the duration
of the call and restores them afterwards. The wiring caches settings per distinct value of those variables
(``settings.base.data_plane_region_key``), so each region gets its own settings and connection service while the
clients, tables and directory cache are shared. The lock serialises the data-plane invocations of the two
regions (fine for a local stack); no invocation waits on another one, so it cannot deadlock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from wiresocket.config import DATA_PLANE_REGIONAL_ENV

Invoke = Callable[[str, dict[str, Any]], object]


class RegionalInvoke:
    """``invoke(function, event)`` as seen from one WebSocket region: ``overrides`` applied under ``lock``."""

    def __init__(self, invoke: Invoke, overrides: Mapping[str, str], lock: threading.Lock) -> None:
        self._invoke = invoke
        self._lock = lock
        self._overrides: dict[str, str] = {}
        self.set_overrides(overrides)

    def set_overrides(self, overrides: Mapping[str, str]) -> None:
        """Set the region's values (known only once its emulator is bound); only regional variables."""
        unknown = set(overrides) - set(DATA_PLANE_REGIONAL_ENV)
        if unknown:
            raise ValueError(f"not a regional variable: {sorted(unknown)}")
        with self._lock:
            self._overrides = dict(overrides)

    def __call__(self, function: str, event: dict[str, Any]) -> object:
        with self._lock:
            saved = {name: os.environ.get(name) for name in self._overrides}
            os.environ.update(self._overrides)
            try:
                return self._invoke(function, event)
            finally:
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value


def regional_environment(settings: Mapping[str, str]) -> dict[str, str]:
    """The regional variables' values in ``settings`` (a region's complete override)."""
    return {name: settings.get(name, "") for name in DATA_PLANE_REGIONAL_ENV}
