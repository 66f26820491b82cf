"""The demo page in real browsers (issue 6): headless Chromium loads ``http://localhost:5173/demo`` from the
local stack's demo listener; each page runs the stock ``y-websocket`` provider through the base64 wrapper of
``clients/js`` against the API Gateway emulator, with a token from the demo token broker. Two pages edit the
same document concurrently and converge; a third page joining late gets the whole state; presence (awareness)
flows between them. The broker itself is checked over plain HTTP: other origins cannot mint tokens, and it
hands out nothing but a short-lived access token.

The stack is private to this module because the demo listener's port is fixed: the demo app allows only
``localhost:5173`` and ``127.0.0.1:5173`` (a busy port fails the test rather than skipping it).
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import BrowserContext, Page

from tests.e2e.browser import CLIENT_JS_DIR, chromium, ensure_demo_bundle
from tests.e2e.conftest import RunningStack, launch, wait_for_state
from wiresocket.client.oauth import unverified_claims

DEMO_PORT = 5173
DEMO_ORIGIN = f"http://localhost:{DEMO_PORT}"
BROKER = f"http://127.0.0.1:{DEMO_PORT}/demo/token"
EVENT_TIMEOUT_MS = 20_000
BROKER_KEYS = {"access_token", "expires_in", "websocket_url", "document"}


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A private ``wiresocket local`` with the demo page on port 5173 (the bundle built first if needed)."""
    ensure_demo_bundle()
    base = tmp_path_factory.mktemp("demo-stack")
    state_dir, log_dir = base / "state", base / "logs"
    process = launch(state_dir, log_dir, "--demo-port", str(DEMO_PORT))
    stack = RunningStack(process, wait_for_state(process, state_dir, log_dir), state_dir, log_dir)
    yield stack
    assert stack.stop(signal.SIGTERM) == 0, stack.output()


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    with chromium() as running:
        yield running


def broker(origin: str | None, body: bytes = b"", content_type: str = "application/json") -> requests.Response:
    headers = {"Content-Type": content_type}
    if origin is not None:
        headers["Origin"] = origin
    return requests.post(BROKER, data=body, headers=headers, timeout=10)


def test_the_wrapper_unit_tests_pass_under_node() -> None:
    # Given the client module with its dependencies (built by ensure_demo_bundle)
    ensure_demo_bundle()
    # When its node unit tests run (a fake native socket: framing, error frames, close codes, the provider)
    result = subprocess.run(
        ["npm", "test"], check=False, cwd=CLIENT_JS_DIR, capture_output=True, text=True, timeout=120
    )
    # Then they pass
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout


# --- the token broker ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        None,
        "",
        "null",
        "http://localhost:5199",
        "http://localhost",
        "https://localhost:5173",
        "http://localhost:5173.evil.example",
        "http://evil.example",
        "http://LOCALHOST:5173 ",
        "http://localhost:5173/",
    ],
)
def test_the_broker_refuses_requests_from_any_other_origin(demo_stack: RunningStack, origin: str | None) -> None:
    # Given a request to the broker that does not come from the demo page's own origin
    # When it is sent
    response = broker(origin, b'{"document":"demo"}')
    # Then it is refused with 403 and no token
    assert response.status_code == 403
    assert response.json() == {"error": "forbidden_origin"}
    assert response.headers["Cache-Control"] == "no-store"


def test_the_broker_refuses_two_origin_headers(demo_stack: RunningStack) -> None:
    # Given a request carrying the demo origin twice
    connection = http.client.HTTPConnection("127.0.0.1", DEMO_PORT, timeout=10)
    try:
        connection.putrequest("POST", "/demo/token")
        connection.putheader("Origin", DEMO_ORIGIN)
        connection.putheader("Origin", DEMO_ORIGIN)
        connection.putheader("Content-Length", "0")
        connection.endheaders()
        # When it is sent
        response = connection.getresponse()
        # Then it is refused
        assert response.status == 403
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{", "application/json"),
        (b"[]", "application/json"),
        (b'{"document": 7}', "application/json"),
        (b'{"document": "../etc"}', "application/json"),
        (b'{"document": ""}', "application/json"),
        (json.dumps({"document": "d" * 256}).encode(), "application/json"),
        (b'{"document": "demo", "client_id": "x"}', "application/json"),
        (b'{"document": "demo"}', "text/plain"),
        (b"\xff\xfe", "application/json"),
        (json.dumps({"document": "x" * 2000}).encode(), "application/json"),
    ],
)
def test_the_broker_refuses_malformed_requests(demo_stack: RunningStack, body: bytes, content_type: str) -> None:
    # Given a request from the demo origin with a malformed body
    # When it is sent
    response = broker(DEMO_ORIGIN, body, content_type)
    # Then it is a 400, never a token
    assert response.status_code == 400
    assert "access_token" not in response.json()


def test_the_broker_answers_only_post(demo_stack: RunningStack) -> None:
    response = requests.get(BROKER, headers={"Origin": DEMO_ORIGIN}, timeout=10)
    assert response.status_code == 405


def test_the_broker_hands_out_only_an_access_token(demo_stack: RunningStack) -> None:
    # Given the demo page's origin (either allowed spelling)
    demo = demo_stack.state["demo"]
    for origin in (DEMO_ORIGIN, f"http://127.0.0.1:{DEMO_PORT}"):
        # When it asks for a token for a document
        response = broker(origin, b'{"document":"notes-1"}')
        # Then it gets exactly the access token, its lifetime, the WebSocket URL and the document; not cacheable
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        payload: dict[str, Any] = response.json()
        assert set(payload) == BROKER_KEYS
        assert payload["document"] == "notes-1"
        assert payload["websocket_url"] == demo_stack.state["websocket_url"]
        assert 0 < payload["expires_in"] <= 900
        # And the token is an app token of the demo app; the client secret appears nowhere
        claims = unverified_claims(payload["access_token"])
        assert (claims["sub"], claims["appId"]) == (demo["client_id"], demo["app_id"])
        assert demo["client_secret"] not in response.text
    # And without a body the document is "demo"
    assert broker(DEMO_ORIGIN).json()["document"] == "demo"


def test_the_demo_page_and_its_bundle_are_served(demo_stack: RunningStack) -> None:
    page = requests.get(f"{DEMO_ORIGIN}/demo", timeout=10)
    bundle = requests.get(f"{DEMO_ORIGIN}/demo/demo.js", timeout=10)
    assert (page.status_code, bundle.status_code) == (200, 200)
    assert page.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert bundle.headers["Content-Type"].startswith("text/javascript")
    assert requests.get(f"{DEMO_ORIGIN}/elsewhere", timeout=10).status_code == 404
    assert demo_stack.state["demo_url"] == f"{DEMO_ORIGIN}/demo"
    assert f"demo page        {DEMO_ORIGIN}/demo" in demo_stack.output()


# --- browsers --------------------------------------------------------------------------------------------


def open_demo(browser: BrowserContext, host: str, document: str, name: str) -> Page:
    """A demo page for ``document`` as user ``name``, loaded from ``http://{host}:5173`` and synced."""
    page = browser.new_page()
    page.goto(f"http://{host}:{DEMO_PORT}/demo?doc={document}&name={name}", timeout=EVENT_TIMEOUT_MS)
    page.wait_for_function(
        "() => document.getElementById('status').dataset.state === 'synced'", timeout=EVENT_TIMEOUT_MS
    )
    return page


def text_of(page: Page) -> str:
    text: str = page.evaluate("() => window.wiresocketDemo.ytext.toString()")
    return text


def wait_for_text(page: Page, predicate_js: str) -> None:
    page.wait_for_function(
        f"() => {{ const t = window.wiresocketDemo.ytext.toString(); return {predicate_js}; }}",
        timeout=EVENT_TIMEOUT_MS,
    )


def wait_for_users(page: Page, names: list[str]) -> None:
    page.wait_for_function(
        "names => { const shown = [...document.querySelectorAll('#users li')].map(li => li.textContent);"
        " return names.every(n => shown.includes(n)); }",
        arg=names,
        timeout=EVENT_TIMEOUT_MS,
    )


def test_two_pages_converge_a_late_page_gets_everything_and_presence_flows(
    demo_stack: RunningStack, browser: BrowserContext
) -> None:
    # Given two demo pages on a fresh document, one from each allowed origin, both synced
    document = f"e2e-{uuid.uuid4().hex[:12]}"
    alice = open_demo(browser, "localhost", document, "Alice")
    bob = open_demo(browser, "127.0.0.1", document, "Bob")
    try:
        # Then each sees the other's presence
        wait_for_users(alice, ["Alice", "Bob"])
        wait_for_users(bob, ["Alice", "Bob"])
        # When both type into their editors at the same time (real key events through the textarea binding)
        typed = ["hello from alice. ", "BOB WAS HERE ", "more alice."]
        alice.locator("#editor").press_sequentially(typed[0], delay=5)
        bob.locator("#editor").press_sequentially(typed[1], delay=5)
        alice.locator("#editor").press_sequentially(typed[2], delay=5)
        # Then both converge on the same text holding every typed character (concurrent keystrokes may
        # interleave: which order Yjs picks is not the point, that every page ends with the same text is)
        expected_length = sum(map(len, typed))
        for page in (alice, bob):
            wait_for_text(page, f"t.length === {expected_length}")
        converged = text_of(alice)
        assert text_of(bob) == converged
        assert sorted(converged) == sorted("".join(typed))
        assert alice.locator("#editor").input_value() == converged
        assert bob.locator("#editor").input_value() == converged
        # When a third page joins late
        carol = open_demo(browser, "localhost", document, "Carol")
        try:
            # Then it gets the whole current state at once, and sees (and is seen by) the others
            assert text_of(carol) == converged
            assert carol.locator("#editor").input_value() == converged
            wait_for_users(carol, ["Alice", "Bob", "Carol"])
            wait_for_users(alice, ["Alice", "Bob", "Carol"])
            # And its edits reach the others
            carol.locator("#editor").press_sequentially(" carol!", delay=5)
            for page in (alice, bob):
                wait_for_text(page, "t.endsWith(' carol!')")
            # When Carol leaves the page
            carol.goto("about:blank")
        finally:
            carol.close()
        # Then the others see her go at once (not only after the 30 s awareness timeout)
        alice.wait_for_function(
            "() => ![...document.querySelectorAll('#users li')].some(li => li.textContent === 'Carol')",
            timeout=EVENT_TIMEOUT_MS,
        )
    finally:
        alice.close()
        bob.close()


def test_a_server_error_frame_reaches_the_page_through_the_wrapper(
    demo_stack: RunningStack, browser: BrowserContext
) -> None:
    # Given a synced demo page
    page = open_demo(browser, "localhost", f"e2e-{uuid.uuid4().hex[:12]}", "Dora")
    try:
        # When its socket sends a message of an unknown type (9) through the wrapper, as base64
        page.evaluate("() => window.wiresocketDemo.provider.ws.send(new Uint8Array([9, 0]))")
        # Then the server's JSON error frame surfaces as lastError with code 4000 (not as a Yjs message)
        page.wait_for_function(
            "() => window.wiresocketDemo.provider.ws.lastError?.code === 4000", timeout=EVENT_TIMEOUT_MS
        )
        # And the frame was dropped, not the connection: later edits still sync (seen in the stored state by a
        # second page)
        page.locator("#editor").press_sequentially("still here", delay=5)
        assert page.evaluate("() => window.wiresocketDemo.provider.wsconnected") is True
        document = page.evaluate("() => window.wiresocketDemo.provider.roomname")
        other = open_demo(browser, "127.0.0.1", document, "Eve")
        try:
            wait_for_text(other, "t === 'still here'")
        finally:
            other.close()
    finally:
        page.close()
