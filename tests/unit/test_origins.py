"""The Origin binding of app tokens (SPEC §8): each variant with its decision and its reason code."""

from __future__ import annotations

from typing import Any

import pytest

from wiresocket.domain.origins import OriginPolicy, OriginReason, parse_origin

CLAIMS: dict[str, Any] = {
    "sub": "client",
    "allowed_domain_1": "app.example.com",
    "allowed_domain_2": "localhost:5173",
}
R = OriginReason

# (label, Origin header values, allowed?, reason). Refusals first.
VARIANTS: list[tuple[str, list[str], bool, OriginReason]] = [
    # --- Missing, null, several
    ("missing origin", [], False, R.MISSING),
    ("empty origin", [""], False, R.MISSING),
    ("null origin", ["null"], False, R.NULL),
    ("NULL upper-case", ["NULL"], False, R.NULL),
    ("two equal origin headers", ["https://app.example.com", "https://app.example.com"], False, R.MULTIPLE),
    ("two different origin headers", ["https://evil.com", "https://app.example.com"], False, R.MULTIPLE),
    ("comma-joined list in one header", ["https://app.example.com, https://evil.com"], False, R.WHITESPACE),
    ("comma-joined without space", ["https://app.example.com,https://evil.com"], False, R.PATH),
    # --- Suffix and prefix tricks
    ("suffix: allowed name as subdomain of evil", ["https://app.example.com.evil.com"], False, R.NOT_ALLOWED),
    ("prefix: evilapp.example.com", ["https://evilapp.example.com"], False, R.NOT_ALLOWED),
    ("sub-subdomain of allowed", ["https://x.app.example.com"], False, R.NOT_ALLOWED),
    ("parent domain of allowed", ["https://example.com"], False, R.NOT_ALLOWED),
    ("allowed name in the path", ["https://evil.com/app.example.com"], False, R.PATH),
    ("allowed name in the query", ["https://evil.com?app.example.com"], False, R.PATH),
    ("allowed name in the fragment", ["https://evil.com#app.example.com"], False, R.PATH),
    ("trailing slash", ["https://app.example.com/"], False, R.PATH),
    ("path on the allowed origin", ["https://app.example.com/app"], False, R.PATH),
    ("hyphen lookalike", ["https://app-example.com"], False, R.NOT_ALLOWED),
    # --- Userinfo
    ("userinfo: allowed@evil", ["https://app.example.com@evil.com"], False, R.USERINFO),
    ("userinfo: evil@allowed", ["https://evil.com@app.example.com"], False, R.USERINFO),
    ("userinfo with password", ["https://user:pw@app.example.com"], False, R.USERINFO),
    # --- Scheme
    ("http for a public host", ["http://app.example.com"], False, R.INSECURE),
    ("ws scheme", ["ws://app.example.com"], False, R.SCHEME),
    ("wss scheme", ["wss://app.example.com"], False, R.SCHEME),
    ("file scheme", ["file://app.example.com"], False, R.SCHEME),
    ("chrome extension", ["chrome-extension://abcdefghijklmnop"], False, R.SCHEME),
    ("no scheme", ["app.example.com"], False, R.MALFORMED),
    ("scheme-relative", ["//app.example.com"], False, R.MALFORMED),
    ("single slash", ["https:/app.example.com"], False, R.MALFORMED),
    # --- Ports
    ("wrong port", ["https://app.example.com:8443"], False, R.NOT_ALLOWED),
    ("http default port is not https's", ["https://app.example.com:80"], False, R.NOT_ALLOWED),
    ("localhost wrong port", ["https://localhost:5174"], False, R.NOT_ALLOWED),
    ("localhost http wrong port", ["http://localhost:5174"], False, R.NOT_ALLOWED),
    ("localhost without port", ["http://localhost"], False, R.NOT_ALLOWED),
    ("127.0.0.1 is not localhost", ["http://127.0.0.1:5173"], False, R.NOT_ALLOWED),
    ("empty port", ["https://app.example.com:"], False, R.PORT),
    ("leading-zero port", ["http://localhost:05173"], False, R.PORT),
    ("port 0", ["https://app.example.com:0"], False, R.PORT),
    ("port over 65535", ["https://app.example.com:70000"], False, R.PORT),
    ("non-numeric port", ["https://app.example.com:443x"], False, R.PORT),
    ("signed port", ["https://app.example.com:+443"], False, R.PORT),
    # --- Host forms
    ("trailing dot", ["https://app.example.com."], False, R.TRAILING_DOT),
    ("trailing dot with port", ["https://app.example.com.:443"], False, R.TRAILING_DOT),
    ("empty label", ["https://app..example.com"], False, R.MALFORMED),
    ("underscore host", ["https://app_x.example.com"], False, R.MALFORMED),
    ("ipv6 loopback", ["http://[::1]:5173"], False, R.IPV6),
    ("ipv6 mapped", ["https://[::ffff:127.0.0.1]"], False, R.IPV6),
    ("percent-encoded host", ["https://app%2eexample.com"], False, R.MALFORMED),
    ("backslash trick", ["https://evil.com\\app.example.com"], False, R.MALFORMED),
    # --- Unicode and punycode
    ("cyrillic a lookalike", ["https://\u0430pp.example.com"], False, R.NON_ASCII),
    ("fullwidth dot", ["https://app\uff0eexample.com"], False, R.NON_ASCII),
    ("punycode lookalike", ["https://xn--pp-6kc.example.com"], False, R.NOT_ALLOWED),
    ("zero-width space", ["https://app.example.com\u200b"], False, R.NON_ASCII),
    # --- Whitespace and control characters
    ("leading space", [" https://app.example.com"], False, R.WHITESPACE),
    ("trailing space", ["https://app.example.com "], False, R.WHITESPACE),
    ("tab inside", ["https://app.example.com\t"], False, R.WHITESPACE),
    ("newline injection", ["https://app.example.com\r\nX: y"], False, R.WHITESPACE),
    ("NUL byte", ["https://app.example.com\x00.evil.com"], False, R.WHITESPACE),
    ("oversized", ["https://" + "a" * 300 + ".example.com"], False, R.TOO_LONG),
    # --- Accepted
    ("exact https", ["https://app.example.com"], True, R.MATCH),
    ("https default port folded", ["https://app.example.com:443"], True, R.MATCH),
    ("case-folded host", ["https://APP.Example.COM"], True, R.MATCH),
    ("case-folded scheme and host", ["HTTPS://APP.EXAMPLE.COM"], True, R.MATCH),
    ("localhost dev server over http", ["http://localhost:5173"], True, R.MATCH),
    ("localhost dev server over https", ["https://localhost:5173"], True, R.MATCH),
    ("LOCALHOST case-folded", ["http://LOCALHOST:5173"], True, R.MATCH),
]


@pytest.mark.parametrize(("label", "origins", "allowed", "reason"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_origin_variant(label: str, origins: list[str], allowed: bool, reason: OriginReason) -> None:
    # Given a token bound to app.example.com and localhost:5173
    policy = OriginPolicy.from_claims(CLAIMS)
    # When the handshake carries these Origin values
    decision = policy.check(origins)
    # Then the decision and its reason are as SPEC §8 says
    assert (decision.allowed, decision.reason) == (allowed, reason)


def test_the_table_is_big_enough() -> None:
    assert len(VARIANTS) >= 40
    assert sum(1 for v in VARIANTS if v[2]) >= 5


@pytest.mark.parametrize("origins", [[], ["null"], ["https://evil.example"], ["x", "y"], ["not an origin"]])
def test_a_token_without_domain_claims_accepts_any_or_no_origin(origins: list[str]) -> None:
    # Given a token with no allowed_domain_* claim (a server-to-server client)
    policy = OriginPolicy.from_claims({"sub": "client"})
    # When / Then any Origin, or none, is accepted
    decision = policy.check(origins)
    assert decision.allowed and decision.reason is R.UNRESTRICTED


@pytest.mark.parametrize(
    "claims",
    [
        {"allowed_domain_1": ""},
        {"allowed_domain_1": 42},
        {"allowed_domain_1": None},
        {"allowed_domain_1": "https://app.example.com"},
        {"allowed_domain_1": "*.example.com"},
        {"allowed_domain_1": " app.example.com"},
    ],
)
def test_unusable_domain_claims_allow_nothing(claims: dict[str, Any]) -> None:
    # Given a token whose domain claims are present but unusable
    policy = OriginPolicy.from_claims(claims)
    # When the page comes from the intended origin (or anything else)
    # Then the restriction stands and nothing matches (fail closed)
    assert policy.restricted
    assert not policy.check(["https://app.example.com"]).allowed
    assert not policy.check([]).allowed


def test_a_punycode_domain_matches_only_itself_byte_for_byte() -> None:
    # Given a token for an IDN domain, stored in its xn-- form
    policy = OriginPolicy.from_claims({"allowed_domain_1": "xn--bcher-kva.example"})
    # Then the same xn-- origin matches, a differently spelled label does not
    assert policy.check(["https://xn--bcher-kva.example"]).allowed
    assert not policy.check(["https://xn--bcher-kvb.example"]).allowed
    assert policy.check(["https://b\u00fccher.example"]).reason is R.NON_ASCII


def test_an_explicit_default_port_in_the_claim_folds_too() -> None:
    policy = OriginPolicy.from_claims({"allowed_domain_1": "app.example.com:443"})
    assert policy.check(["https://app.example.com"]).allowed
    assert policy.check(["https://app.example.com:443"]).allowed
    assert not policy.check(["https://app.example.com:8443"]).allowed


def test_loopback_without_port_folds_http_port_80() -> None:
    policy = OriginPolicy.from_claims({"allowed_domain_1": "127.0.0.1"})
    assert policy.check(["http://127.0.0.1"]).allowed
    assert policy.check(["http://127.0.0.1:80"]).allowed
    assert policy.check(["https://127.0.0.1"]).allowed
    assert not policy.check(["http://127.0.0.1:8080"]).allowed


def test_parse_origin_fills_in_default_ports() -> None:
    assert parse_origin("https://a.example").port == 443
    assert parse_origin("http://localhost").port == 80
