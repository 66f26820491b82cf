"""The per-IP connect limit (SPEC §7) through the real ``ws_connect`` handler on moto: 60 handshakes a minute from
one IP are allowed, the 61st gets the explicit Deny (403), and the counter lives in the usage table of the WebSocket
API's own region only (not in the app's license region)."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from tests.fakes.oauth_world import ISSUER_BASE
from tests.integration import rest
from tests.integration.conftest import REGION, Aws, moto_world
from wiresocket import names, wiring
from wiresocket.domain.audit import SYSTEM_ACTOR
from wiresocket.domain.ratelimit import DEFAULT_POLICIES, WS_CONNECT_IP
from wiresocket.local.resources import create_regional_resources

API_ID = "abcdef1234"
STAGE = "prod"
METHOD_ARN = f"arn:aws:execute-api:{REGION}:123456789012:{API_ID}/{STAGE}/$connect"
DOMAIN = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
ORIGIN = "https://app.example.com"
APP_REGION = "aws-us-east-1"  # the app's data lives in us-east-1; the WebSocket API is in REGION (eu-west-1)
LIMIT = DEFAULT_POLICIES[WS_CONNECT_IP].limit
WINDOW = DEFAULT_POLICIES[WS_CONNECT_IP].window_seconds


class FreshWindowClock:
    """Real time shifted forward (by at most one window) so that the test starts 1 s into a fresh window: the
    handshakes of one test never straddle two windows. Forward only: tokens just look a little older."""

    def __init__(self) -> None:
        now = time.time()
        self._offset = WINDOW - now % WINDOW + 1

    def now(self) -> float:
        return time.time() + self._offset


@pytest.fixture
def token(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> str:
    create_regional_resources(lambda region: boto3.client("dynamodb", region_name=region))
    monkeypatch.setenv(names.ENV_ISSUER_BASE, ISSUER_BASE)
    monkeypatch.setenv(names.ENV_DATA_REGION, REGION)
    monkeypatch.delenv(names.ENV_WS_CONNECT_PER_IP_LIMIT, raising=False)
    clock = FreshWindowClock()
    monkeypatch.setattr(wiring, "clock", lambda: clock)
    world = moto_world(aws)
    app, secret = world.entries.create_app(
        world.demo_tenant, "US App", APP_REGION, ["app.example.com"], plan_id="standard", actor=SYSTEM_ACTOR
    )
    return str(world.client_credentials(app=app, secret=secret).body["access_token"])


def handshake(token: str, source_ip: str) -> dict[str, Any]:
    headers = {"Host": DOMAIN, "Origin": ORIGIN, "Sec-WebSocket-Protocol": f"access_token, {token}"}
    return {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {"doc": "notes"},
        "multiValueQueryStringParameters": {"doc": ["notes"]},
        "stageVariables": {},
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "connectionId": "conn-1=",
            "domainName": DOMAIN,
            "stage": STAGE,
            "apiId": API_ID,
            "identity": {"sourceIp": source_ip, "userAgent": "test"},
        },
    }


def effect(policy: dict[str, Any]) -> str:
    [statement] = policy["policyDocument"]["Statement"]
    return str(statement["Effect"])


def connect_counters() -> dict[str, list[dict[str, Any]]]:
    """The per-IP connect counters in each license region's usage table, by AWS region (empty ones left out)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for license_region in names.LICENSE_REGIONS:
        region = names.aws_region_of(license_region)
        items = boto3.client("dynamodb", region_name=region).scan(
            TableName=names.USAGE_TABLE.default_name, ConsistentRead=True
        )["Items"]
        ours = [item for item in items if item["pk"]["S"].startswith(f"{WS_CONNECT_IP}#")]
        if ours:
            found[region] = ours
    return found


def test_the_61st_handshake_from_one_ip_is_denied_and_counted_in_the_websocket_region_only(token: str) -> None:
    # Given LIMIT genuine handshakes from one IP within a minute, all allowed by the real handler
    for _ in range(LIMIT):
        assert effect(rest.invoke("ws_connect", handshake(token, "203.0.113.7"))) == "Allow"
    # When the next one arrives from the same IP
    denied = rest.invoke("ws_connect", handshake(token, "203.0.113.7"))
    # Then it gets the explicit Deny (API Gateway's 403), and another IP still connects
    assert effect(denied) == "Deny"
    assert effect(rest.invoke("ws_connect", handshake(token, "198.51.100.1"))) == "Allow"
    # And the counters are in the WebSocket region's usage table only, with no IP in the clear
    counters = connect_counters()
    assert set(counters) == {REGION}
    assert sorted(int(item["count"]["N"]) for item in counters[REGION]) == [1, LIMIT + 1]
    assert all("203.0.113.7" not in item["pk"]["S"] for item in counters[REGION])
    assert all(names.USAGE_TABLE.ttl_attribute in item for item in counters[REGION])


def test_the_limit_setting_reaches_the_handler(token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a deployment that sets the per-IP connect limit to 2
    monkeypatch.setenv(names.ENV_WS_CONNECT_PER_IP_LIMIT, "2")
    # When three handshakes arrive from one IP
    outcomes = [effect(rest.invoke("ws_connect", handshake(token, "203.0.113.9"))) for _ in range(3)]
    # Then the third is denied
    assert outcomes == ["Allow", "Allow", "Deny"]
