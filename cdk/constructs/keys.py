"""KMS keys: the master key that wraps tenant signing keys, and the key that encrypts control-plane tables.

SPEC §5: every tenant private key is envelope-encrypted under the master key with the KMS EncryptionContext
``{tenantId, kid}``. The key policy itself refuses any cryptographic use of the master key without exactly
that context, so neither a bug nor an over-broad IAM policy can wrap or unwrap a key outside its binding.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from aws_cdk import Duration, RemovalPolicy, aws_iam, aws_kms
from constructs import Construct

from wiresocket.config import KeyVaultSettings

# The alias is the default of the key-vault settings model, so the functions and the key agree on one name.
MASTER_KEY_ALIAS: Final[str] = next(
    str(f.default) for f in dataclasses.fields(KeyVaultSettings) if f.name == "master_key_id"
)
DIRECTORY_KEY_ALIAS: Final = "alias/wiresocket-directory"

ENCRYPTION_CONTEXT_KEYS: Final = ("tenantId", "kid")
"""The EncryptionContext keys every use of the master key must carry, and the only ones it may carry."""

ENVELOPE_ACTIONS: Final = (
    "kms:GenerateDataKey",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)
"""What tenant-key code may do with the master key: make, unwrap and re-wrap data keys (SPEC §5)."""

_GUARDED_ACTIONS: Final = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
)


class PlatformKeys(Construct):
    """The master key (tenant-key envelopes) and the table key, both multi-Region and rotated.

    The table key encrypts the directory (and its future replicas) and the primary region's control-plane
    tables (rate-limit counters) at rest; functions may use it only through DynamoDB (``kms:ViaService``).

    Both keys are retained when the stack is deleted: losing the master key loses every tenant key.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.master_key = aws_kms.Key(
            self,
            "MasterKey",
            description="WireSocket master key: wraps tenant signing-key data keys (context tenantId, kid)",
            alias=MASTER_KEY_ALIAS,
            enable_key_rotation=True,
            multi_region=True,  # replicated to the regional stacks so they can unwrap locally (SPEC §1)
            pending_window=Duration.days(30),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self._require_encryption_context(self.master_key)
        self.directory_key = aws_kms.Key(
            self,
            "DirectoryKey",
            description="WireSocket control-plane tables encryption at rest (directory, rate-limit counters)",
            alias=DIRECTORY_KEY_ALIAS,
            enable_key_rotation=True,
            multi_region=True,  # global-table replicas need a replica of this key in their region
            pending_window=Duration.days(30),
            removal_policy=RemovalPolicy.RETAIN,
        )

    def grant_envelope(self, grantee: aws_iam.IGrantable, actions: tuple[str, ...] = ENVELOPE_ACTIONS) -> aws_iam.Grant:
        """Let ``grantee`` use the master key for ``actions``, only with an EncryptionContext of tenantId+kid.

        Pass a subset of ``ENVELOPE_ACTIONS`` for least privilege, e.g. only ``kms:Decrypt`` for a function
        that signs with existing keys but never creates or re-wraps them.
        """
        unknown = set(actions) - set(ENVELOPE_ACTIONS)
        if unknown or not actions:
            raise ValueError(f"not envelope actions: {sorted(unknown) or 'none given'}")
        return aws_iam.Grant.add_to_principal(
            grantee=grantee,
            actions=list(actions),
            resource_arns=[self.master_key.key_arn],
            conditions={
                # Only these keys may appear ...
                "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": list(ENCRYPTION_CONTEXT_KEYS)},
                # ... and each must be present (ForAllValues alone is also true for an empty context).
                "Null": {f"kms:EncryptionContext:{key}": "false" for key in ENCRYPTION_CONTEXT_KEYS},
            },
        )

    @staticmethod
    def _require_encryption_context(key: aws_kms.Key) -> None:
        # Deny statements in the key policy bind every principal, administrators included; IAM grants can
        # only narrow this further. One statement per missing key: conditions inside a statement are ANDed.
        for context_key in ENCRYPTION_CONTEXT_KEYS:
            key.add_to_resource_policy(
                aws_iam.PolicyStatement(
                    sid=f"DenyUseWithout{context_key[0].upper()}{context_key[1:]}Context",
                    effect=aws_iam.Effect.DENY,
                    principals=[aws_iam.AnyPrincipal()],
                    actions=list(_GUARDED_ACTIONS),
                    resources=["*"],
                    conditions={"Null": {f"kms:EncryptionContext:{context_key}": "true"}},
                )
            )
        key.add_to_resource_policy(
            aws_iam.PolicyStatement(
                sid="DenyUseWithOtherContextKeys",
                effect=aws_iam.Effect.DENY,
                principals=[aws_iam.AnyPrincipal()],
                actions=list(_GUARDED_ACTIONS),
                resources=["*"],
                conditions={
                    "ForAnyValue:StringNotEquals": {"kms:EncryptionContextKeys": list(ENCRYPTION_CONTEXT_KEYS)}
                },
            )
        )
