"""Master-key references as an operator may name them (SPEC §5): checked before any KMS call."""

from __future__ import annotations

import re

from wiresocket.domain.errors import InvalidInput

_KEY_ID = r"(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})"
_MASTER_KEY_REF = re.compile(
    rf"\A(?:{_KEY_ID}|arn:aws[a-z-]*:kms:[a-z0-9-]{{1,32}}:\d{{12}}:key/{_KEY_ID}|alias/[A-Za-z0-9/_-]{{1,250}})\Z"
)


def validate_master_key_ref(value: object) -> str:
    """``value`` if it names a KMS key (key id, key ARN or ``alias/...``), else ``InvalidInput``.

    AWS-managed aliases (``alias/aws/...``) are refused: their keys cannot carry our key policy.
    """
    if not isinstance(value, str) or _MASTER_KEY_REF.match(value) is None or value.startswith("alias/aws/"):
        raise InvalidInput("targetKeyId must be a KMS key id, key ARN or alias/... name")
    return value
