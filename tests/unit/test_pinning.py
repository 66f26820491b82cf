"""Region pinning decisions (domain.pinning): when a pin binds, the 4009 redirect and its 123-byte fallback, which
session a first user continues, and the document key per session."""

from __future__ import annotations

import pytest

from wiresocket.domain.limits import MAX_CLOSE_REASON_BYTES, CloseCode, connect_refusal
from wiresocket.domain.pinning import (
    GRACE_SECONDS,
    DocumentPin,
    kept_session,
    new_session_id,
    redirect_for,
    wrong_region,
)
from wiresocket.services.documents import DocumentRef

NOW = 1_800_000_000
A, B = "eu-west-1", "us-east-1"
URL_A = "wss://a.example/prod"
SESSION = "0123456789abcdef"


def pin(users: int = 1, idle_since: int | None = None, *, url: str = URL_A, grace: int = GRACE_SECONDS) -> DocumentPin:
    return DocumentPin(A, url, users, idle_since, SESSION, grace)


# --- redirect_for ----------------------------------------------------------------------------------------------


def test_no_pin_or_own_region_or_released_pin_never_redirects() -> None:
    # Given no pin, a pin to this region, and a pin idle for exactly the grace period
    # Then no connection is redirected
    assert redirect_for(None, B, "doc", NOW) is None
    assert redirect_for(pin(users=3), A, "doc", NOW) is None
    assert redirect_for(pin(users=0, idle_since=NOW - GRACE_SECONDS), B, "doc", NOW) is None
    # And an idle pin without idleSince (never had a user) does not bind either
    assert redirect_for(pin(users=0), B, "doc", NOW) is None


def test_pin_with_users_or_within_grace_redirects_other_regions_with_the_document_url() -> None:
    # Given a document pinned to A with a user, and one whose last user left 9 s ago
    for current in (pin(users=1), pin(users=0, idle_since=NOW - GRACE_SECONDS + 1)):
        # When a connection comes through B
        refusal = redirect_for(current, B, "my-doc", NOW)
        # Then it is refused with 4009 and the URL of A for this document
        assert refusal is not None and refusal.code == CloseCode.WRONG_REGION and refusal.close
        assert refusal.reason == f"REDIRECT:{URL_A}/?doc=my-doc"


def test_grace_period_follows_the_pin() -> None:
    # Given a pin read with a 2 s grace period, idle for 2 s
    short = pin(users=0, idle_since=NOW - 2, grace=2)
    # Then it is released, while the default grace period would still bind
    assert short.released(NOW) and not short.binds(NOW)
    assert pin(users=0, idle_since=NOW - 2).binds(NOW)


def test_redirect_that_does_not_fit_a_close_reason_falls_back_to_the_region() -> None:
    # Given a pin whose URL plus a 255-character document name exceeds 123 bytes, and one without a URL
    long_doc = "d" * 255
    for current, doc in ((pin(), long_doc), (pin(url=""), "doc")):
        # When the redirect is built
        refusal = wrong_region(current, doc)
        # Then the reason is the docs' fallback naming the region, within the limit, still 4009
        assert refusal.code == CloseCode.WRONG_REGION
        assert refusal.reason == f"Document active in region: {A}"
        assert len(refusal.reason.encode()) <= MAX_CLOSE_REASON_BYTES
    # And a reason of exactly 123 bytes is still a redirect
    base = len(f"REDIRECT:{URL_A}/?doc=".encode())
    exact = wrong_region(pin(), "x" * (MAX_CLOSE_REASON_BYTES - base))
    assert exact.reason.startswith("REDIRECT:") and len(exact.reason.encode()) == MAX_CLOSE_REASON_BYTES
    # And a region name too long for the fallback is cut to fit
    odd = DocumentPin("r" * 200, "", 1)
    assert len(wrong_region(odd, "doc").reason.encode()) == MAX_CLOSE_REASON_BYTES


def test_4009_is_a_connect_time_refusal_but_not_with_an_oversized_reason() -> None:
    # Then a stored 4009 with a reason up to 123 bytes is a valid connect-time refusal, a longer one is not
    assert connect_refusal(4009, wrong_region(pin(), "doc").reason).code == CloseCode.WRONG_REGION
    with pytest.raises(ValueError):
        connect_refusal(4009, "R" * (MAX_CLOSE_REASON_BYTES + 1))


# --- sessions ------------------------------------------------------------------------------------------------------


def test_first_user_starts_a_new_session_unless_reconnecting_within_grace_in_the_pinning_region() -> None:
    idle = pin(users=0, idle_since=NOW - 5)
    # Then: never pinned, another region, released, or a malformed stored session → a new session
    assert kept_session(None, A, NOW) is None
    assert kept_session(idle, B, NOW) is None
    assert kept_session(pin(users=0, idle_since=NOW - GRACE_SECONDS), A, NOW) is None
    assert kept_session(DocumentPin(A, URL_A, 0, NOW - 5, "not-a-session"), A, NOW) is None
    # And a reconnect within the grace period in the pinning region keeps the session (and the state)
    assert kept_session(idle, A, NOW) == SESSION


def test_new_sessions_are_distinct_and_name_distinct_partitions() -> None:
    # Given two new session ids
    one, two = new_session_id(), new_session_id()
    assert one != two and len(one) == 16
    # Then refs in different sessions never share a key, nor with the unpinned key
    base = DocumentRef("aws-eu-west-1", "t", "a", "doc")
    keys = {base.key, DocumentRef("aws-eu-west-1", "t", "a", "doc", one).key}
    keys.add(DocumentRef("aws-eu-west-1", "t", "a", "doc", two).key)
    assert len(keys) == 3
    assert base.key == "t#a#doc"
