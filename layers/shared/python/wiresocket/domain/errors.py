"""The domain's exception tree. Each surface (``edge/``) maps these to responses in exactly one place.

Handlers and edges branch on the exception *type* (and its ``code``), never on message text.
"""

from __future__ import annotations


class WireSocketError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "error"


class InvalidInput(WireSocketError):
    """Input from outside failed validation; nothing was changed."""

    code = "invalid_input"


class NotFound(WireSocketError):
    """The named thing does not exist (or is not visible to the caller)."""

    code = "not_found"


class Conflict(WireSocketError):
    """The change conflicts with current state (a concurrent writer won, or a precondition failed)."""

    code = "conflict"


class LockBusy(Conflict):
    """A distributed lock is held by someone else and did not come free in time."""

    code = "lock_busy"


class LeaseLost(Conflict):
    """Our lease expired and was taken over; the fenced write was refused."""

    code = "lease_lost"


class DependencyUnavailable(WireSocketError):
    """A dependency (KMS, DynamoDB, EventBridge) failed; the operation changed nothing and may be retried."""

    code = "temporarily_unavailable"


class KeyUnavailable(WireSocketError):
    """No usable signing key (tenant without an active key, or its key material cannot be unwrapped)."""

    code = "key_unavailable"


class IntegrityError(WireSocketError):
    """Stored key material failed authentication (wrong context, tampered ciphertext). Never retried."""

    code = "integrity_error"
