"""The WebSocket emulator's data-plane HTTP paths (issue 6): a plain request to ``/discovery``, ``/usage``,
``/health`` or ``/`` is a REST proxy v1 event to ``ws_http`` carrying this gateway's region and URL; any other
plain request is still 426 and invokes nothing."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from wiresocket.local.handlers import HandlerLoadError
from wiresocket.local.ws_gateway import LocalWebSocketGateway


class Recorder:
    def __init__(self, result: object) -> None:
        self.result = result
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def invoke(self, function: str, event: dict[str, Any]) -> object:
        with self.lock:
            self.events.append((function, json.loads(json.dumps(event))))
        if function != "ws_http":
            raise HandlerLoadError(function)
        return self.result


@pytest.fixture
def gateway_and_recorder() -> Iterator[tuple[LocalWebSocketGateway, Recorder]]:
    recorder = Recorder({"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": '{"ok":1}'})
    gateway = LocalWebSocketGateway(recorder.invoke, port=0, region="us-east-1")
    gateway.start()
    yield gateway, recorder
    gateway.stop()


def request(gateway: LocalWebSocketGateway, method: str, target: str) -> tuple[int, bytes]:
    host, port = gateway.url.removeprefix("ws://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, target, headers={"Authorization": "Bearer x.y.z", "Origin": "http://a.test"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_other_paths_stay_426_and_invoke_nothing(gateway_and_recorder: tuple[LocalWebSocketGateway, Recorder]) -> None:
    gateway, recorder = gateway_and_recorder
    assert request(gateway, "GET", "/metrics")[0] == 426
    assert request(gateway, "GET", "/discovery/x")[0] == 426
    assert recorder.events == []


def test_a_malformed_handler_result_is_502(
    gateway_and_recorder: tuple[LocalWebSocketGateway, Recorder],
) -> None:
    gateway, recorder = gateway_and_recorder
    recorder.result = "not a proxy result"
    assert request(gateway, "GET", "/health")[0] == 502


@pytest.mark.parametrize("method", ["GET", "POST", "OPTIONS"])
@pytest.mark.parametrize("path", ["/discovery", "/usage", "/health", "/"])
def test_data_plane_paths_become_rest_events_for_ws_http(
    gateway_and_recorder: tuple[LocalWebSocketGateway, Recorder], path: str, method: str
) -> None:
    gateway, recorder = gateway_and_recorder
    # When a plain request reaches a data-plane path
    status, body = request(gateway, method, f"{path}?documentName=d-1")
    # Then ws_http answered it, and got a REST proxy v1 event with this gateway's region and URL
    assert (status, body) == (200, b'{"ok":1}')
    [(function, event)] = recorder.events
    assert function == "ws_http"
    assert event["httpMethod"] == method and event["path"] == path
    assert event["queryStringParameters"] == {"documentName": "d-1"}
    assert event["multiValueHeaders"]["Authorization"] == ["Bearer x.y.z"]
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert event["stageVariables"] == {"wsRegion": "us-east-1", "wsUrl": gateway.url}
