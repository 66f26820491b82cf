"""Client authentication for the OAuth endpoints (RFC 6749 §2.3, SPEC §2, §3, §7).

A client is a tenant's app or the platform's trusted dashboard client. Its current state is read fresh on
every request. A locked-out ``client_id`` is refused before its secret is even checked; every failed check
counts towards the lock-out of that ``client_id`` alone. The lock-out counter and the ``client_id`` registry
entry are read together (``ClientLookup``: one ``BatchGetItem`` over the two tables in DynamoDB), then decided
on in that order: one round trip less on every request than reading them one after the other, and the same
work whether or not the ``client_id`` exists.

What only a failure needs (the audit event, the write) is imported on the failure path, so that the token
function's cold start builds only what a successful grant runs (docs/websocket.md "Cold start").
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from wiresocket.domain.apps import is_client_id
from wiresocket.domain.clients import ClientKind
from wiresocket.domain.credentials import verify_client_secret
from wiresocket.domain.oauth import InvalidClient, RateLimited
from wiresocket.domain.ratelimit import AUTH_FAILURE, PASSWORD_ATTEMPTS

if TYPE_CHECKING:
    from wiresocket.domain.apps import App
    from wiresocket.domain.audit import Actor
    from wiresocket.domain.clients import ClientRef, DashboardClient
    from wiresocket.domain.keys import SigningKey
    from wiresocket.domain.oauth import ClientCredentials
    from wiresocket.domain.ratelimit import Decision
    from wiresocket.domain.tenants import Tenant
    from wiresocket.ports import Clock, IdentityDirectory
    from wiresocket.services.pepper import SecretPepper
    from wiresocket.services.ratelimit import CounterRead, RateLimiter

# Verified against when the client_id is unknown, so both paths do the same work.
_NO_SUCH_CLIENT_HASH = "hmac-sha256$v1$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


@dataclass(frozen=True, slots=True)
class AuthenticatedClient:
    """A client that proved its identity (or, with ``secret_verified`` False, only named itself), with the
    current state of its tenant: the tenant record and keys come from one directory Query."""

    ref: ClientRef
    tenant: Tenant
    keys: list[SigningKey]
    app: App | None
    dashboard: DashboardClient | None
    secret_verified: bool

    @property
    def credential_generation(self) -> int:
        """The generation of the client's secret (refresh families die when it moves on)."""
        if self.app is not None:
            return self.app.credential_generation
        assert self.dashboard is not None
        return self.dashboard.credential_generation


def client_subject(client_id: str) -> str:
    """The lock-out subject of a client."""
    return f"client:{client_id}"


class ClientLookup(Protocol):
    """Reads a ``client_id``'s registry entry and a counter of the rate limiter together."""

    def client_and_count(self, client_id: str, counter: CounterRead) -> tuple[ClientRef | None, int]:
        """The registry entry of ``client_id`` (``None`` if it has none) and the value of ``counter`` (0 if
        absent), both strongly consistent. ``DependencyUnavailable`` if either cannot be read."""
        ...


class _SeparateReads:
    """``ClientLookup`` over the directory and the limiter's own store, one read after the other (in-memory
    ports; the DynamoDB deployment reads both at once: ``adapters.dynamo_state.DynamoClientLookup``)."""

    def __init__(self, directory: IdentityDirectory, limiter: RateLimiter) -> None:
        self._directory = directory
        self._limiter = limiter

    def client_and_count(self, client_id: str, counter: CounterRead) -> tuple[ClientRef | None, int]:
        count = self._limiter.peek(counter)
        return self._directory.client(client_id), count


def _refuse_if_locked(decision: Decision) -> None:
    if not decision.allowed:
        raise RateLimited("too many failed attempts; try again later", decision.retry_after)


class ClientAuthenticator:
    """Authenticates OAuth clients against current directory state."""

    def __init__(
        self,
        directory: IdentityDirectory,
        pepper: SecretPepper,
        limiter: RateLimiter,
        clock: Clock,
        *,
        region: str,
        lookup: ClientLookup | None = None,
    ) -> None:
        """``lookup``: reads a client's registry entry with its lock-out counter (default: the directory, then
        the limiter's store)."""
        self._directory = directory
        self._pepper = pepper
        self._limiter = limiter
        self._clock = clock
        self._region = region
        self._lookup = lookup if lookup is not None else _SeparateReads(directory, limiter)

    def check_lockout(self, subject: str) -> None:
        """``RateLimited`` if ``subject`` is locked out after too many failures."""
        _refuse_if_locked(self._limiter.check(AUTH_FAILURE, subject))  # is_locked() without its extra call layer

    def count_password_attempt(self, subject: str) -> None:
        """Count one password attempt of ``subject`` (atomic increment, then decide) BEFORE its password is
        verified; ``RateLimited`` beyond the ``password_attempts`` limit. Unlike the read-only lock-out check,
        this cannot be raced: N concurrent guesses make N increments, and only ``limit`` of them pass."""
        decision = self._limiter.hit(PASSWORD_ATTEMPTS, subject)
        if not decision.allowed:
            raise RateLimited("too many failed attempts; try again later", decision.retry_after)

    def record_failure(self, subject: str, tenant_id: str | None, actor: Actor) -> None:
        """Count a failed authentication; the failure that locks the subject out emits
        ``AuthenticationLockedOut`` (only for subjects we know, so that unknown names cannot fill the log)."""
        decision = self._limiter.record_failure(subject)
        if decision.allowed or tenant_id is None:
            return
        # Imported here, on the failure path: a successful grant never builds an audit event or a write.
        from wiresocket.domain.audit import AuditEvent, DetailType
        from wiresocket.domain.errors import Conflict
        from wiresocket.ports import RecordAudit

        event = AuditEvent(
            detail_type=DetailType.AUTHENTICATION_LOCKED_OUT,
            actor=actor,
            region=self._region,
            occurred_at=self._clock.now(),
            tenant_id=tenant_id,
            data={"subjectType": actor.type.value, "subjectId": actor.id, "retryAfter": decision.retry_after},
        )
        with contextlib.suppress(Conflict):
            self._directory.commit([RecordAudit(event)])

    def authenticate(self, credentials: ClientCredentials | None, *, secret_required: bool) -> AuthenticatedClient:
        """The client behind ``credentials`` in its current state.

        ``InvalidClient`` when no client was named, the client is unknown, the secret is wrong (or missing
        while required), or the client, its tenant or its app is not active; ``RateLimited`` when locked out.
        A secret that is sent is always checked, even where it is optional.
        """
        if credentials is None:
            raise InvalidClient("client authentication required")
        client_id = credentials.client_id
        if not is_client_id(client_id):
            raise InvalidClient("unknown client or bad credentials")
        subject = client_subject(client_id)
        counter = self._limiter.counter_read(AUTH_FAILURE, subject)
        ref, failures = self._lookup.client_and_count(client_id, counter)
        _refuse_if_locked(self._limiter.decide_read(counter, failures))  # before anything else is looked at
        app = dashboard = None
        stored_hash = _NO_SUCH_CLIENT_HASH
        if ref is not None and ref.kind is ClientKind.APP and ref.app_id is not None:
            app = self._directory.app(ref.tenant_id, ref.app_id)
            stored_hash = app.secret_hash if app is not None else stored_hash
        elif ref is not None and ref.kind is ClientKind.DASHBOARD:
            dashboard = self._directory.dashboard_client(client_id)
            stored_hash = dashboard.secret_hash if dashboard is not None else stored_hash
        verified = False
        if credentials.secret is not None:
            verified = verify_client_secret(credentials.secret, stored_hash, self._pepper.key())
        known = ref is not None and (app is not None or dashboard is not None)
        if not known or (credentials.secret is not None and not verified) or (secret_required and not verified):
            tenant_id = ref.tenant_id if known and ref is not None else None
            if credentials.secret is not None or not known:
                from wiresocket.domain.audit import Actor, ActorType

                self.record_failure(subject, tenant_id, Actor(ActorType.APP, client_id))
            raise InvalidClient("unknown client or bad credentials")
        assert ref is not None
        tenant, keys = self._directory.tenant_with_keys(ref.tenant_id)
        if tenant is None or not tenant.is_active:
            raise InvalidClient("the client's tenant is not active")
        if app is not None and not app.is_enabled:
            raise InvalidClient("the client is disabled")
        if dashboard is not None and not (dashboard.enabled and dashboard.trusted):
            raise InvalidClient("the client is disabled")
        return AuthenticatedClient(ref, tenant, keys, app, dashboard, verified)
