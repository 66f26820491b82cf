"""The ``ws_message`` (``$default``) function through its real handler on moto: y-websocket sync between
connections registered by the real ``ws_connect``, document state and usage counters only in the app's
license region (every region scanned), integrity and malformed frames. The ``@connections`` API is a recording
fake here (moto's concatenates frames and never answers 410); the e2e test uses the emulator's real one."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import boto3
import pycrdt
import pytest

from tests.fakes.oauth_world import OAuthWorld
from tests.integration import rest
from tests.integration.conftest import REGION, Aws, moto_world
from tests.integration.test_ws_connect import (
    API_ID,
    DOMAIN,
    MANAGEMENT,
    STAGE,
    US_ORIGIN,
    authorizer_event,
    integration_event,
)
from wiresocket import names
from wiresocket.adapters import apigw_post
from wiresocket.domain.apps import App
from wiresocket.domain.audit import SYSTEM_ACTOR
from wiresocket.domain.ratelimit import WS_CONNECT_IP
from wiresocket.domain.yprotocol import SyncType, sync_message
from wiresocket.local.resources import create_regional_resources

US = "us-east-1"


@dataclass
class RecordingPoster:
    """Stands in for ``ManagementApiPoster``: frames per connection, closes, and connections gone (410)."""

    frames: dict[str, list[str]] = field(default_factory=dict)
    closed: list[str] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    endpoints: set[tuple[str, str]] = field(default_factory=set)

    def post(self, endpoint: str, connection_id: str, region: str, data: str) -> bool:
        self.endpoints.add((endpoint, region))
        if connection_id in self.gone:
            return False
        self.frames.setdefault(connection_id, []).append(data)
        return True

    def close(self, endpoint: str, connection_id: str, region: str) -> bool:
        self.closed.append(connection_id)
        return connection_id not in self.gone


@dataclass
class Plane:
    aws: Aws
    world: OAuthWorld
    us_app: App
    us_secret: str
    poster: RecordingPoster
    policy: dict[str, Any] = field(default_factory=dict)

    def connect(self, connection_id: str) -> dict[str, Any]:
        if not self.policy:
            token = str(self.world.client_credentials(app=self.us_app, secret=self.us_secret).body["access_token"])
            self.policy = rest.invoke("ws_connect", authorizer_event(token, US_ORIGIN))
        assert rest.invoke("ws_connect", integration_event("CONNECT", connection_id, self.policy))["statusCode"] == 200
        return self.policy

    def send(self, connection_id: str, message: bytes | str) -> dict[str, Any]:
        body = message if isinstance(message, str) else base64.b64encode(message).decode("ascii")
        event = integration_event("CONNECT", connection_id, self.policy)
        event["requestContext"].update(routeKey="$default", eventType="MESSAGE", messageId="m1")
        event["body"] = body
        return rest.invoke("ws_message", event)

    def take(self, connection_id: str) -> list[bytes | dict[str, Any]]:
        import json

        out: list[bytes | dict[str, Any]] = []
        for frame in self.poster.frames.pop(connection_id, []):
            out.append(json.loads(frame) if frame.startswith("{") else base64.b64decode(frame, validate=True))
        return out

    def items(self, table: str) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for license_region in names.LICENSE_REGIONS:
            region = names.aws_region_of(license_region)
            items = boto3.client("dynamodb", region_name=region).scan(TableName=table, ConsistentRead=True)["Items"]
            if items:
                found[region] = items
        return found


@pytest.fixture
def plane(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Plane:
    create_regional_resources(lambda region: boto3.client("dynamodb", region_name=region))
    monkeypatch.setenv(names.ENV_ISSUER_BASE, "https://auth.example.test")
    monkeypatch.setenv(names.ENV_WS_MANAGEMENT_ENDPOINT, MANAGEMENT)
    monkeypatch.setenv(names.ENV_DATA_REGION, REGION)
    monkeypatch.setenv(names.ENV_STATE_CACHE_SECONDS, "0")
    monkeypatch.setenv(names.ENV_DOCUMENT_COMPACT_AFTER, "3")
    poster = RecordingPoster()
    monkeypatch.setattr(apigw_post, "ManagementApiPoster", lambda: poster)
    world = moto_world(aws)
    us_app, us_secret = world.entries.create_app(
        world.demo_tenant, "US App", "aws-us-east-1", ["app.example.com"], plan_id="standard", actor=SYSTEM_ACTOR
    )
    return Plane(aws, world, us_app, us_secret, poster)


def text_of(update: bytes) -> str:
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    doc.apply_update(update)
    return str(doc.get("text", type=pycrdt.Text))


def test_a_message_without_authorizer_context_is_refused_with_4003_and_closed(plane: Plane) -> None:
    # Given a $default event without the authorizer's context (a route without the authorizer, or tampering)
    event = integration_event("CONNECT", "x=", {"principalId": "x"})
    event["requestContext"].update(routeKey="$default", eventType="MESSAGE")
    event["body"] = base64.b64encode(b"\x00\x00\x00").decode()
    # When it reaches the handler
    response = rest.invoke("ws_message", event)
    # Then it is refused, the connection gets 4003 and is closed, and nothing is stored anywhere
    assert response["statusCode"] == 403
    assert [f["code"] for f in plane.take("x=") if isinstance(f, dict)] == [4003]
    assert plane.poster.closed == ["x="]
    assert plane.items(names.DOCUMENTS_TABLE.default_name) == {}


def test_a_revoked_key_gets_4002_and_the_connection_is_closed(plane: Plane) -> None:
    # Given a registered connection whose tenant's keys are then revoked (termination missed it)
    plane.connect("a=")
    plane.world.vault.revoke_all(plane.world.demo_tenant, SYSTEM_ACTOR)
    # When it sends an update
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    doc.get("text", type=pycrdt.Text).insert(0, "late")
    plane.send("a=", pycrdt.create_update_message(doc.get_update()))
    # Then it gets 4002 and is closed, and nothing was stored
    assert [f["code"] for f in plane.take("a=") if isinstance(f, dict)] == [4002]
    assert plane.poster.closed == ["a="]
    assert plane.items(names.DOCUMENTS_TABLE.default_name) == {}


def test_sync_through_the_handler_stores_state_only_in_the_license_region(plane: Plane) -> None:
    # Given two connections of an app licensed in us-east-1, on a WebSocket API in eu-west-1
    plane.connect("a=")
    plane.connect("b=")
    a: pycrdt.Doc[Any] = pycrdt.Doc()
    a_text = a.get("text", type=pycrdt.Text)
    # When a malformed frame arrives first
    assert plane.send("a=", "not base64!")["statusCode"] == 200
    assert [f["code"] for f in plane.take("a=") if isinstance(f, dict)] == [4000]
    # And a edits five times (compaction after 3)
    for word in ("one ", "two ", "three ", "four ", "five"):
        before = a.get_state()
        a_text.insert(len(a_text), word)
        plane.send("a=", pycrdt.create_update_message(a.get_update(before)))
    # Then b received every update, in order
    b: pycrdt.Doc[Any] = pycrdt.Doc()
    for frame in plane.take("b="):
        assert isinstance(frame, bytes) and frame[:2] == b"\x00\x02"
        b.apply_update(pycrdt.read_message(frame[2:]))
    assert str(b.get("text", type=pycrdt.Text)) == "one two three four five"
    assert plane.take("a=") == []  # the sender never gets its own update back

    # When a late joiner sends sync step 1
    plane.connect("c=")
    plane.send("c=", pycrdt.create_sync_message(pycrdt.Doc()))
    step2, step1 = plane.take("c=")
    # Then it receives the whole state, and the server's state vector
    assert isinstance(step2, bytes) and step2[:2] == bytes([0, SyncType.STEP2])
    assert text_of(pycrdt.read_message(step2[2:])) == "one two three four five"
    assert step1 == sync_message(SyncType.STEP1, a.get_state())

    # And the document (compacted) and the usage counter exist only in us-east-1
    documents = plane.items(names.DOCUMENTS_TABLE.default_name)
    assert list(documents) == [US]
    sort_keys = sorted(item["sk"]["S"] for item in documents[US])
    assert "snapshot" in sort_keys and len(sort_keys) <= 4
    # (keyed {tenant}#{app}#{document}#{pin session}: docs/websocket.md "Region pinning")
    assert all(item["pk"]["S"].split("#")[2] == "notes" for item in documents[US])
    usage = plane.items(names.USAGE_TABLE.default_name)
    # (this WebSocket API's own region holds only the $connect authorizer's per-IP handshake counters)
    assert {item["pk"]["S"].split("#")[0] for item in usage.pop(REGION, [])} <= {WS_CONNECT_IP}
    assert list(usage) == [US]
    # (the connect-time limit counters live there too: only the ops counter is about messages)
    [counter] = [item for item in usage[US] if item["pk"]["S"].startswith("ops#")]
    assert counter["count"] == {"N": "7"}  # every frame counts, malformed ones too
    assert counter["pk"]["S"].startswith(f"ops#{plane.world.demo_tenant}#{plane.us_app.app_id}#{REGION}#")
    # And every frame went through this API's @connections endpoint, signed for its region
    assert plane.poster.endpoints == {(MANAGEMENT, REGION)}


def test_gone_connections_are_pruned_from_the_license_region_registry(plane: Plane) -> None:
    # Given two connections, one of which vanished without $disconnect
    plane.connect("a=")
    plane.connect("b=")
    plane.poster.gone.add("b=")
    # When the other sends an update
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    doc.get("text", type=pycrdt.Text).insert(0, "x")
    plane.send("a=", pycrdt.create_update_message(doc.get_update()))
    # Then b's registry record is gone and a's remains
    registry = plane.items(names.CONNECTIONS_TABLE.default_name)
    assert [item["connectionId"]["S"] for item in registry[US]] == ["a="]


def test_the_event_endpoint_is_used_when_none_is_configured(plane: Plane, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no configured management endpoint
    monkeypatch.setenv(names.ENV_WS_MANAGEMENT_ENDPOINT, "")
    from tests.integration.conftest import reset_wiring

    reset_wiring()
    plane.connect("a=")
    # When a sync step 1 arrives
    plane.send("a=", pycrdt.create_sync_message(pycrdt.Doc()))
    # Then the answer goes to https://{domainName}/{stage}
    assert plane.poster.endpoints == {(f"https://{DOMAIN}/{STAGE}", REGION)}
    assert API_ID in DOMAIN


def test_admission_and_document_session_are_read_once_per_connection(
    plane: Plane, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wiresocket.adapters.dynamo_connections import DynamoConnectionRegistry

    calls = {"refusal": 0, "document_pin": 0}
    for name in calls:
        original = getattr(DynamoConnectionRegistry, name)

        def counted(self: Any, *args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoConnectionRegistry, name, counted)
    # Given an admitted connection that syncs and then edits three times
    plane.connect("a=")
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    text = doc.get("text", type=pycrdt.Text)
    plane.send("a=", pycrdt.create_sync_message(doc))
    for word in ("one", "two", "three"):
        before = doc.get_state()
        text.insert(len(text), word)
        plane.send("a=", pycrdt.create_update_message(doc.get_update(before)))
    # Then its refusal and its document's pin were each read once, not once per frame
    assert calls == {"refusal": 1, "document_pin": 1}
    # And the edits are stored
    plane.connect("b=")
    plane.send("b=", pycrdt.create_sync_message(pycrdt.Doc()))
    step2 = plane.take("b=")[0]
    assert isinstance(step2, bytes) and text_of(pycrdt.read_message(step2[2:])) == "onetwothree"
