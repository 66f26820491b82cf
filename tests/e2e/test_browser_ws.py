"""A real browser opens the data-plane WebSocket (issue 5, SPEC §8): headless Chromium (Debian's
``chromium-headless-shell``) loads a page, and the page runs ``new WebSocket(url, ["access_token", token])``
against the local stack's API Gateway emulator. The browser sets ``Origin`` itself (a page cannot forge it),
so this is the Origin binding as users meet it.

The demo app allows ``localhost:5173`` and ``127.0.0.1:5173`` (local.json). The same page is served on
``localhost:5173`` (allowed) and on ``localhost:5199`` (not allowed). Both ports are fixed on purpose: a busy
port fails the test rather than skipping it. The token comes from ``POST /connect/token`` (client credentials,
done by the test: a browser must never hold a client secret) and only the access token is handed to the page,
through ``page.evaluate`` — it never appears in a URL or in the served HTML.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.e2e.browser import chromium, serve_page
from tests.e2e.conftest import RunningStack
from tests.e2e.test_ws_connect_e2e import registry_items, token, wait_until

PAGE_HOST = "127.0.0.1"  # the server binds here; the browser loads it as http://localhost:<port>/
ALLOWED_PORT = 5173
FOREIGN_PORT = 5199
EVENT_TIMEOUT_MS = 15_000

PAGE = """<!doctype html>
<html>
<head><meta charset="utf-8"><title>WireSocket browser e2e</title></head>
<body>
<div id="state">idle</div>
<script>
  window.events = [];
  window.protocol = null;
  window.closeCode = null;
  window.openSocket = (wsUrl, accessToken) => {
    const ws = new WebSocket(wsUrl + "/?doc=demo", ["access_token", accessToken]);
    window.socket = ws;
    const state = document.getElementById("state");
    ws.onopen = () => { window.events.push("open"); window.protocol = ws.protocol; state.textContent = "open"; };
    ws.onerror = () => { window.events.push("error"); };
    ws.onclose = (e) => { window.events.push("close"); window.closeCode = e.code; state.textContent = "closed"; };
  };
</script>
</body>
</html>
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    with chromium() as running:
        yield running


@contextlib.contextmanager
def page_on(browser: BrowserContext, port: int) -> Iterator[Page]:
    """A fresh page loaded from ``http://localhost:{port}/`` (closed, and the server stopped, afterwards)."""
    with serve_page(PAGE, PAGE_HOST, port):
        page = browser.new_page()
        try:
            page.goto(f"http://localhost:{port}/", wait_until="load", timeout=EVENT_TIMEOUT_MS)
            yield page
        finally:
            page.close()


def open_socket(page: Page, stack: RunningStack, access_token: str) -> None:
    page.evaluate("([url, t]) => window.openSocket(url, t)", [stack.state["websocket_url"], access_token])


def wait_for_state(page: Page, state: str) -> None:
    page.wait_for_function(
        "s => document.getElementById('state').textContent === s", arg=state, timeout=EVENT_TIMEOUT_MS
    )


def outcome(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(
        "() => ({events: window.events, protocol: window.protocol, closeCode: window.closeCode})"
    )
    return result


def demo_connections(stack: RunningStack) -> int:
    return sum(1 for item in registry_items(stack) if item["document"]["S"] == "demo")


def test_a_page_from_a_foreign_origin_is_refused_at_the_handshake(
    local_stack: RunningStack, browser: BrowserContext
) -> None:
    # Given a genuine token of the demo app, handed to a page served from localhost:5199 (not an allowed domain)
    access_token = token(local_stack)
    before = demo_connections(local_stack)
    with page_on(browser, FOREIGN_PORT) as page:
        # When the page opens the socket (the browser sends Origin: http://localhost:5199)
        open_socket(page, local_stack, access_token)
        wait_for_state(page, "closed")
        # Then the handshake is refused: the socket never opens, the page sees an error and an abnormal close
        result = outcome(page)
        assert "open" not in result["events"]
        assert result["events"] == ["error", "close"]
        assert result["closeCode"] == 1006
        assert result["protocol"] is None
    # And nothing was registered
    assert demo_connections(local_stack) == before


def test_a_page_from_an_allowed_origin_connects_with_the_token_subprotocol(
    local_stack: RunningStack, browser: BrowserContext
) -> None:
    # Given a genuine token handed to a page served from localhost:5173 (an allowed domain of the demo app)
    access_token = token(local_stack)
    with page_on(browser, ALLOWED_PORT) as page:
        # When the page opens the socket
        open_socket(page, local_stack, access_token)
        wait_for_state(page, "open")
        # Then it is open, with "access_token" selected as the subprotocol, and registered
        result = outcome(page)
        assert result["events"] == ["open"]
        assert result["protocol"] == "access_token"
        assert wait_until(lambda: demo_connections(local_stack) >= 1)
        # And when the page closes it, the close is clean and $disconnect removes the registration
        page.evaluate("() => window.socket.close(1000)")
        wait_for_state(page, "closed")
        assert outcome(page)["closeCode"] == 1000
    assert wait_until(lambda: demo_connections(local_stack) == 0)
