"""The ``ws_connect`` function through its real handler on moto: authorizer policy shapes, ``$connect`` registers
in the app's license-region table only, ``$disconnect`` removes, a deny registers nothing, an invalid document
name is accepted as refused and answered with 4007 on its first frame (SPEC §8, §9)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest

from tests.fakes.oauth_world import ISSUER_BASE, OAuthWorld
from tests.integration import rest
from tests.integration.conftest import REGION, Aws, moto_world
from wiresocket import names, wiring
from wiresocket.adapters import apigw_post
from wiresocket.domain.apps import App, AppStatus
from wiresocket.domain.audit import SYSTEM_ACTOR
from wiresocket.domain.connections import INVALID_DOCUMENT
from wiresocket.domain.ratelimit import WS_CONNECT_IP
from wiresocket.local.resources import create_regional_resources
from wiresocket.local.ws_events import stringify_context_value
from wiresocket.ports import ReplaceApp

API_ID = "abcdef1234"
STAGE = "prod"
METHOD_ARN = f"arn:aws:execute-api:{REGION}:123456789012:{API_ID}/{STAGE}/$connect"
DOMAIN = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
MANAGEMENT = f"https://{DOMAIN}/{STAGE}"
US_ORIGIN = "https://app.example.com"


@dataclass
class Plane:
    aws: Aws
    world: OAuthWorld
    us_app: App
    us_secret: str

    def us_token(self) -> str:
        return str(self.world.client_credentials(app=self.us_app, secret=self.us_secret).body["access_token"])

    def scan_all_regions(self) -> dict[str, list[dict[str, Any]]]:
        """Every item of the connections table in each of the six license regions' AWS regions."""
        found: dict[str, list[dict[str, Any]]] = {}
        for license_region in names.LICENSE_REGIONS:
            region = names.aws_region_of(license_region)
            client = boto3.client("dynamodb", region_name=region)
            items = client.scan(TableName=names.CONNECTIONS_TABLE.default_name, ConsistentRead=True)["Items"]
            found[region] = items
        return found


@pytest.fixture
def plane(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Plane:
    create_regional_resources(lambda region: boto3.client("dynamodb", region_name=region))
    monkeypatch.setenv(names.ENV_ISSUER_BASE, ISSUER_BASE)
    monkeypatch.setenv(names.ENV_WS_MANAGEMENT_ENDPOINT, MANAGEMENT)
    monkeypatch.setenv(names.ENV_DATA_REGION, REGION)
    world = moto_world(aws)
    us_app, us_secret = world.entries.create_app(
        world.demo_tenant, "US App", "aws-us-east-1", ["app.example.com"], plan_id="standard", actor=SYSTEM_ACTOR
    )
    return Plane(aws, world, us_app, us_secret)


def authorizer_event(token: str | None, origin: str | None, doc: str | None = "notes") -> dict[str, Any]:
    headers: dict[str, list[str]] = {"Host": [DOMAIN]}
    if token is not None:
        headers["Sec-WebSocket-Protocol"] = [f"access_token, {token}"]
    if origin is not None:
        headers["Origin"] = [origin]
    query = {"doc": [doc]} if doc is not None else {}
    return {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "headers": {k: v[-1] for k, v in headers.items()},
        "multiValueHeaders": headers,
        "queryStringParameters": {k: v[-1] for k, v in query.items()},
        "multiValueQueryStringParameters": query,
        "stageVariables": {},
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "connectionId": "conn-1=",
            "domainName": DOMAIN,
            "stage": STAGE,
            "apiId": API_ID,
        },
    }


def integration_event(event_type: str, connection_id: str, policy: dict[str, Any]) -> dict[str, Any]:
    """The $connect/$disconnect event, with the authorizer context as API Gateway hands it on (strings)."""
    authorizer: dict[str, Any] = {k: stringify_context_value(v) for k, v in policy.get("context", {}).items()}
    authorizer.update(principalId=policy["principalId"], integrationLatency=12)
    return {
        "headers": {"Host": DOMAIN},
        "requestContext": {
            "routeKey": "$connect" if event_type == "CONNECT" else "$disconnect",
            "eventType": event_type,
            "connectionId": connection_id,
            "domainName": DOMAIN,
            "stage": STAGE,
            "apiId": API_ID,
            "authorizer": authorizer,
        },
        "isBase64Encoded": False,
    }


def registered(plane: Plane) -> dict[str, list[dict[str, Any]]]:
    return {region: items for region, items in plane.scan_all_regions().items() if items}


# --- Denials first ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["no token", "forged token", "token of a disabled app"])
def test_unauthenticated_handshakes_raise_unauthorized_and_register_nothing(plane: Plane, case: str) -> None:
    # Given a handshake without a usable token
    token: str | None = None
    if case == "forged token":
        token = "eyJhbGciOiJub25lIn0.e30."
    elif case == "token of a disabled app":
        token = plane.us_token()
        disabled = replace(plane.us_app, status=AppStatus.DISABLED)  # as the admin API's disable would
        plane.world.store.commit([ReplaceApp(disabled, expected_generation=disabled.credential_generation)])
    # When the authorizer runs through the real handler
    # Then it raises API Gateway's "Unauthorized" (401)
    with pytest.raises(Exception, match=r"\AUnauthorized\Z"):
        rest.invoke("ws_connect", authorizer_event(token, US_ORIGIN))
    # And nothing is registered anywhere
    assert registered(plane) == {}


def test_a_foreign_origin_gets_an_exact_deny_policy_and_nothing_is_registered(plane: Plane) -> None:
    # Given a genuine token of the US app
    token = plane.us_token()
    # When the page comes from another origin
    policy = rest.invoke("ws_connect", authorizer_event(token, "https://evil.example"))
    # Then the policy is an explicit Deny of the whole API stage, with no context
    assert policy == {
        "principalId": f"{plane.world.demo_tenant}/{plane.us_app.app_id}",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Deny",
                    "Resource": [f"arn:aws:execute-api:{REGION}:123456789012:{API_ID}/{STAGE}/*"],
                }
            ],
        },
    }
    assert registered(plane) == {}


def test_connect_without_an_authorizer_context_is_refused_and_registers_nothing(plane: Plane) -> None:
    event = integration_event("CONNECT", "conn-x=", {"principalId": "x"})
    assert rest.invoke("ws_connect", event)["statusCode"] == 403
    assert registered(plane) == {}


# --- Allow, register, sovereignty, disconnect -----------------------------------------------------------------


def test_an_allowed_connection_is_registered_only_in_its_license_region_and_removed_on_disconnect(
    plane: Plane,
) -> None:
    # Given a genuine token of an app licensed in aws-us-east-1, used from its allowed origin
    token = plane.us_token()
    policy = rest.invoke("ws_connect", authorizer_event(token, US_ORIGIN))
    # Then the authorizer allows exactly $connect, with the connection's context
    assert policy["principalId"] == f"{plane.world.demo_tenant}/{plane.us_app.app_id}"
    assert policy["policyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [METHOD_ARN]}],
    }
    assert policy["context"]["licenseRegion"] == "aws-us-east-1"
    assert policy["context"]["document"] == "notes"
    assert policy["context"]["domains"] == '["app.example.com"]'

    # When $connect runs (the WebSocket API itself is in eu-west-1)
    response = rest.invoke("ws_connect", integration_event("CONNECT", "conn-1=", policy))
    # Then it answers 200 and selects the subprotocol the token came with
    assert response["statusCode"] == 200
    assert response["headers"] == {"Sec-WebSocket-Protocol": "access_token"}
    # And the record is in us-east-1's table and in no other region's
    tables = registered(plane)
    assert list(tables) == ["us-east-1"]
    [item] = tables["us-east-1"]
    assert item["pk"] == {"S": f"{REGION}#conn-1="}
    assert item["tenantId"] == {"S": plane.world.demo_tenant}
    assert item["appId"] == {"S": plane.us_app.app_id}
    assert item["document"] == {"S": "notes"}
    assert item["wsRegion"] == {"S": REGION}
    assert item["endpoint"] == {"S": MANAGEMENT}
    assert item["licenseRegion"] == {"S": "aws-us-east-1"}
    assert int(item["expires_at_ttl"]["N"]) > int(item["connectedAt"]["N"]) + 7200

    # When $disconnect runs
    response = rest.invoke("ws_connect", integration_event("DISCONNECT", "conn-1=", policy))
    # Then it answers 200 and the record is gone everywhere
    assert response["statusCode"] == 200
    assert registered(plane) == {}


def test_the_registry_finds_connections_by_tenant_app_and_document(plane: Plane) -> None:
    # Given three connections: two to one document of the US app, one of the EU demo app
    us_policy = rest.invoke("ws_connect", authorizer_event(plane.us_token(), US_ORIGIN))
    eu_token = str(plane.world.client_credentials().body["access_token"])
    eu_policy = rest.invoke("ws_connect", authorizer_event(eu_token, "http://localhost:5173", doc="other"))
    for connection_id, policy in (("a=", us_policy), ("b=", us_policy), ("c=", eu_policy)):
        assert rest.invoke("ws_connect", integration_event("CONNECT", connection_id, policy))["statusCode"] == 200
    service = wiring.connection_service()
    tenant = plane.world.demo_tenant
    # When / Then each index finds exactly its connections
    assert sorted(r.connection_id for r in service.tenant_connections(tenant)) == ["a=", "b=", "c="]
    assert sorted(r.connection_id for r in service.app_connections("aws-us-east-1", tenant, plane.us_app.app_id)) == [
        "a=",
        "b=",
    ]
    assert [
        r.connection_id for r in service.document_connections("aws-eu-west-1", tenant, plane.world.app.app_id, "other")
    ] == ["c="]
    assert list(service.tenant_connections(plane.world.other_tenant)) == []
    # And the EU app's connection lives only in eu-west-1, the US app's only in us-east-1
    tables = registered(plane)
    assert sorted(tables) == ["eu-west-1", "us-east-1"]
    assert len(tables["us-east-1"]) == 2 and len(tables["eu-west-1"]) == 1


# --- An invalid document name: accepted, refused with 4007 on the first frame -------------------------------------


class RecordingPoster:
    """Stands in for ``ManagementApiPoster`` (moto's @connections API records nothing usable)."""

    def __init__(self) -> None:
        self.frames: dict[str, list[str]] = {}
        self.closed: list[str] = []

    def post(self, endpoint: str, connection_id: str, region: str, data: str) -> bool:
        self.frames.setdefault(connection_id, []).append(data)
        return True

    def close(self, endpoint: str, connection_id: str, region: str) -> bool:
        self.closed.append(connection_id)
        return True


def items_everywhere(table: str) -> list[dict[str, Any]]:
    """Every item of ``table`` in every region, but the per-IP handshake counters (every handshake raises one:
    tests/integration/test_ws_connect_rate_limit.py)."""
    found: list[dict[str, Any]] = []
    for license_region in names.LICENSE_REGIONS:
        client = boto3.client("dynamodb", region_name=names.aws_region_of(license_region))
        items = client.scan(TableName=table, ConsistentRead=True)["Items"]
        found.extend(item for item in items if not item["pk"]["S"].startswith(f"{WS_CONNECT_IP}#"))
    return found


def test_a_bad_document_name_never_softens_the_token_or_origin_checks(plane: Plane) -> None:
    for doc in ("bad.name", None):
        # Given a handshake with an invalid (or no) document name
        # When the token is forged / Then 401, as with a valid name
        with pytest.raises(Exception, match=r"\AUnauthorized\Z"):
            rest.invoke("ws_connect", authorizer_event("eyJhbGciOiJub25lIn0.e30.", US_ORIGIN, doc=doc))
        # When a genuine token comes from a foreign origin / Then an explicit Deny (403)
        policy = rest.invoke("ws_connect", authorizer_event(plane.us_token(), "https://evil.example", doc=doc))
        assert policy["policyDocument"]["Statement"][0]["Effect"] == "Deny" and "context" not in policy
    assert registered(plane) == {}


def test_an_invalid_document_name_is_accepted_as_refused_and_its_first_frame_gets_4007(
    plane: Plane, monkeypatch: pytest.MonkeyPatch
) -> None:
    poster = RecordingPoster()
    monkeypatch.setattr(apigw_post, "ManagementApiPoster", lambda: poster)
    # Given a genuine token of the US app from its allowed origin, and ?doc=bad.name
    policy = rest.invoke("ws_connect", authorizer_event(plane.us_token(), US_ORIGIN, doc="bad.name"))
    # Then the authorizer allows $connect with the sentinel document, never the request's name
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert policy["context"]["document"] == INVALID_DOCUMENT
    assert "bad.name" not in json.dumps(policy)

    # When $connect runs / Then the handshake succeeds (a frame cannot be sent during $connect)
    response = rest.invoke("ws_connect", integration_event("CONNECT", "bad=", policy))
    assert response["statusCode"] == 200
    assert response["headers"] == {"Sec-WebSocket-Protocol": "access_token"}
    # And it is registered (in its license region only) as refused with 4007, uncounted
    tables = registered(plane)
    assert list(tables) == ["us-east-1"]
    [item] = tables["us-east-1"]
    assert item["refusedCode"] == {"N": "4007"} and "counted" not in item
    assert item["document"] == {"S": INVALID_DOCUMENT}
    # And no usage counter and no pin was written anywhere
    assert items_everywhere(names.USAGE_TABLE.default_name) == []
    # And it is a member of no document
    service = wiring.connection_service()
    tenant, app = plane.world.demo_tenant, plane.us_app.app_id
    assert list(service.document_connections("aws-us-east-1", tenant, app, INVALID_DOCUMENT)) == []

    # When it sends its first frame (a sync step 1)
    event = integration_event("CONNECT", "bad=", policy)
    event["requestContext"].update(routeKey="$default", eventType="MESSAGE", messageId="m1")
    event["body"] = base64.b64encode(b"\x00\x00\x01\x00").decode()
    assert rest.invoke("ws_message", event)["statusCode"] == 200
    # Then it gets the error frame 4007 "Invalid Name" and is closed
    assert [json.loads(frame) for frame in poster.frames["bad="]] == [
        {"type": "error", "code": 4007, "reason": "Invalid Name"}
    ]
    assert poster.closed == ["bad="]
    # And nothing was stored or counted (no document state, no ops counter)
    assert items_everywhere(names.DOCUMENTS_TABLE.default_name) == []
    assert items_everywhere(names.USAGE_TABLE.default_name) == []

    # When it disconnects / Then its record is gone and still no counter exists
    assert rest.invoke("ws_connect", integration_event("DISCONNECT", "bad=", policy))["statusCode"] == 200
    assert registered(plane) == {}
    assert items_everywhere(names.USAGE_TABLE.default_name) == []
