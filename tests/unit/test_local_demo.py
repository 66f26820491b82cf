"""The demo listener of the local stack (``local/demo.py``) in-process, on a free port, without a stack: the
failure answers a browser test cannot easily provoke (bundle not built, demo app not seeded, token endpoint
down) and that the credentials never show in a ``repr``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from wiresocket.local.demo import DemoCredentials, DemoGrant, DemoServer, demo_credentials

SECRET = "s3cret-demo-value"


def serve(dist: Path, credentials: DemoCredentials | None, control_plane_url: str) -> tuple[DemoServer, str]:
    server = DemoServer(host="127.0.0.1", port=0, dist_dir=dist)
    url = server.bind()
    server.serve(control_plane_url=control_plane_url, websocket_url="ws://127.0.0.1:1", credentials=credentials)
    return server, url.removesuffix("/demo")


@pytest.fixture
def closed_port_url() -> str:
    """An HTTP URL nothing listens on (the token endpoint is down)."""
    server = DemoServer(host="127.0.0.1", port=0)
    url = server.bind()
    server.stop()
    return url.removesuffix("/demo")


@pytest.fixture
def unbuilt(tmp_path: Path, closed_port_url: str) -> Iterator[str]:
    server, base = serve(tmp_path / "missing-dist", DemoCredentials("client", SECRET), closed_port_url)
    yield base
    server.stop()


def origin_of(base: str) -> str:
    return base.replace("127.0.0.1", "localhost")


def test_an_unbuilt_bundle_is_a_503_with_a_hint_not_a_crash(unbuilt: str) -> None:
    # Given a demo listener whose dist directory does not exist
    # When the page and the bundle are requested
    page = requests.get(f"{unbuilt}/demo", timeout=5)
    bundle = requests.get(f"{unbuilt}/demo/demo.js", timeout=5)
    # Then both are 503 and say how to build it
    assert (page.status_code, bundle.status_code) == (503, 503)
    assert "make demo-js" in page.text


def test_a_token_endpoint_that_does_not_answer_is_a_502_without_the_secret(unbuilt: str) -> None:
    # Given a broker whose token endpoint is down
    # When the page asks for a token from its own origin
    response = requests.post(f"{unbuilt}/demo/token", headers={"Origin": origin_of(unbuilt)}, timeout=30)
    # Then it is a 502 token_unavailable, not cacheable, with no secret in it
    assert response.status_code == 502
    assert response.json() == {"error": "token_unavailable"}
    assert response.headers["Cache-Control"] == "no-store"
    assert SECRET not in response.text


def test_an_unseeded_demo_app_is_a_503(tmp_path: Path, closed_port_url: str) -> None:
    # Given a broker without demo credentials (the seeder returned none)
    server, base = serve(tmp_path, None, closed_port_url)
    try:
        # When the page asks for a token
        response = requests.post(f"{base}/demo/token", headers={"Origin": origin_of(base)}, timeout=5)
    finally:
        server.stop()
    # Then it is a 503
    assert response.status_code == 503


@pytest.mark.parametrize(
    "section",
    [
        None,
        "x",
        {},
        {"client_id": "c"},
        {"client_id": "c", "client_secret": ""},
        {"client_id": 1, "client_secret": "s"},
    ],
)
def test_unusable_seeded_sections_give_no_credentials(section: object) -> None:
    assert demo_credentials(section) is None


def test_credentials_and_grants_never_show_their_secrets_in_repr() -> None:
    credentials = demo_credentials({"client_id": "c", "client_secret": SECRET})
    assert credentials == DemoCredentials("c", SECRET)
    assert SECRET not in repr(credentials)
    assert "tok.en.value" not in repr(DemoGrant("tok.en.value", 900))


def test_stop_releases_the_port_and_is_idempotent(tmp_path: Path, closed_port_url: str) -> None:
    server, base = serve(tmp_path, None, closed_port_url)
    server.stop()
    server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/demo", timeout=2)
