"""The WebSocket handshake end to end (issue 5): a real ``websockets`` client, a token from ``/connect/token``
and the local API Gateway WebSocket emulator running the real ``ws_connect`` authorizer and ``$connect``.

The demo app is licensed in ``aws-eu-west-1`` with allowed domains ``localhost:5173`` and ``127.0.0.1:5173``.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import boto3
import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin, Subprotocol

from tests.e2e.conftest import RunningStack
from wiresocket import names

ALLOWED_ORIGIN = Origin("http://localhost:5173")


def token(stack: RunningStack) -> str:
    demo = stack.state["demo"]
    response = requests.post(
        f"{stack.control_plane_url}/connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": demo["client_id"],
            "client_secret": demo["client_secret"],
            "scope": "WireSocket.API",
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def registry_items(stack: RunningStack) -> list[dict[str, Any]]:
    """The connections table of the demo app's license region (eu-west-1) in the stack's moto."""
    aws = stack.state["aws"]
    client = boto3.client(
        "dynamodb",
        region_name=names.aws_region_of("aws-eu-west-1"),
        endpoint_url=aws["endpoint_url"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # moto's fake credentials
    )
    items: list[dict[str, Any]] = client.scan(TableName=names.CONNECTIONS_TABLE.default_name)["Items"]
    return items


def wait_until(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def url(stack: RunningStack, query: str = "doc=demo") -> str:
    return f"{stack.state['websocket_url']}/?{query}"


@pytest.mark.parametrize(
    ("origin", "status"),
    [("https://evil.example", 403), (None, 403), ("http://localhost:5173.evil.example", 403), ("null", 403)],
)
def test_a_stolen_token_from_another_or_no_origin_is_refused_at_the_handshake(
    local_stack: RunningStack, origin: str | None, status: int
) -> None:
    # Given a genuine token of the demo app
    jwt = token(local_stack)
    before = len(registry_items(local_stack))
    # When a page from a foreign origin (or a script with none) opens the socket with it
    with pytest.raises(InvalidStatus) as refused:
        connect(
            url(local_stack),
            origin=Origin(origin) if origin is not None else None,
            subprotocols=[Subprotocol("access_token"), Subprotocol(jwt)],
            open_timeout=10,
        )
    # Then the handshake fails with 403 and nothing is registered
    assert refused.value.response.status_code == status
    assert len(registry_items(local_stack)) == before


def test_no_token_or_a_forged_one_is_401(local_stack: RunningStack) -> None:
    for query in ("doc=demo", "doc=demo&token=eyJhbGciOiJub25lIn0.e30."):
        with pytest.raises(InvalidStatus) as refused:
            connect(url(local_stack, query), origin=ALLOWED_ORIGIN, open_timeout=10)
        assert refused.value.response.status_code == 401


def test_an_allowed_origin_connects_with_the_token_as_subprotocol_and_is_registered(
    local_stack: RunningStack,
) -> None:
    # Given a genuine token and a page on the app's allowed origin
    jwt = token(local_stack)
    # When it opens ws://.../?doc=demo offering the token as a subprotocol
    with connect(
        url(local_stack),
        origin=ALLOWED_ORIGIN,
        subprotocols=[Subprotocol("access_token"), Subprotocol(jwt)],
        open_timeout=10,
    ) as ws:
        # Then the handshake selects "access_token" and the connection is in eu-west-1's registry
        assert ws.subprotocol == "access_token"
        assert wait_until(lambda: any(i["document"]["S"] == "demo" for i in registry_items(local_stack)))
        [item] = [i for i in registry_items(local_stack) if i["document"]["S"] == "demo"]
        assert item["tenantId"]["S"] == local_stack.state["demo"]["tenant_id"]
        assert item["appId"]["S"] == local_stack.state["demo"]["app_id"]
        assert item["licenseRegion"]["S"] == "aws-eu-west-1"
    # And closing it removes it ($disconnect)
    assert wait_until(lambda: not any(i["document"]["S"] == "demo" for i in registry_items(local_stack)))


def test_a_query_token_and_the_path_form_connect_without_a_subprotocol(local_stack: RunningStack) -> None:
    jwt = token(local_stack)
    with connect(url(local_stack, f"doc=query-doc&token={jwt}"), origin=ALLOWED_ORIGIN, open_timeout=10) as ws:
        assert ws.subprotocol is None
    with connect(
        f"{local_stack.state['websocket_url']}/path-doc",
        origin=Origin("http://127.0.0.1:5173"),
        additional_headers={"Authorization": f"Bearer {jwt}"},
        open_timeout=10,
    ) as ws:
        assert ws.subprotocol is None


def test_a_bad_document_name_never_softens_the_token_or_origin_checks(local_stack: RunningStack) -> None:
    jwt = token(local_stack)
    # Given ?doc=no.dots / When the token is forged / Then 401 at the handshake
    with pytest.raises(InvalidStatus) as refused:
        connect(url(local_stack, "doc=no.dots&token=eyJhbGciOiJub25lIn0.e30."), origin=ALLOWED_ORIGIN, open_timeout=10)
    assert refused.value.response.status_code == 401
    # When a genuine token comes from a foreign origin / Then 403 at the handshake
    with pytest.raises(InvalidStatus) as refused:
        connect(url(local_stack, f"doc=no.dots&token={jwt}"), origin=Origin("https://evil.example"), open_timeout=10)
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("query", ["doc=no.dots", "doc=bad%20name", "doc=a&doc=b", ""])
def test_an_invalid_document_name_connects_and_its_first_frame_gets_4007_then_close(
    local_stack: RunningStack, query: str
) -> None:
    # Given a genuine token from the allowed origin, and a missing, invalid or repeated document name
    jwt = token(local_stack)
    before = {i["pk"]["S"] for i in registry_items(local_stack)}
    # When it opens the socket / Then the upgrade succeeds (a frame cannot be sent during $connect)
    with connect(
        url(local_stack, query),
        origin=ALLOWED_ORIGIN,
        subprotocols=[Subprotocol("access_token"), Subprotocol(jwt)],
        open_timeout=10,
    ) as ws:
        assert ws.subprotocol == "access_token"
        # And it is registered as refused with 4007, as a member of no document
        new = [i for i in registry_items(local_stack) if i["pk"]["S"] not in before]
        assert [(i["refusedCode"]["N"], "counted" in i) for i in new] == [("4007", False)]
        # When it sends its first frame (sync step 1, as y-websocket does on open)
        ws.send(base64.b64encode(b"\x00\x00\x01\x00").decode("ascii"))
        # Then the answer is the error frame 4007 "Invalid Name", and the connection is closed
        frame = ws.recv(timeout=10)
        assert isinstance(frame, str)
        assert json.loads(frame) == {"type": "error", "code": 4007, "reason": "Invalid Name"}
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    # And its registry record is removed ($disconnect)
    assert wait_until(lambda: {i["pk"]["S"] for i in registry_items(local_stack)} <= before)
