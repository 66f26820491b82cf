"""Rotating refresh tokens in families, with reuse detection (SPEC §3).

- ``start``: a new family and its first token (committed by the caller with nothing else, after the access
  token was signed, so a failure leaves no state behind).
- ``rotation_writes``: consume the presented token and add its successor; the consume is conditional on the
  token still being ``active``, so of N concurrent refreshes of one token exactly one commits.
- ``revoke_for_reuse``: a used token came back (or lost the race): revoke the family and record
  ``RefreshTokenReuseDetected`` in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from wiresocket.domain.audit import Actor, ActorType, AuditEvent, DetailType
from wiresocket.domain.credentials import generate_refresh_token, hash_refresh_token
from wiresocket.domain.errors import Conflict
from wiresocket.domain.refresh import (
    FamilyStatus,
    RefreshFamily,
    RefreshStatus,
    RefreshToken,
    SubjectKind,
    new_family_id,
)
from wiresocket.ports import (
    CheckRefreshFamilyActive,
    Clock,
    ConsumeRefreshToken,
    IdentityDirectory,
    PutRefreshFamily,
    PutRefreshToken,
    RecordAudit,
    RevokeRefreshFamily,
    Write,
)

MAX_REFRESH_TOKEN_LENGTH = 256


@dataclass(frozen=True)
class RefreshPolicy:
    """Lifetimes (settings: ``TokenSettings``)."""

    token_ttl_seconds: int = 7 * 24 * 3600
    family_max_age_seconds: int = 30 * 24 * 3600


@dataclass(frozen=True)
class Presented:
    """A presented refresh token as stored, with its family."""

    token: RefreshToken
    family: RefreshFamily


class RefreshTokens:
    """Refresh-token families over the directory."""

    def __init__(
        self, directory: IdentityDirectory, clock: Clock, *, region: str, policy: RefreshPolicy | None = None
    ) -> None:
        self._directory = directory
        self._clock = clock
        self._region = region
        self._policy = policy or RefreshPolicy()

    def _now(self) -> int:
        return int(self._clock.now())

    def _new_token(self, family: RefreshFamily, now: int) -> tuple[str, RefreshToken]:
        raw = generate_refresh_token()
        expires = min(now + self._policy.token_ttl_seconds, family.expires_at)
        token = RefreshToken(
            token_hash=hash_refresh_token(raw),
            family_id=family.family_id,
            tenant_id=family.tenant_id,
            client_id=family.client_id,
            status=RefreshStatus.ACTIVE,
            issued_at=now,
            expires_at=expires,
        )
        return raw, token

    def start_writes(
        self,
        *,
        tenant_id: str,
        subject_kind: SubjectKind,
        subject_id: str,
        client_id: str,
        scope: str,
        credential_generation: int,
    ) -> tuple[str, list[Write]]:
        """A new family and its first token: the raw token (to hand out once) and the writes to commit."""
        now = self._now()
        family = RefreshFamily(
            family_id=new_family_id(),
            tenant_id=tenant_id,
            subject_kind=subject_kind,
            subject_id=subject_id,
            client_id=client_id,
            scope=scope,
            credential_generation=credential_generation,
            status=FamilyStatus.ACTIVE,
            created_at=now,
            expires_at=now + self._policy.family_max_age_seconds,
        )
        raw, token = self._new_token(family, now)
        return raw, [PutRefreshFamily(family), PutRefreshToken(token)]

    def lookup(self, raw: str) -> Presented | None:
        """The stored token and family for a presented raw token; None if unknown (or absurdly long)."""
        if not raw or len(raw) > MAX_REFRESH_TOKEN_LENGTH:
            return None
        token = self._directory.refresh_token(hash_refresh_token(raw))
        if token is None:
            return None
        family = self._directory.refresh_family(token.family_id)
        if family is None:
            return None
        return Presented(token, family)

    def is_live(self, presented: Presented, credential_generation: int | None) -> bool:
        """Whether the token may be used now: active, unexpired, in an active, unexpired family of the
        client's current credential generation (None: not checked by the caller)."""
        now = self._now()
        token, family = presented.token, presented.family
        return (
            token.status is RefreshStatus.ACTIVE
            and now < token.expires_at
            and family.is_active
            and now < family.expires_at
            and (credential_generation is None or family.credential_generation == credential_generation)
        )

    def rotation_writes(self, presented: Presented) -> tuple[str, list[Write]]:
        """Consume ``presented`` and mint its successor in the same family (same scope)."""
        now = self._now()
        raw, successor = self._new_token(presented.family, now)
        return raw, [
            ConsumeRefreshToken(presented.token.used(now)),
            CheckRefreshFamilyActive(presented.family.family_id),
            PutRefreshToken(successor),
        ]

    def revoke_for_reuse(self, presented: Presented) -> bool:
        """Revoke the family of a replayed token and record ``RefreshTokenReuseDetected`` atomically.

        False if the family was already revoked (then nothing is written: one event per family).
        """
        family = presented.family
        actor_type = ActorType.APP if family.subject_kind is SubjectKind.APP else ActorType.USER
        event = AuditEvent(
            detail_type=DetailType.REFRESH_TOKEN_REUSE_DETECTED,
            actor=Actor(actor_type, family.subject_id),
            region=self._region,
            occurred_at=self._clock.now(),
            tenant_id=family.tenant_id,
            app_id=family.subject_id if family.subject_kind is SubjectKind.APP else None,
            data={"familyId": family.family_id, "clientId": family.client_id, "subjectKind": family.subject_kind},
        )
        try:
            self._directory.commit(
                [RevokeRefreshFamily(family.revoked(self._now(), "reuse_detected")), RecordAudit(event)]
            )
        except Conflict:
            return False
        return True

    def revoke(self, presented: Presented, reason: str) -> bool:
        """Revoke the family (RFC 7009). False if it was already revoked."""
        try:
            self._directory.commit([RevokeRefreshFamily(presented.family.revoked(self._now(), reason))])
        except Conflict:
            return False
        return True
