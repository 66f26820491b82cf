"""Emergency key revocation ends every live session of the tenant, and only that tenant's (SPEC §6, §8).

Runs on a private local stack, so the rate-limit buckets of the other e2e tests (the fuzz run drains them)
cannot interfere: 200 connections of tenant A and 50 of tenant B through the local API Gateway WebSocket
emulator; the owner of A revokes A's keys through the admin API; every A socket closes, no B socket does,
an old A token cannot reconnect, and the audit trail's ``SessionsTerminated`` reports 200.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.e2e.conftest import RunningStack

A_CONNECTIONS = 200
B_CONNECTIONS = 50
PASSWORD = "correct horse battery staple 42"
BULK_LIMITS = {"maxConnections": 1000, "maxDocuments": 100, "maxUsersPerDoc": 1000, "opsPerMinute": 100000}


class Api:
    """Plain HTTP against the control plane, as any client would."""

    def __init__(self, stack: RunningStack) -> None:
        self.base = stack.control_plane_url
        self.dashboard = (
            stack.state["dashboard_client"]["client_id"],
            stack.state["dashboard_client"]["client_secret"],
        )

    def login(self, username: str, password: str, scope: str) -> str:
        r = requests.post(
            f"{self.base}/connect/token",
            auth=self.dashboard,
            timeout=10,
            data={"grant_type": "password", "username": username, "password": password, "scope": scope},
        )
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def call(self, method: str, path: str, token: str | None, body: dict[str, Any] | None = None) -> Any:
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        r = requests.request(method, f"{self.base}{path}", json=body, headers=headers, timeout=30)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def app_token(self, client_id: str, client_secret: str) -> str:
        r = requests.post(
            f"{self.base}/connect/token",
            auth=(client_id, client_secret),
            timeout=10,
            data={"grant_type": "client_credentials", "scope": "WireSocket.API"},
        )
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


def tenant_with_app(api: Api, operator: str, plan_id: str, name: str) -> dict[str, str]:
    """Sign up, approve, log in as the owner, create an app on ``plan_id``; returns ids, owner and app token."""
    owner = f"owner-{uuid.uuid4().hex[:8]}@{name}.example"
    signed = api.call("POST", "/signup", None, {"tenantName": name, "ownerUsername": owner, "ownerPassword": PASSWORD})
    api.call("POST", f"/platform/tenants/{signed['tenantId']}/approve", operator)
    owner_token = api.login(owner, PASSWORD, "WireSocket.Admin")
    app = api.call(
        "POST",
        "/admin/apps",
        owner_token,
        {"name": f"{name}-app", "licenseRegion": "aws-eu-west-1", "allowedDomains": [], "planId": plan_id},
    )
    return {
        "tenant_id": signed["tenantId"],
        "owner": owner,
        "owner_token": owner_token,
        "app_token": api.app_token(app["clientId"], app["clientSecret"]),
    }


async def open_many(url: str, token: str, count: int) -> list[ClientConnection]:
    async def one(i: int) -> ClientConnection:
        return await connect(
            f"{url}/?doc=doc{i % 10}",
            subprotocols=["access_token", token],  # type: ignore[list-item]
            open_timeout=30,
            ping_interval=None,
        )

    sockets: list[ClientConnection] = []
    for start in range(0, count, 25):  # in batches, like a fleet of browsers arriving
        sockets += await asyncio.gather(*(one(i) for i in range(start, min(count, start + 25))))
    return sockets


async def closed_within(sockets: list[ClientConnection], seconds: float) -> int:
    async def wait(ws: ClientConnection) -> bool:
        try:
            await asyncio.wait_for(ws.wait_closed(), seconds)
        except TimeoutError:
            return False
        return True

    return sum(await asyncio.gather(*(wait(ws) for ws in sockets)))


@pytest.mark.slow
def test_emergency_revoke_closes_all_of_the_tenants_sessions_and_none_of_another(
    start_local_stack: Callable[[], RunningStack],
) -> None:
    stack = start_local_stack()
    api = Api(stack)
    operator = api.login(
        stack.state["operator"]["username"], stack.state["operator"]["password"], "WireSocket.Platform"
    )
    plan = api.call(
        "POST",
        "/platform/plans",
        operator,
        {"name": f"bulk-{uuid.uuid4().hex[:6]}", "free": False, "limits": BULK_LIMITS},
    )
    a = tenant_with_app(api, operator, plan["planId"], "alpha")
    b = tenant_with_app(api, operator, plan["planId"], "bravo")
    ws_url = str(stack.state["websocket_url"])

    async def scenario() -> dict[str, Any]:
        # Given 200 live connections of tenant A and 50 of tenant B
        a_sockets = await open_many(ws_url, a["app_token"], A_CONNECTIONS)
        b_sockets = await open_many(ws_url, b["app_token"], B_CONNECTIONS)
        assert all(ws.protocol.state.name == "OPEN" for ws in a_sockets + b_sockets)
        # When A's owner emergency-revokes A's keys through the admin API
        started = time.monotonic()
        revocation = await asyncio.to_thread(
            api.call, "POST", "/admin/keys/revoke", a["owner_token"], {"reason": "e2e"}
        )
        returned = time.monotonic() - started
        # Then every A socket is closed (counted on the client side) ...
        a_closed = await closed_within(a_sockets, 10)
        elapsed = time.monotonic() - started
        # ... and no B socket is
        b_closed = await closed_within(b_sockets, 0.5)
        # And an old A token cannot open a new connection
        with pytest.raises(InvalidStatus) as refused:
            await connect(
                f"{ws_url}/?doc=doc0",
                subprotocols=["access_token", a["app_token"]],  # type: ignore[list-item]
                open_timeout=10,
            )
        for ws in b_sockets:
            await ws.close()
        return {
            "a_closed": a_closed,
            "b_closed": b_closed,
            "status": refused.value.response.status_code,
            "returned": returned,
            "elapsed": elapsed,
            "revocation": revocation,
        }

    outcome = asyncio.run(scenario())
    assert outcome["a_closed"] == A_CONNECTIONS
    assert outcome["b_closed"] == 0
    assert outcome["status"] in (401, 403)
    print(
        f"revoke returned after {outcome['returned']:.2f}s; all {A_CONNECTIONS} closed after {outcome['elapsed']:.2f}s"
    )
    # And the audit trail reports the 200 terminated sessions (A's owner logs in again: the old token died)
    owner_token = api.login(a["owner"], PASSWORD, "WireSocket.Admin")
    events = api.call("GET", "/admin/audit?limit=50", owner_token)["items"]
    terminated = [e for e in events if e["detailType"] == "SessionsTerminated"]
    assert len(terminated) == 1 and terminated[0]["data"]["count"] == A_CONNECTIONS
    assert any(e["detailType"] == "SigningKeyRevoked" for e in events)
