"""The browser ``Origin`` binding of app tokens (SPEC §8). Pure: no I/O.

A token that carries ``allowed_domain_*`` claims may only open a WebSocket from a page whose origin is one of
those domains. The comparison is deliberately strict and byte-oriented: the ``Origin`` header is parsed by a
fixed grammar (``scheme "://" host [":" port]``), never by a lenient URL parser, so no suffix, prefix,
userinfo, path, ``null``, trailing-dot, whitespace or Unicode trick can make a foreign origin look like an
allowed one. Every refusal carries a short reason code (for logs and tests, never shown to the client).

Decisions (docs/websocket.md lists them all):

- Exactly one ``Origin`` value must be present when the token has domain claims; two values (even equal
  ones) are refused, as is a missing or empty header and the opaque origin ``null``.
- Scheme and host compare case-insensitively (RFC 6454 §4 lower-cases both); nothing else is normalised.
- ``https`` is required, except for ``localhost`` and ``127.0.0.1``, which may also use ``http``.
- Default ports fold: ``https://h`` ≡ ``https://h:443`` and ``http://localhost`` ≡ ``http://localhost:80``.
  An allowed domain without a port means the default port of the origin's scheme; ``localhost:5173`` allows
  both ``http://localhost:5173`` and ``https://localhost:5173``.
- Hosts are ASCII DNS names or IPv4 addresses only: IPv6 literals, trailing dots, empty labels, ``_`` and any
  non-ASCII character are refused. Punycode (``xn--``) is compared byte for byte like any other label, so it
  matches only an allowed domain spelled with exactly the same ``xn--`` label.
- A port is 1-65535 in canonical decimal (no sign, no leading zero).
- A token without any ``allowed_domain_*`` claim accepts any or no ``Origin`` (SPEC §8: server-to-server
  clients have none). A token whose domain claims are present but unusable (not strings, malformed) allows
  nothing: the restriction stays, it just cannot be met (fail closed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

DOMAIN_CLAIM_PREFIX: Final = "allowed_domain_"
LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1"})
DEFAULT_PORTS: Final = {"https": 443, "http": 80}
MAX_ORIGIN_LENGTH: Final = 300  # 253-character host + scheme + port, with room to spare

_ORIGIN = re.compile(r"\A(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<rest>.*)\Z", re.DOTALL)
_LABEL = re.compile(r"\A(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
_PORT = re.compile(r"\A[1-9][0-9]{0,4}\Z")


class OriginReason(StrEnum):
    """Why an origin was accepted or refused."""

    UNRESTRICTED = "unrestricted"  # the token has no domain claims
    MATCH = "match"
    MISSING = "missing"
    MULTIPLE = "multiple"
    NULL = "null"
    TOO_LONG = "too_long"
    WHITESPACE = "whitespace"
    NON_ASCII = "non_ascii"
    MALFORMED = "malformed"
    SCHEME = "scheme"  # not http/https at all
    INSECURE = "insecure"  # http for a host other than localhost/127.0.0.1
    USERINFO = "userinfo"
    PATH = "path"  # a path, query or fragment after the authority
    IPV6 = "ipv6"
    TRAILING_DOT = "trailing_dot"
    PORT = "port"  # not a canonical 1-65535
    NOT_ALLOWED = "not_allowed"  # well-formed, but not one of the token's domains


@dataclass(frozen=True)
class OriginDecision:
    """The outcome of an origin check."""

    allowed: bool
    reason: OriginReason


@dataclass(frozen=True)
class ParsedOrigin:
    """A well-formed origin: lower-case scheme and host, and the effective port (defaults filled in)."""

    scheme: str
    host: str
    port: int


class OriginRefused(ValueError):
    """The ``Origin`` value is not a well-formed origin; ``reason`` says why."""

    def __init__(self, reason: OriginReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


def _valid_host(host: str) -> bool:
    labels = host.split(".")
    return all(_LABEL.match(label) for label in labels)


def parse_origin(value: str) -> ParsedOrigin:
    """Parse one ``Origin`` header value strictly; raises ``OriginRefused`` with the reason."""
    if len(value) > MAX_ORIGIN_LENGTH:
        raise OriginRefused(OriginReason.TOO_LONG)
    if value == "" or value.lower() == "null":
        raise OriginRefused(OriginReason.NULL if value else OriginReason.MISSING)
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise OriginRefused(OriginReason.WHITESPACE)
    if not value.isascii():
        raise OriginRefused(OriginReason.NON_ASCII)
    match = _ORIGIN.match(value.lower())
    if match is None:
        raise OriginRefused(OriginReason.MALFORMED)
    scheme, authority, rest = match["scheme"], match["authority"], match["rest"]
    if rest:
        raise OriginRefused(OriginReason.PATH)
    if scheme not in DEFAULT_PORTS:
        raise OriginRefused(OriginReason.SCHEME)
    if "@" in authority:
        raise OriginRefused(OriginReason.USERINFO)
    if authority.startswith("["):
        raise OriginRefused(OriginReason.IPV6)
    host, sep, port_text = authority.partition(":")
    if sep and not (_PORT.match(port_text) and int(port_text) <= 65535):
        raise OriginRefused(OriginReason.PORT)
    if host.endswith("."):
        raise OriginRefused(OriginReason.TRAILING_DOT)
    if not host or not _valid_host(host):
        raise OriginRefused(OriginReason.MALFORMED)
    if scheme == "http" and host not in LOOPBACK_HOSTS:
        raise OriginRefused(OriginReason.INSECURE)
    return ParsedOrigin(scheme, host, int(port_text) if sep else DEFAULT_PORTS[scheme])


@dataclass(frozen=True)
class AllowedDomain:
    """One ``allowed_domain_*`` claim: a host and an optional explicit port."""

    host: str
    port: int | None

    @staticmethod
    def parse(value: object) -> AllowedDomain | None:
        """The claim as a domain, or None if it is not a canonical ``host[:port]`` (such a claim allows nothing)."""
        if not isinstance(value, str) or not value.isascii() or value != value.strip() or len(value) > 260:
            return None
        host, sep, port_text = value.lower().partition(":")
        if sep and not (_PORT.match(port_text) and int(port_text) <= 65535):
            return None
        if not host or not _valid_host(host):
            return None
        return AllowedDomain(host, int(port_text) if sep else None)

    def admits(self, origin: ParsedOrigin) -> bool:
        """Same host, byte for byte, and the same effective port (no port = the scheme's default)."""
        port = self.port if self.port is not None else DEFAULT_PORTS[origin.scheme]
        return origin.host == self.host and origin.port == port


def domain_claims(claims: Mapping[str, Any]) -> list[object]:
    """The raw values of every ``allowed_domain_*`` claim, ordered by claim name."""
    return [claims[name] for name in sorted(claims) if name.startswith(DOMAIN_CLAIM_PREFIX)]


@dataclass(frozen=True)
class OriginPolicy:
    """Which origins a token may connect from. ``restricted`` is False only when the token has no domain claims."""

    restricted: bool
    domains: tuple[AllowedDomain, ...]

    @staticmethod
    def from_claims(claims: Mapping[str, Any]) -> OriginPolicy:
        """The policy of a verified token's claims."""
        raw = domain_claims(claims)
        parsed = tuple(d for d in (AllowedDomain.parse(v) for v in raw) if d is not None)
        return OriginPolicy(restricted=bool(raw), domains=parsed)

    def check(self, origins: Sequence[str]) -> OriginDecision:
        """Decide on every ``Origin`` value the handshake carried (all of them: repeated headers count)."""
        if not self.restricted:
            return OriginDecision(True, OriginReason.UNRESTRICTED)
        if not origins:
            return OriginDecision(False, OriginReason.MISSING)
        if len(origins) > 1:
            return OriginDecision(False, OriginReason.MULTIPLE)
        try:
            origin = parse_origin(origins[0])
        except OriginRefused as refused:
            return OriginDecision(False, refused.reason)
        if any(domain.admits(origin) for domain in self.domains):
            return OriginDecision(True, OriginReason.MATCH)
        return OriginDecision(False, OriginReason.NOT_ALLOWED)
