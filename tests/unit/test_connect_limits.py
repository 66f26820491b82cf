"""Connect-time plan limits without AWS (SPEC §8, issue 6): the pure decisions in ``domain.limits``, how
``$connect`` answers a connection over a limit (accepted, registered as refused), and how ``$default``
answers such a connection's first frame (the error frame with the documented code, then closed, nothing
counted or relayed). The atomic counters themselves run on moto in ``tests/integration/test_connect_limits.py``."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from tests.fakes.memory import FakeClock
from wiresocket.domain.connections import INVALID_DOCUMENT, AuthorizedConnection, ConnectionRecord, registry_key
from wiresocket.domain.limits import (
    INVALID_NAME,
    CloseCode,
    Refusal,
    connect_refusal,
    connection_limit_exceeded,
    connections_counter_key,
    document_limit_exceeded,
    document_users_key,
    documents_counter_key,
    uncounted_refusal,
    users_per_doc_exceeded,
    zero_limit_refusal,
)
from wiresocket.services.connections import ConnectionService, handle_connection_event
from wiresocket.services.relay import RelayService, Sender

WS_REGION = "eu-west-1"
ENDPOINT = "https://api1.execute-api.eu-west-1.amazonaws.com/prod"
LIMITS = {"maxConnections": 1, "maxDocuments": 1, "maxUsersPerDoc": 1, "opsPerMinute": 10}


def authorized(doc: str = "notes", limits: Mapping[str, int] = LIMITS) -> AuthorizedConnection:
    return AuthorizedConnection("t1", "a1", "kid-1", "aws-eu-west-1", dict(limits), (), doc, "Bearer", 1_900_000_000)


class PlainRegistry:
    """A registry without limit enforcement (no ``admit``/``refusal``)."""

    def __init__(self) -> None:
        self.records: dict[str, ConnectionRecord] = {}
        self.refused: dict[str, Refusal] = {}

    def put(self, record: ConnectionRecord) -> None:
        self.records[record.key] = record

    def delete(self, license_region: str, key: str) -> None:
        self.records.pop(key, None)
        self.refused.pop(key, None)

    def by_tenant(self, license_region: str, tenant_id: str) -> Iterator[ConnectionRecord]:
        return iter(list(self.records.values()))

    def by_app(self, license_region: str, tenant_id: str, app_id: str) -> Iterator[ConnectionRecord]:
        return iter(list(self.records.values()))

    def by_document(
        self, license_region: str, tenant_id: str, app_id: str, document: str
    ) -> Iterator[ConnectionRecord]:
        return iter([r for k, r in self.records.items() if k not in self.refused])


class LimitedRegistry(PlainRegistry):
    """A registry that admits ``admit_first`` connections, then refuses with ``refusal``."""

    def __init__(self, admit_first: int, refusal: Refusal) -> None:
        super().__init__()
        self.admit_first = admit_first
        self.refusal_to_give = refusal

    def admit(self, record: ConnectionRecord, limits: Mapping[str, int], ws_url: str = "") -> Refusal | None:
        self.records[record.key] = record
        if len(self.records) - len(self.refused) > self.admit_first:
            self.refused[record.key] = self.refusal_to_give
            return self.refusal_to_give
        return None

    def refusal(self, license_region: str, key: str) -> Refusal | None:
        return self.refused.get(key)


@dataclass
class Poster:
    posted: list[tuple[str, str]] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)

    def post(self, endpoint: str, connection_id: str, region: str, data: str) -> bool:
        self.posted.append((connection_id, data))
        return True

    def close(self, endpoint: str, connection_id: str, region: str) -> bool:
        self.closed.append(connection_id)
        return True


class Untouchable:
    """Any attribute access fails the test: the refused path must not reach documents, state or counters."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"refused connection reached {name}")


def connect_event(event_type: str, connection_id: str, auth: AuthorizedConnection) -> dict[str, Any]:
    context: dict[str, Any] = {k: str(v) for k, v in auth.context().items()}
    return {"requestContext": {"eventType": event_type, "connectionId": connection_id, "authorizer": context}}


# --- domain -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (4006, "Rate limit exceeded: 1 ops/min"),  # not a connect-time code
        (4003, "Forbidden"),
        (4004, ""),  # no reason
        (4004, "x" * 124),  # longer than a close reason may be
        (1000, "Connection limit exceeded: 1"),  # not a close code of ours
    ],
)
def test_stored_refusals_other_than_4004_4005_4008_are_rejected(code: int, reason: str) -> None:
    # Given a stored refusal that is not a connect-time one / When it is read / Then it is refused
    with pytest.raises(ValueError):
        connect_refusal(code, reason)


def test_connect_refusals_carry_the_documented_codes_and_reasons() -> None:
    # Given each limit / Then code and reason are as the public docs word them
    assert connection_limit_exceeded(40) == Refusal(CloseCode.CONNECTION_LIMIT, "Connection limit exceeded: 40")
    assert users_per_doc_exceeded(3) == Refusal(CloseCode.USERS_PER_DOC, "Document user limit exceeded: 3")
    assert document_limit_exceeded(10, 10) == Refusal(
        CloseCode.DOCUMENT_LIMIT, "Document limit exceeded: 10 (active: 10)"
    )
    assert connect_refusal(4005, "Document limit exceeded: 10 (active: 10)").code is CloseCode.DOCUMENT_LIMIT


def test_a_zero_limit_refuses_without_counting_and_4004_precedes_4008_precedes_4005() -> None:
    # Given limits of zero / Then the refusal follows the precedence, and positive limits refuse nothing
    assert zero_limit_refusal(0, 0, 0) == connection_limit_exceeded(0)
    assert zero_limit_refusal(1, 0, 0) == users_per_doc_exceeded(0)
    assert zero_limit_refusal(1, 1, 0) == document_limit_exceeded(0, 0)
    assert zero_limit_refusal(1, 1, 1) is None


def test_counter_keys_are_per_app_and_per_document() -> None:
    # Given two apps and two documents / Then no two counters share a key
    keys = {
        connections_counter_key("t", "a"),
        connections_counter_key("t", "b"),
        documents_counter_key("t", "a"),
        document_users_key("t", "a", "d1"),
        document_users_key("t", "a", "d2"),
        document_users_key("t", "b", "d1"),
    }
    assert len(keys) == 6


# --- $connect -----------------------------------------------------------------------------------------------------


def test_connect_over_a_limit_is_accepted_and_registered_as_refused() -> None:
    # Given a registry that admits one connection
    registry = LimitedRegistry(1, connection_limit_exceeded(1))
    service = ConnectionService(registry, FakeClock(), ws_region=WS_REGION, endpoint=ENDPOINT, limits=registry)
    # When two connect
    first, why_first = handle_connection_event(connect_event("CONNECT", "c1", authorized()), lambda: service)
    second, why_second = handle_connection_event(connect_event("CONNECT", "c2", authorized()), lambda: service)
    # Then both handshakes succeed (a frame cannot be sent during $connect), the second is marked refused
    assert (first["statusCode"], second["statusCode"]) == (200, 200)
    assert second["headers"] == {"Sec-WebSocket-Protocol": "Bearer"}
    assert (why_first, why_second) == ("registered", "refused 4004")
    assert service.refusal("aws-eu-west-1", WS_REGION, "c1") is None
    assert service.refusal("aws-eu-west-1", WS_REGION, "c2") == connection_limit_exceeded(1)
    # And the refused one is not a relay target
    targets = service.document_connections("aws-eu-west-1", "t1", "a1", "notes")
    assert [r.connection_id for r in targets] == ["c1"]
    # When it disconnects (twice) / Then it is gone and the first remains
    for _ in range(2):
        assert handle_connection_event(connect_event("DISCONNECT", "c2", authorized()), lambda: service)[0] == {
            "statusCode": 200,
            "headers": {},
            "body": "",
        }
    assert list(registry.records) == [registry_key(WS_REGION, "c1")]


def test_without_limits_wired_connections_register_without_refusing() -> None:
    # Given a service without limit enforcement, over a registry that would refuse everyone
    registry = LimitedRegistry(0, connection_limit_exceeded(0))
    # When a connection registers / Then it is stored, never refused
    registry.admit = None  # type: ignore[assignment,method-assign]  # never called
    registry.refusal = None  # type: ignore[assignment,method-assign]
    service = ConnectionService(registry, FakeClock(), ws_region=WS_REGION, endpoint=ENDPOINT)
    service.register("c1", authorized())
    assert list(registry.records) == [registry_key(WS_REGION, "c1")]
    assert service.refusal("aws-eu-west-1", WS_REGION, "c1") is None


# --- $default of a refused connection -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "refusal",
    [connection_limit_exceeded(1), users_per_doc_exceeded(1), document_limit_exceeded(1, 1)],
)
def test_first_frame_of_a_refused_connection_gets_its_close_code_and_closes(refusal: Refusal) -> None:
    # Given a connection $connect accepted over a limit
    registry = LimitedRegistry(0, refusal)
    connections = ConnectionService(registry, FakeClock(), ws_region=WS_REGION, endpoint=ENDPOINT, limits=registry)
    connections.register("c1", authorized())
    poster = Poster()
    untouchable = cast(Any, Untouchable())
    relay = RelayService(untouchable, connections, untouchable, untouchable, poster, FakeClock(), relay_workers=1)
    # When it sends its first frame (a sync step 1)
    outcome = relay.handle(Sender("c1", authorized(), ENDPOINT, WS_REGION), "AAAA")
    # Then it gets the error frame with the code and the documented reason, and is closed;
    # documents, security state and the ops counter are never touched
    assert outcome.refusal == refusal
    assert [json.loads(frame) for _, frame in poster.posted] == [
        {"type": "error", "code": int(refusal.code), "reason": refusal.reason}
    ]
    assert poster.closed == ["c1"]


def test_an_admitted_connection_is_not_refused_by_the_connect_check() -> None:
    # Given an admitted connection / When it sends a frame / Then the check passes it on to the next steps
    registry = LimitedRegistry(1, connection_limit_exceeded(1))
    connections = ConnectionService(registry, FakeClock(), ws_region=WS_REGION, endpoint=ENDPOINT, limits=registry)
    connections.register("c1", authorized())
    relay = RelayService(
        cast(Any, Untouchable()), connections, cast(Any, Untouchable()), cast(Any, Untouchable()), Poster(), FakeClock()
    )
    with pytest.raises(AssertionError, match="tenant_with_keys"):
        relay.handle(Sender("c1", authorized(), ENDPOINT, WS_REGION), "AAAA")


# --- an invalid document name (4007) --------------------------------------------------------------------------------


def test_an_invalid_name_is_refused_before_any_limit_and_only_the_sentinel_is() -> None:
    # Given the authorizer's sentinel / Then 4007 "Invalid Name" decides, even ahead of a zero limit
    assert uncounted_refusal(INVALID_DOCUMENT, 1, 1, 1) == INVALID_NAME
    assert uncounted_refusal(INVALID_DOCUMENT, 0, 0, 0) == INVALID_NAME
    assert (int(INVALID_NAME.code), INVALID_NAME.reason, INVALID_NAME.close) == (4007, "Invalid Name", True)
    # And a real name is left to the zero-limit rule and the counters
    assert uncounted_refusal("notes", 0, 1, 1) == connection_limit_exceeded(0)
    assert uncounted_refusal("notes", 1, 1, 1) is None
    # And 4007 may be stored with a connection and read back
    assert connect_refusal(4007, "Invalid Name") == INVALID_NAME


def test_without_limits_wired_an_invalid_name_is_denied_and_nothing_is_registered() -> None:
    # Given a service without limit enforcement (nothing could refuse the connection after the upgrade)
    registry = PlainRegistry()
    service = ConnectionService(registry, FakeClock(), ws_region=WS_REGION, endpoint=ENDPOINT)
    # When a connection with the invalid-name sentinel connects
    response, why = handle_connection_event(
        connect_event("CONNECT", "c1", authorized(INVALID_DOCUMENT)), lambda: service
    )
    # Then the handshake is refused (403) and nothing is stored
    assert response["statusCode"] == 403 and why == "invalid connection"
    assert registry.records == {}


def test_connect_with_an_invalid_name_is_accepted_registered_refused_and_never_a_member() -> None:
    # Given a registry that refuses the sentinel as the Dynamo one does (uncounted_refusal)
    class NameCheckingRegistry(LimitedRegistry):
        def admit(self, record: ConnectionRecord, limits: Mapping[str, int], ws_url: str = "") -> Refusal | None:
            early = uncounted_refusal(record.document, 1, 1, 1)
            if early is not None:
                self.records[record.key] = record
                self.refused[record.key] = early
                return early
            return super().admit(record, limits, ws_url)

    registry = NameCheckingRegistry(10, connection_limit_exceeded(10))
    service = ConnectionService(registry, FakeClock(), ws_region=WS_REGION, endpoint=ENDPOINT, limits=registry)
    # When it connects
    response, why = handle_connection_event(
        connect_event("CONNECT", "c1", authorized(INVALID_DOCUMENT)), lambda: service
    )
    # Then the handshake succeeds and the connection is registered as refused with 4007
    assert response["statusCode"] == 200 and why == "refused 4007"
    assert service.refusal("aws-eu-west-1", WS_REGION, "c1") == INVALID_NAME


def test_first_frame_of_an_invalid_name_connection_gets_4007_even_if_the_registry_lost_it() -> None:
    # Given a connection with the sentinel that the registry does not know as refused (fail closed)
    registry = LimitedRegistry(10, connection_limit_exceeded(10))
    connections = ConnectionService(registry, FakeClock(), ws_region=WS_REGION, endpoint=ENDPOINT, limits=registry)
    poster = Poster()
    untouchable = cast(Any, Untouchable())
    relay = RelayService(untouchable, connections, untouchable, untouchable, poster, FakeClock(), relay_workers=1)
    # When it sends a frame
    outcome = relay.handle(Sender("c1", authorized(INVALID_DOCUMENT), ENDPOINT, WS_REGION), "AAAA")
    # Then it gets 4007 "Invalid Name" and is closed; no document, state or counter is touched
    assert outcome.refusal == INVALID_NAME
    assert [json.loads(frame) for _, frame in poster.posted] == [
        {"type": "error", "code": 4007, "reason": "Invalid Name"}
    ]
    assert poster.closed == ["c1"]
