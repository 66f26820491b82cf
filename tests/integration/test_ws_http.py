"""The ``ws_http`` function through its real handler on moto (issue 6): health probes the region's tables, usage
reads the app's counters in its license region, the rate-limit counters land only there, discovery answers."""

from __future__ import annotations

from dataclasses import dataclass

import boto3
import pytest

from tests.fakes.oauth_world import ISSUER_BASE, OAuthWorld
from tests.integration import rest
from tests.integration.conftest import REGION, Aws, moto_world, reset_wiring
from wiresocket import names
from wiresocket.domain.apps import App
from wiresocket.domain.audit import SYSTEM_ACTOR
from wiresocket.domain.limits import connections_counter_key, documents_counter_key
from wiresocket.local.resources import create_regional_resources

PUBLIC_URL = "wss://ws.eu-west-1.example.test"
ORIGIN = "https://app.example.com"


@dataclass
class Plane:
    world: OAuthWorld
    us_app: App
    us_secret: str

    def token(self) -> str:
        return str(self.world.client_credentials(app=self.us_app, secret=self.us_secret).body["access_token"])


@pytest.fixture
def plane(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Plane:
    create_regional_resources(lambda region: boto3.client("dynamodb", region_name=region))
    monkeypatch.setenv(names.ENV_ISSUER_BASE, ISSUER_BASE)
    monkeypatch.setenv(names.ENV_DATA_REGION, REGION)
    monkeypatch.setenv(names.ENV_WS_PUBLIC_URL, PUBLIC_URL)
    world = moto_world(aws)
    us_app, us_secret = world.entries.create_app(
        world.demo_tenant, "US App", "aws-us-east-1", ["app.example.com"], plan_id="standard", actor=SYSTEM_ACTOR
    )
    return Plane(world, us_app, us_secret)


def get(path: str, token: str | None = None, **query: str) -> dict[str, object]:
    headers = {"Origin": ORIGIN}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return rest.invoke("ws_http", rest.rest_event("GET", path, resource=path, headers=headers, query=query or None))


def usage_items(region: str) -> dict[str, int]:
    client = boto3.client("dynamodb", region_name=region)
    items = client.scan(TableName=names.USAGE_TABLE.default_name, ConsistentRead=True)["Items"]
    return {item["pk"]["S"]: int(item["count"]["N"]) for item in items}


def test_without_a_token_usage_is_401(plane: Plane) -> None:
    result = get("/usage")
    assert result["statusCode"] == 401


def test_health_is_degraded_when_a_table_is_missing(plane: Plane, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the function is configured with a usage table that does not exist in this region
    monkeypatch.setenv(names.ENV_USAGE_TABLE, "wiresocket-usage-missing")
    reset_wiring()
    # Then health says degraded, 503
    assert get("/health")["statusCode"] == 503


def test_health_usage_and_rate_limit_counters_on_moto(plane: Plane) -> None:
    # Given 3 live connections and 2 active documents of the US-licensed app, in its license region
    us = boto3.client("dynamodb", region_name="us-east-1")
    tenant, app = plane.world.demo_tenant, plane.us_app.app_id
    for key, count in ((connections_counter_key(tenant, app), 3), (documents_counter_key(tenant, app), 2)):
        us.put_item(TableName=names.USAGE_TABLE.default_name, Item={"pk": {"S": key}, "count": {"N": str(count)}})
    # When health and usage are asked through the handler
    health = get("/")
    usage = get("/usage", plane.token())
    # Then healthy, and the app's figures against the plan's limits (100 connections, 10 documents)
    assert health["statusCode"] == 200 and rest.body_json(health)["status"] == "healthy"
    assert usage["statusCode"] == 200, usage
    body = rest.body_json(usage)
    assert body["usage"]["connections"] == {"current": 3, "limit": 100, "percent": 3.0, "status": "healthy"}
    assert body["usage"]["documents"]["current"] == 2
    assert usage["headers"]["Access-Control-Allow-Origin"] == ORIGIN  # type: ignore[index]
    # And the rate-limit counter was written in us-east-1 only (the app's license region)
    limit_keys = [k for k in usage_items("us-east-1") if k.startswith("dataplane_usage#")]
    assert len(limit_keys) == 1
    for license_region in names.LICENSE_REGIONS:
        region = names.aws_region_of(license_region)
        if region != "us-east-1":
            assert not [k for k in usage_items(region) if k.startswith("dataplane_")]


def test_discovery_of_an_unpinned_document_points_here(plane: Plane) -> None:
    result = get("/discovery", plane.token(), documentName="notes")
    assert result["statusCode"] == 200, result
    assert rest.body_json(result) == {"region": REGION, "url": f"{PUBLIC_URL}/?doc=notes", "isNew": True}
