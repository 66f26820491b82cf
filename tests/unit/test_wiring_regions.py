"""The data-plane wiring per WebSocket region: the local stack serves two regions from one process
(local/regions.py), so ``ws_http``'s settings and service follow ``config.data_plane_region_key`` as
``ws_connect``'s and ``ws_message``'s do."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from wiresocket import names, wiring
from wiresocket.local.regions import RegionalInvoke
from wiresocket.services.dataplane_http import DataPlaneHttp

REGION_A = {
    names.ENV_DATA_REGION: "eu-west-1",
    names.ENV_WS_PUBLIC_URL: "ws://127.0.0.1:18181",
    names.ENV_WS_MANAGEMENT_ENDPOINT: "http://127.0.0.1:18181",
}
REGION_B = {
    names.ENV_DATA_REGION: "us-east-1",
    names.ENV_WS_PUBLIC_URL: "ws://127.0.0.1:18182",
    names.ENV_WS_MANAGEMENT_ENDPOINT: "http://127.0.0.1:18182",
}


def _clear() -> None:
    wiring._ws_http_settings.cache_clear()
    wiring._dataplane_http.cache_clear()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(names.ENV_REGION, "eu-west-1")
    for name, value in REGION_A.items():
        monkeypatch.setenv(name, value)
    # No directory binding (a pynamodb model is process-global): the service only needs an object here.
    monkeypatch.setattr(wiring, "directory", lambda table_name, region: object())
    _clear()
    yield
    _clear()


def _through(overrides: dict[str, str]) -> tuple[Any, DataPlaneHttp]:
    """The settings and service ``ws_http`` gets when invoked through a region's ``RegionalInvoke``."""
    seen: list[tuple[Any, DataPlaneHttp]] = []

    def invoke(function: str, event: dict[str, Any]) -> object:
        seen.append((wiring.ws_http_settings(), wiring.dataplane_http()))
        return None

    RegionalInvoke(invoke, overrides, threading.Lock())("ws_http", {})
    return seen[0]


def test_the_second_region_gets_its_own_ws_http_settings_and_service() -> None:
    # Given two WebSocket regions served by one process, region A's values in the environment
    a_settings, a_service = _through(REGION_A)

    # When ws_http is invoked for region B
    b_settings, b_service = _through(REGION_B)

    # Then B's discovery and health probe use B's region and URL, not A's cached ones
    assert (a_settings.websocket_region, a_settings.ws_public_url) == ("eu-west-1", "ws://127.0.0.1:18181")
    assert (b_settings.websocket_region, b_settings.ws_public_url) == ("us-east-1", "ws://127.0.0.1:18182")
    assert b_service is not a_service
    assert (b_service.node.ws_region, b_service.node.ws_url) == ("us-east-1", "ws://127.0.0.1:18182")
    assert (a_service.node.ws_region, a_service.node.ws_url) == ("eu-west-1", "ws://127.0.0.1:18181")


def test_each_region_keeps_one_service_per_process() -> None:
    # Given region A's service, then region B's
    first, _ = _through(REGION_A)[1], _through(REGION_B)

    # When region A is invoked again
    again = _through(REGION_A)[1]

    # Then it is the same cached service (health cache, clients and limiter are built once per region)
    assert again is first
