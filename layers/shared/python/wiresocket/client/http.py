"""The HTTP transport of the client: JSON and form requests, error mapping, safe retries.

Retries are only ever made when repeating the request cannot change anything twice: a ``GET``, or a
mutating request that carries an ``Idempotency-Key`` (the server returns the first result for a retry with
the same key). OAuth grants are never retried: a replayed refresh token revokes its own family.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from wiresocket.client.errors import (
    ClientError,
    UnavailableError,
    UsageError,
    error_for_oauth,
    error_for_status,
)

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})
DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_RETRY_WAIT_SECONDS = 5.0
USER_AGENT = "wiresocket-cli/1"


def normalize_url(url: str) -> str:
    """``url`` without a trailing ``/``; only ``http``/``https`` URLs with a host are accepted."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise UsageError(f"not a control-plane base URL: {url!r} (expected http(s)://host[:port][/path])")
    return url.strip().rstrip("/")


def new_idempotency_key() -> str:
    """A fresh ``Idempotency-Key`` (a uuid4: 36 characters of ``[0-9a-f-]``)."""
    return str(uuid.uuid4())


def _json_or_none(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


class Transport:
    """Sends requests to one control plane (``base_url``) and turns failures into ``ClientError``s."""

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        retries: int = 2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = normalize_url(base_url)
        self._http = session or requests.Session()
        self._http.headers["User-Agent"] = USER_AGENT
        self._timeout = timeout
        self._retries = max(0, retries)
        self._sleep = sleep

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def request_json(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        token: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Call an admin-API route; the parsed JSON body (None for 204). Mutating calls always carry an
        ``Idempotency-Key`` (``idempotency_key`` or a fresh uuid4), reused by every retry of this call."""
        method = method.upper()
        headers = {"Accept": "application/json, application/problem+json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if method in MUTATING_METHODS:
            headers["Idempotency-Key"] = idempotency_key or new_idempotency_key()
        response = self._send(
            method,
            path,
            headers=headers,
            json_body=dict(body) if body is not None else ({} if method in ("POST", "PUT") else None),
            params=params,
            retry=True,
            timeout=timeout,
        )
        payload = _json_or_none(response)
        if response.status_code >= 400:
            raise error_for_status(response.status_code, payload, response.headers)
        if response.status_code == 204:
            return None
        if payload is None:
            raise UnavailableError(
                f"{method} {path}: the server answered {response.status_code} without a JSON body",
                status=response.status_code,
            )
        return payload

    def post_form(self, path: str, form: Mapping[str, str], *, auth: tuple[str, str] | None = None) -> Any:
        """``POST`` an OAuth form (``/connect/...``); the JSON answer, or the mapped OAuth error. Never retried."""
        response = self._send(
            "POST",
            path,
            headers={"Accept": "application/json"},
            form=dict(form),
            auth=auth,
            retry=False,
        )
        payload = _json_or_none(response)
        if response.status_code >= 400:
            raise error_for_oauth(response.status_code, payload, response.headers)
        if payload is None:
            return {}  # revocation answers 200 with an empty body
        if not isinstance(payload, dict):
            raise UnavailableError(f"POST {path}: the server answered without a JSON object", status=200)
        return payload

    def _send(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        json_body: Mapping[str, Any] | None = None,
        form: Mapping[str, str] | None = None,
        params: Mapping[str, str | int] | None = None,
        auth: tuple[str, str] | None = None,
        retry: bool,
        timeout: float | None = None,
    ) -> requests.Response:
        url = self.base_url + path
        attempts = 1 + (self._retries if retry else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._http.request(
                    method,
                    url,
                    headers=headers,
                    json=json_body,
                    data=form,
                    params=params,
                    auth=auth,
                    timeout=timeout or self._timeout,
                    allow_redirects=False,  # never forward an Authorization header anywhere else
                )
            except requests.RequestException as exc:
                if last:
                    raise UnavailableError(
                        f"{method} {path}: cannot reach {self.base_url}: {type(exc).__name__}"
                    ) from None
                self._sleep(0.5 * (attempt + 1))
                continue
            if response.status_code in RETRY_STATUSES and not last:
                self._sleep(self._retry_wait(response, attempt))
                continue
            return response
        raise ClientError("unreachable")  # pragma: no cover - the loop always returns or raises

    @staticmethod
    def _retry_wait(response: requests.Response, attempt: int) -> float:
        try:
            hinted = float(response.headers.get("Retry-After", ""))
        except ValueError:
            hinted = 0.5 * (attempt + 1)
        return min(max(hinted, 0.0), MAX_RETRY_WAIT_SECONDS)
