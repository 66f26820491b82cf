"""Yjs document sync end to end (issue 6): three ``websockets`` clients speak y-websocket via pycrdt over base64
text frames through the running local stack (authorizer, ``$connect``, ``$default`` = ``ws_message``, the
emulator's ``@connections``), with tokens from ``/connect/token`` for the demo app, and converge."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import pycrdt
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.e2e.conftest import RunningStack
from tests.e2e.test_ws_connect_e2e import ALLOWED_ORIGIN, token, url

QUIET_SECONDS = 0.4
CONVERGE_SECONDS = 15.0


class YClient:
    """A y-websocket client over a pycrdt document: base64 text frames, one message per frame."""

    def __init__(self, exits: ExitStack, stack: RunningStack, document: str, jwt: str) -> None:
        self.ws: ClientConnection = exits.enter_context(
            connect(
                url(stack, f"doc={document}"),
                origin=ALLOWED_ORIGIN,
                subprotocols=[Subprotocol("access_token"), Subprotocol(jwt)],
                open_timeout=10,
            )
        )
        self.doc: pycrdt.Doc[Any] = pycrdt.Doc()
        self.text = self.doc.get("text", type=pycrdt.Text)
        self.awareness = pycrdt.Awareness(self.doc)
        self.errors: list[dict[str, Any]] = []
        self.sizes: list[int] = []
        self.send(pycrdt.create_sync_message(self.doc))  # what y-websocket sends on open

    def send(self, message: bytes) -> None:
        frame = base64.b64encode(message).decode("ascii")
        self.sizes.append(len(frame))
        self.ws.send(frame)

    def edit(self, change: Callable[[pycrdt.Text], None]) -> None:
        before = self.doc.get_state()
        change(self.text)
        self.send(pycrdt.create_update_message(self.doc.get_update(before)))

    def pump(self) -> bool:
        """Handle every frame that arrives within ``QUIET_SECONDS``; True if any did."""
        moved = False
        while True:
            try:
                frame = self.ws.recv(timeout=QUIET_SECONDS)
            except TimeoutError:
                return moved
            moved = True
            assert isinstance(frame, str)  # the gateway only ever sends text frames to us
            if frame.startswith("{"):
                self.errors.append(json.loads(frame))
                continue
            message = base64.b64decode(frame, validate=True)
            if message[0] == pycrdt.YMessageType.SYNC:
                reply = pycrdt.handle_sync_message(message[1:], self.doc)
                if reply is not None:
                    self.send(reply)
            else:
                self.awareness.apply_awareness_update(pycrdt.read_message(message[1:]), "remote")


def pump_until(clients: list[YClient], done: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + CONVERGE_SECONDS
    while time.monotonic() < deadline:
        moved = [c.pump() for c in clients]
        if done() and not any(moved):
            return True
    return done()


def insert_at_end(value: str) -> Callable[[pycrdt.Text], None]:
    def change(text: pycrdt.Text) -> None:
        text.insert(len(text), value)

    return change


def test_a_malformed_frame_gets_an_error_frame_and_the_connection_stays_usable(local_stack: RunningStack) -> None:
    # Given a connected client
    document = f"e2e-bad-{uuid.uuid4().hex[:8]}"
    with ExitStack() as exits:
        client = YClient(exits, local_stack, document, token(local_stack))
        client.pump()
        # When it sends text that is not base64
        client.ws.send("this is not base64")
        client.pump()
        # Then it gets the 4000 error frame and can still edit
        assert [e["code"] for e in client.errors] == [4000]
        client.edit(insert_at_end("fine"))
        client.pump()
        assert [e["code"] for e in client.errors] == [4000]


def test_three_clients_converge_and_a_late_joiner_gets_the_whole_state(local_stack: RunningStack) -> None:
    # Given three clients of the demo app on one fresh document
    document = f"e2e-{uuid.uuid4().hex[:8]}"
    jwt = token(local_stack)
    with ExitStack() as exits:
        clients = [YClient(exits, local_stack, document, jwt) for _ in range(3)]
        assert pump_until(clients, lambda: True)
        # When they edit concurrently
        for i, client in enumerate(clients):
            client.edit(insert_at_end(f"[{i}]"))
        clients[0].edit(insert_at_end(" done"))
        # And one announces its presence
        clients[1].awareness.set_local_state({"user": {"name": "Grace"}})
        clients[1].send(
            pycrdt.create_awareness_message(clients[1].awareness.encode_awareness_update([clients[1].doc.client_id]))
        )
        # Then all three converge on the same text containing every edit
        assert pump_until(clients, lambda: len({str(c.text) for c in clients}) == 1 and "[2]" in str(clients[0].text))
        text = str(clients[0].text)
        assert all(part in text for part in ("[0]", "[1]", "[2]", " done"))
        # And the others saw the presence
        grace = clients[1].doc.client_id
        assert clients[0].awareness.states[grace]["user"] == {"name": "Grace"}
        assert clients[2].awareness.states[grace]["user"] == {"name": "Grace"}
        assert all(c.errors == [] for c in clients)

        # When a fourth client joins late
        late = YClient(exits, local_stack, document, jwt)
        # Then its sync step 1 brings it the whole state
        assert pump_until([late], lambda: str(late.text) == text)

        # When the client that announced its presence goes away without saying goodbye (no awareness removal)
        others = [clients[0], clients[2], late]
        assert pump_until(others, lambda: True)
        assert grace in clients[2].awareness.states
        clients[1].ws.close()
        # Then the others see it leave right away ($disconnect announces the removal), not after the 30 s timeout
        assert pump_until(others, lambda: all(grace not in c.awareness.states for c in (clients[0], clients[2])))
        assert all(c.errors == [] for c in others)
