"""The data-plane HTTP endpoints end to end (issue 6): plain HTTP to the local WebSocket emulator's port reaches
the real ``ws_http`` function — health, discovery with a real token from ``POST /connect/token``, and usage
counting a live WebSocket connection."""

from __future__ import annotations

import time
import uuid
from typing import Any

import requests
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from tests.e2e.conftest import RunningStack
from tests.e2e.test_ws_connect_e2e import ALLOWED_ORIGIN, token


def http_base(stack: RunningStack) -> str:
    return str(stack.state["websocket_url"]).replace("ws://", "http://", 1)


def usage(stack: RunningStack, jwt: str) -> dict[str, Any]:
    response = requests.get(f"{http_base(stack)}/usage", headers={"Authorization": f"Bearer {jwt}"}, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_health_discovery_and_usage_on_the_websocket_port(local_stack: RunningStack) -> None:
    base = http_base(local_stack)
    # Given the running stack, an unknown caller is refused and health needs no token
    assert requests.get(f"{base}/usage", timeout=10).status_code == 401
    health = requests.get(f"{base}/health", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "healthy"
    assert health.headers["Cache-Control"] == "no-store"
    # And a real token of the demo app
    jwt = token(local_stack)
    document = f"h3-{uuid.uuid4().hex[:12]}"
    # When a page on the allowed origin discovers a document nobody has opened
    found = requests.get(
        f"{base}/discovery",
        params={"documentName": document},
        headers={"Authorization": f"Bearer {jwt}", "Origin": ALLOWED_ORIGIN},
        timeout=10,
    )
    # Then it is new here, with this emulator's URL, readable by that origin
    assert found.status_code == 200, found.text
    assert found.json() == {
        "region": "eu-west-1",
        "url": f"{local_stack.state['websocket_url']}/?doc={document}",
        "isNew": True,
    }
    assert found.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    # (settled first: an earlier test's $disconnect may still be on its way; STRICT allows 12 usage calls/min)
    before, settled = -1, usage(local_stack, jwt)["usage"]["connections"]["current"]
    for _ in range(3):
        if before == settled:
            break
        time.sleep(0.5)
        before, settled = settled, usage(local_stack, jwt)["usage"]["connections"]["current"]
    # When a client connects to the URL discovery gave
    with connect(
        found.json()["url"],
        origin=ALLOWED_ORIGIN,
        subprotocols=[Subprotocol("access_token"), Subprotocol(jwt)],
        open_timeout=10,
    ):
        # Then usage counts the live connection, and the document is now pinned here (not new)
        counted = [usage(local_stack, jwt)["usage"]["connections"]["current"]]
        while counted[-1] != before + 1 and len(counted) < 5:
            time.sleep(0.5)
            counted.append(usage(local_stack, jwt)["usage"]["connections"]["current"])
        assert counted[-1] == before + 1, counted
        again = requests.get(f"{base}/discovery", params={"documentName": document, "token": jwt}, timeout=10)
        assert again.json() == {**found.json(), "isNew": False}
