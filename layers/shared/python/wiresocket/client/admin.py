"""The admin and platform API (docs/admin-api.md) as methods: one per route, JSON objects in and out.

Every mutating method takes an optional ``idempotency_key``; without one a fresh uuid4 is sent, and the
transport reuses it for its own retries, so a retried call changes nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from wiresocket.client.errors import UnavailableError
from wiresocket.client.http import Transport

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Page:
    """One page of a list route."""

    items: list[JsonObject]
    next_cursor: str | None


def _segment(value: str) -> str:
    """A path segment: percent-encoded so an id can never add path or query parts."""
    return quote(value, safe="")


def _object(payload: Any, what: str) -> JsonObject:
    if not isinstance(payload, dict):
        raise UnavailableError(f"{what}: expected a JSON object")
    return payload


def _page(payload: Any, what: str) -> Page:
    body = _object(payload, what)
    items = body.get("items")
    cursor = body.get("nextCursor")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise UnavailableError(f"{what}: expected {{items: [...], nextCursor}}")
    return Page(items=items, next_cursor=cursor if isinstance(cursor, str) and cursor else None)


def _items(payload: Any, what: str) -> list[JsonObject]:
    """Lists that are not paginated may come as a bare array or as ``{items}``."""
    if isinstance(payload, list) and all(isinstance(i, dict) for i in payload):
        return payload
    return _page(payload, what).items


class AdminClient:
    """The admin and platform API of one control plane, as the principal behind ``token``."""

    def __init__(self, transport: Transport, token: Callable[[], str] | None = None) -> None:
        self._transport = transport
        self._token = token

    # --- plumbing -------------------------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        idempotency_key: str | None = None,
        authenticated: bool = True,
        timeout: float | None = None,
    ) -> Any:
        token = self._token() if authenticated and self._token is not None else None
        return self._transport.request_json(
            method, path, body=body, params=params, token=token, idempotency_key=idempotency_key, timeout=timeout
        )

    def _list(self, path: str, limit: int | None, cursor: str | None, **filters: str | None) -> Page:
        params: dict[str, str | int] = {k: v for k, v in filters.items() if v is not None}
        if limit is not None:
            params["limit"] = limit
        if cursor is not None:
            params["cursor"] = cursor
        return _page(self._call("GET", path, params=params), f"GET {path}")

    def pages(self, fetch: Callable[[str | None], Page], *, max_pages: int = 1000) -> Iterator[JsonObject]:
        """Every item of a paginated list: ``fetch(cursor)`` is called until ``nextCursor`` is null."""
        cursor: str | None = None
        for _ in range(max_pages):
            page = fetch(cursor)
            yield from page.items
            if page.next_cursor is None or page.next_cursor == cursor:
                return
            cursor = page.next_cursor

    # --- public ---------------------------------------------------------------------------------------------
    def signup(
        self, tenant_name: str, owner_username: str, owner_password: str, *, idempotency_key: str | None = None
    ) -> JsonObject:
        """``POST /signup``: a pending tenant and its owner."""
        body = {"tenantName": tenant_name, "ownerUsername": owner_username, "ownerPassword": owner_password}
        return _object(
            self._call("POST", "/signup", body=body, idempotency_key=idempotency_key, authenticated=False), "signup"
        )

    # --- platform -------------------------------------------------------------------------------------------
    def list_tenants(self, status: str | None = None, limit: int | None = None, cursor: str | None = None) -> Page:
        """``GET /platform/tenants``."""
        return self._list("/platform/tenants", limit, cursor, status=status)

    def get_tenant(self, tenant_id: str) -> JsonObject:
        """``GET /platform/tenants/{tenantId}``."""
        return _object(self._call("GET", f"/platform/tenants/{_segment(tenant_id)}"), "tenant")

    def tenant_action(
        self, tenant_id: str, action: str, body: Mapping[str, Any] | None = None, *, idempotency_key: str | None = None
    ) -> JsonObject:
        """``POST /platform/tenants/{tenantId}/{approve|suspend|reactivate}``."""
        path = f"/platform/tenants/{_segment(tenant_id)}/{_segment(action)}"
        return _object(self._call("POST", path, body=body, idempotency_key=idempotency_key), action)

    def list_platform_plans(self) -> list[JsonObject]:
        """``GET /platform/plans``."""
        return _items(self._call("GET", "/platform/plans"), "plans")

    def create_plan(
        self, name: str, free: bool, limits: Mapping[str, int], *, idempotency_key: str | None = None
    ) -> JsonObject:
        """``POST /platform/plans``."""
        body = {"name": name, "free": free, "limits": dict(limits)}
        return _object(self._call("POST", "/platform/plans", body=body, idempotency_key=idempotency_key), "plan")

    def rotate_master_key(
        self, target_key_id: str | None = None, *, idempotency_key: str | None = None, timeout: float | None = None
    ) -> JsonObject:
        """``POST /platform/master-key/rotate``: re-wrap every stored data key; the report."""
        body = {"targetKeyId": target_key_id} if target_key_id else {}
        return _object(
            self._call(
                "POST", "/platform/master-key/rotate", body=body, idempotency_key=idempotency_key, timeout=timeout
            ),
            "master-key rotation",
        )

    def master_key_status(self, *, timeout: float | None = None) -> JsonObject:
        """``GET /platform/master-key``: current master key and data keys per master key."""
        return _object(self._call("GET", "/platform/master-key", timeout=timeout), "master-key status")

    def platform_audit(self, limit: int | None = None, cursor: str | None = None) -> Page:
        """``GET /platform/audit``: every event, newest first."""
        return self._list("/platform/audit", limit, cursor)

    # --- tenant ---------------------------------------------------------------------------------------------
    def own_tenant(self) -> JsonObject:
        """``GET /admin/tenant``."""
        return _object(self._call("GET", "/admin/tenant"), "tenant")

    def list_users(self, limit: int | None = None, cursor: str | None = None) -> Page:
        """``GET /admin/users``."""
        return self._list("/admin/users", limit, cursor)

    def invite_user(self, username: str, password: str, role: str, *, idempotency_key: str | None = None) -> JsonObject:
        """``POST /admin/users``."""
        body = {"username": username, "password": password, "role": role}
        return _object(self._call("POST", "/admin/users", body=body, idempotency_key=idempotency_key), "user")

    def set_user_status(self, user_id: str, enabled: bool, *, idempotency_key: str | None = None) -> JsonObject:
        """``POST /admin/users/{userId}/{enable|disable}``."""
        path = f"/admin/users/{_segment(user_id)}/{'enable' if enabled else 'disable'}"
        return _object(self._call("POST", path, idempotency_key=idempotency_key), "user")

    def list_tenant_plans(self) -> list[JsonObject]:
        """``GET /admin/plans``: the plans an app may be put on."""
        return _items(self._call("GET", "/admin/plans"), "plans")

    def list_apps(self, limit: int | None = None, cursor: str | None = None) -> Page:
        """``GET /admin/apps``."""
        return self._list("/admin/apps", limit, cursor)

    def get_app(self, app_id: str) -> JsonObject:
        """``GET /admin/apps/{appId}``."""
        return _object(self._call("GET", f"/admin/apps/{_segment(app_id)}"), "app")

    def create_app(
        self,
        name: str,
        license_region: str,
        allowed_domains: list[str],
        plan_id: str,
        *,
        idempotency_key: str | None = None,
    ) -> JsonObject:
        """``POST /admin/apps``: the app and its one-time ``clientSecret``."""
        body = {"name": name, "licenseRegion": license_region, "allowedDomains": allowed_domains, "planId": plan_id}
        return _object(self._call("POST", "/admin/apps", body=body, idempotency_key=idempotency_key), "app")

    def regenerate_secret(self, app_id: str, *, idempotency_key: str | None = None) -> JsonObject:
        """``POST /admin/apps/{appId}/secret``: ``{clientId, clientSecret}`` (shown once)."""
        path = f"/admin/apps/{_segment(app_id)}/secret"
        return _object(self._call("POST", path, idempotency_key=idempotency_key), "secret")

    def set_app_domains(
        self, app_id: str, allowed_domains: list[str], *, idempotency_key: str | None = None
    ) -> JsonObject:
        """``PUT /admin/apps/{appId}/domains``."""
        path = f"/admin/apps/{_segment(app_id)}/domains"
        body = {"allowedDomains": allowed_domains}
        return _object(self._call("PUT", path, body=body, idempotency_key=idempotency_key), "app")

    def set_app_plan(self, app_id: str, plan_id: str, *, idempotency_key: str | None = None) -> JsonObject:
        """``PUT /admin/apps/{appId}/plan``."""
        path = f"/admin/apps/{_segment(app_id)}/plan"
        return _object(self._call("PUT", path, body={"planId": plan_id}, idempotency_key=idempotency_key), "app")

    def set_app_status(self, app_id: str, enabled: bool, *, idempotency_key: str | None = None) -> JsonObject:
        """``POST /admin/apps/{appId}/{enable|disable}``."""
        path = f"/admin/apps/{_segment(app_id)}/{'enable' if enabled else 'disable'}"
        return _object(self._call("POST", path, idempotency_key=idempotency_key), "app")

    def delete_app(self, app_id: str, *, idempotency_key: str | None = None) -> None:
        """``DELETE /admin/apps/{appId}``."""
        self._call("DELETE", f"/admin/apps/{_segment(app_id)}", idempotency_key=idempotency_key)

    def list_keys(self) -> list[JsonObject]:
        """``GET /admin/keys``."""
        return _items(self._call("GET", "/admin/keys"), "keys")

    def rotate_keys(self, *, idempotency_key: str | None = None) -> JsonObject:
        """``POST /admin/keys/rotate``."""
        return _object(self._call("POST", "/admin/keys/rotate", idempotency_key=idempotency_key), "rotation")

    def revoke_keys(self, reason: str | None = None, *, idempotency_key: str | None = None) -> JsonObject:
        """``POST /admin/keys/revoke``: emergency revocation of every live key of the tenant."""
        body = {"reason": reason} if reason else {}
        return _object(
            self._call("POST", "/admin/keys/revoke", body=body, idempotency_key=idempotency_key), "revocation"
        )

    def tenant_audit(self, limit: int | None = None, cursor: str | None = None) -> Page:
        """``GET /admin/audit``: the tenant's events, newest first."""
        return self._list("/admin/audit", limit, cursor)
