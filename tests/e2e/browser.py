"""Headless Chromium for the browser e2e tests: Debian's ``chromium-headless-shell`` driven by Playwright.

Playwright's own browser download (``playwright install``) is never used: the browser is the distribution's
package (``make browser`` installs it), launched by path with a throw-away profile and without anything that
talks to the network on its own. ``serve_page`` serves one HTML page on a chosen ``host:port``, so a test can
load the same page from an allowed origin and from a foreign one.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, sync_playwright

BROWSER_EXECUTABLE = "chromium-headless-shell"
BROWSER_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


CLIENT_JS_DIR = Path(__file__).resolve().parents[2] / "clients" / "js"
CLIENT_JS_SOURCES = ("package.json", "package-lock.json", "build.mjs", "src", "demo")
NPM_TIMEOUT_SECONDS = 300


def _newest_source_mtime() -> float:
    newest = 0.0
    for name in CLIENT_JS_SOURCES:
        path = CLIENT_JS_DIR / name
        files = [f for f in path.rglob("*") if f.is_file()] if path.is_dir() else [path]
        newest = max([newest, *(f.stat().st_mtime for f in files)])
    return newest


def ensure_demo_bundle() -> Path:
    """``clients/js/dist`` built from the current sources (``npm ci`` if needed, then ``npm run build`` when
    ``dist/demo.js`` is missing or older than a source), as ``make demo-js`` does; fails if npm is missing."""
    if shutil.which("npm") is None:
        pytest.fail("npm is required to build the demo bundle (clients/js)")
    dist = CLIENT_JS_DIR / "dist"
    bundle = dist / "demo.js"
    if bundle.is_file() and bundle.stat().st_mtime >= _newest_source_mtime():
        return dist
    if not (CLIENT_JS_DIR / "node_modules" / "y-websocket").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=CLIENT_JS_DIR, check=True, timeout=NPM_TIMEOUT_SECONDS
        )
    subprocess.run(["npm", "run", "build"], cwd=CLIENT_JS_DIR, check=True, timeout=NPM_TIMEOUT_SECONDS)
    return dist


def browser_executable() -> str:
    """The path of ``chromium-headless-shell``; fails the test (never skips) when it is not installed."""
    path = shutil.which(BROWSER_EXECUTABLE)
    if path is None:
        pytest.fail(f"{BROWSER_EXECUTABLE} is not on PATH: run `make browser` (Debian package chromium-headless-shell)")
    return path


@contextlib.contextmanager
def chromium() -> Iterator[BrowserContext]:
    """A headless Chromium on a fresh profile directory (``--user-data-dir``: Playwright takes it as the
    persistent context's ``user_data_dir``), closed and the profile removed afterwards."""
    executable = browser_executable()
    with tempfile.TemporaryDirectory(prefix="wiresocket-chromium-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=list(BROWSER_ARGS),
            timeout=30_000,
        )
        try:
            yield context
        finally:
            context.close()


class _PageHandler(BaseHTTPRequestHandler):
    server: _PageServer

    def do_GET(self) -> None:
        if self.path.partition("?")[0] not in ("/", "/index.html"):
            self.send_error(404)
            return
        body = self.server.html.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the test reports what matters
        return


class _PageServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], html: str) -> None:
        self.html = html
        super().__init__(address, _PageHandler)


@contextlib.contextmanager
def serve_page(html: str, host: str, port: int) -> Iterator[str]:
    """Serve ``html`` at ``http://{host}:{port}/`` until the block ends; a busy port fails loudly (OSError)."""
    try:
        server = _PageServer((host, port), html)
    except OSError as exc:
        pytest.fail(f"cannot serve the test page on {host}:{port} (the port is fixed on purpose): {exc}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{port}/"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
