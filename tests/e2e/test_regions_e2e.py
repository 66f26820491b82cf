"""Region pinning end to end (issue 6): ``wiresocket local --second-ws-port`` runs a second WebSocket region.
A client on region A holds a document; a client through region B gets the error frame 4009
``REDIRECT:<url of A>`` and is closed; following the URL works; once A's clients left and the (shortened) grace
period passed, B pins the document and it starts empty."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pycrdt
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from tests.e2e.conftest import RunningStack, launch, wait_for_state
from tests.e2e.test_sync_e2e import YClient, insert_at_end, pump_until
from tests.e2e.test_ws_connect_e2e import ALLOWED_ORIGIN, token

SECOND_REGION = "us-east-1"
GRACE_SECONDS = 1
CLOSE_SECONDS = 10.0


@pytest.fixture(scope="module")
def two_regions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A private stack with two WebSocket regions and a 1 s grace period."""
    base: Path = tmp_path_factory.mktemp("two-regions")
    state_dir, log_dir = base / "state", base / "logs"
    process = launch(
        state_dir,
        log_dir,
        "--second-ws-port",
        "0",  # an ephemeral port, announced in local.json
        "--second-ws-region",
        SECOND_REGION,
        "--pin-grace",
        str(GRACE_SECONDS),
    )
    stack = RunningStack(process, wait_for_state(process, state_dir, log_dir), state_dir, log_dir)
    yield stack
    assert stack.stop(signal.SIGTERM) == 0, stack.output()


def region_url(stack: RunningStack, region: str) -> str:
    urls: dict[str, str] = stack.state["websocket_urls"]
    return urls[region]


def first_region(stack: RunningStack) -> str:
    return str(next(r for r in stack.state["websocket_urls"] if r != SECOND_REGION))


class Client(YClient):
    """A y-websocket client on an explicit URL."""

    def __init__(self, exits: ExitStack, full_url: str, jwt: str) -> None:
        self.ws = exits.enter_context(
            connect(
                full_url,
                origin=ALLOWED_ORIGIN,
                subprotocols=[Subprotocol("access_token"), Subprotocol(jwt)],
                open_timeout=10,
            )
        )
        self.doc = pycrdt.Doc()
        self.text = self.doc.get("text", type=pycrdt.Text)
        self.awareness = pycrdt.Awareness(self.doc)
        self.errors: list[dict[str, Any]] = []
        self.sizes: list[int] = []
        self.send(pycrdt.create_sync_message(self.doc))


def refused_with(full_url: str, jwt: str) -> tuple[dict[str, Any], int | None]:
    """Connect, send sync step 1, and return the error frame and the close code (fails if none comes)."""
    with ExitStack() as exits:
        client = Client(exits, full_url, jwt)
        frame = client.ws.recv(timeout=CLOSE_SECONDS)
        assert isinstance(frame, str) and frame.startswith("{"), frame
        with pytest.raises(ConnectionClosed):
            client.ws.recv(timeout=CLOSE_SECONDS)
        return json.loads(frame), client.ws.close_code


def test_second_region_redirects_to_the_pinning_region_until_the_grace_period_after_release(
    two_regions: RunningStack,
) -> None:
    a, b = first_region(two_regions), SECOND_REGION
    url_a, url_b = region_url(two_regions, a), region_url(two_regions, b)
    assert url_a != url_b
    document = f"e2e-pin-{uuid.uuid4().hex[:8]}"
    jwt = token(two_regions)
    with ExitStack() as exits:
        # Given a client on region A holding the document with some text
        holder = Client(exits, f"{url_a}/?doc={document}", jwt)
        holder.edit(insert_at_end("pinned in A"))
        assert pump_until([holder], lambda: True)
        # When a client connects through region B
        error, close_code = refused_with(f"{url_b}/?doc={document}", jwt)
        # Then it gets the error frame 4009 REDIRECT:<A's URL for the document> and is closed
        assert error["type"] == "error" and error["code"] == 4009
        assert error["reason"] == f"REDIRECT:{url_a}/?doc={document}"
        assert close_code is not None
        # When it follows the redirect
        follower = Client(exits, error["reason"].removeprefix("REDIRECT:"), jwt)
        # Then it syncs the document's state from A
        assert pump_until([follower], lambda: str(follower.text) == "pinned in A")
        assert holder.errors == [] and follower.errors == []
    # When A's clients have left and the grace period has passed, B can pin it (and it starts empty)
    deadline = time.monotonic() + CLOSE_SECONDS
    with ExitStack() as holding:
        while True:
            attempt = ExitStack()
            late = Client(attempt, f"{url_b}/?doc={document}", jwt)
            try:
                pump_until([late], lambda: True)
            except ConnectionClosed:  # refused: the error frame came first, then the close
                attempt.close()
                assert [e["code"] for e in late.errors] == [4009]
            else:
                holding.push(attempt)  # B now holds the document: keep it connected for the last check
                assert late.errors == []
                assert str(late.text) == ""
                break
            assert time.monotonic() < deadline, "region B never got the document after the grace period"
            time.sleep(GRACE_SECONDS / 2)
        # And now, while B's client is connected (no grace period can run out under a slow machine), A is
        # redirected to B
        error, _ = refused_with(f"{url_a}/?doc={document}", jwt)
        assert error["code"] == 4009
        assert error["reason"] == f"REDIRECT:{url_b}/?doc={document}"
