"""KMS keys: the master keys that wrap tenant signing keys, and the key that encrypts control-plane tables.

SPEC §5: every tenant private key is envelope-encrypted under the master key with the KMS EncryptionContext
``{tenantId, kid}``. The key policy itself refuses any cryptographic use of a master key without exactly
that context, so neither a bug nor an over-broad IAM policy can wrap or unwrap a key outside its binding.

Master-key rotation without ``kms:CreateKey``: KMS already rotates each key's material yearly, transparently
(``enable_key_rotation``; old ciphertexts keep decrypting, nothing to re-wrap). Moving every tenant key to a
*different* KMS key (``POST /platform/master-key/rotate``) needs a target key, and no function may create
KMS keys. So the stack creates two master-key slots up front, identical but for their names:

- ``alias/wiresocket-master-a`` and ``alias/wiresocket-master-b`` name the two slots, for good;
- ``alias/wiresocket-master`` names the *current* one (slot a at first). ``WIRESOCKET_MASTER_KEY_ID`` is this
  alias, never a key ARN, so new data keys follow it.

The operator calls the rotation with ``targetKeyId`` = the slot that is not current (``GET
/platform/master-key`` shows the current one). The admin function points ``alias/wiresocket-master`` at it
(``kms:UpdateAlias``, granted on that one alias and the two slot keys, which is exactly what AWS authorizes
an alias update against) and re-wraps every stored data key with ``ReEncrypt`` (resumable: run it again).
Every function may decrypt under both slots, so a key not yet re-wrapped keeps working ("the old master key
stays usable until nothing references it", SPEC §5). The next rotation goes back to the other slot. Any
other target key, and any other alias, is refused by IAM: the policy fails closed.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from aws_cdk import Duration, RemovalPolicy, Stack, aws_iam, aws_kms
from constructs import Construct

from wiresocket.config import KeyVaultSettings

# The alias is the default of the key-vault settings model, so the functions and the key agree on one name.
MASTER_KEY_ALIAS: Final[str] = next(
    str(f.default) for f in dataclasses.fields(KeyVaultSettings) if f.name == "master_key_id"
)
MASTER_KEY_SLOT_ALIASES: Final = ("alias/wiresocket-master-a", "alias/wiresocket-master-b")
"""The two master-key slots' own names; ``MASTER_KEY_ALIAS`` points at one of them (see the module docstring)."""
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

ALIAS_UPDATE_ACTIONS: Final = ("kms:UpdateAlias",)
KEY_LOOKUP_ACTIONS: Final = ("kms:DescribeKey",)
"""Resolving an alias or ARN to the key ARN that is the version tag of a wrapped data key (docs/keys.md)."""

_GUARDED_ACTIONS: Final = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
)


class PlatformKeys(Construct):
    """The two master-key slots (tenant-key envelopes) and the table key, all multi-Region and rotated.

    The table key encrypts the directory (and its future replicas) and the primary region's control-plane
    tables (rate-limit counters, idempotency records) at rest; functions may use it only through DynamoDB
    (``kms:ViaService``).

    Both master-key slots carry the same key policy (no use without exactly a ``{tenantId, kid}`` context).
    CloudFormation creates ``alias/wiresocket-master`` pointing at ``master_key`` (slot a); after an operator's
    master-key rotation to slot b the alias has drifted from the template on purpose. A deploy only re-points
    it if the alias resource itself changes (its target is never edited here); even then nothing breaks,
    since both slots stay usable, and the next rotation moves the keys again.

    Every key is retained when the stack is deleted: losing a master key loses every tenant key under it.
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
        self.master_key.add_alias(MASTER_KEY_SLOT_ALIASES[0])
        self._require_encryption_context(self.master_key)
        self.second_master_key = aws_kms.Key(
            self,
            "SecondMasterKey",
            description="WireSocket master key slot b: wraps tenant signing-key data keys after a rotation to it",
            alias=MASTER_KEY_SLOT_ALIASES[1],
            enable_key_rotation=True,
            multi_region=True,
            pending_window=Duration.days(30),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self._require_encryption_context(self.second_master_key)
        self.directory_key = aws_kms.Key(
            self,
            "DirectoryKey",
            description="WireSocket control-plane tables encryption at rest (directory, rate limits, idempotency)",
            alias=DIRECTORY_KEY_ALIAS,
            enable_key_rotation=True,
            multi_region=True,  # global-table replicas need a replica of this key in their region
            pending_window=Duration.days(30),
            removal_policy=RemovalPolicy.RETAIN,
        )

    @property
    def master_key_slots(self) -> tuple[aws_kms.Key, aws_kms.Key]:
        """Both master-key slots, a (where ``alias/wiresocket-master`` starts) and b."""
        return (self.master_key, self.second_master_key)

    @property
    def master_alias_arn(self) -> str:
        """The ARN of ``alias/wiresocket-master`` (the resource ``kms:UpdateAlias`` is authorized against)."""
        return Stack.of(self).format_arn(service="kms", resource=MASTER_KEY_ALIAS)

    def grant_envelope(self, grantee: aws_iam.IGrantable, actions: tuple[str, ...] = ENVELOPE_ACTIONS) -> aws_iam.Grant:
        """Let ``grantee`` use both master-key slots for ``actions``, only with an EncryptionContext of tenantId+kid.

        Pass a subset of ``ENVELOPE_ACTIONS`` for least privilege, e.g. only ``kms:Decrypt`` for a function
        that signs with existing keys but never creates or re-wraps them. Both slots, because the alias may
        point at either, and data keys wrapped under the other one stay readable until they are re-wrapped.
        """
        unknown = set(actions) - set(ENVELOPE_ACTIONS)
        if unknown or not actions:
            raise ValueError(f"not envelope actions: {sorted(unknown) or 'none given'}")
        return aws_iam.Grant.add_to_principal(
            grantee=grantee,
            actions=list(actions),
            resource_arns=[key.key_arn for key in self.master_key_slots],
            conditions={
                # Only these keys may appear ...
                "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": list(ENCRYPTION_CONTEXT_KEYS)},
                # ... and each must be present (ForAllValues alone is also true for an empty context).
                "Null": {f"kms:EncryptionContext:{key}": "false" for key in ENCRYPTION_CONTEXT_KEYS},
            },
        )

    def grant_master_key_rotation(self, grantee: aws_iam.IGrantable) -> None:
        """Let ``grantee`` re-point ``alias/wiresocket-master`` between the two slots, and resolve key ids.

        ``kms:UpdateAlias`` is authorized against the alias *and* the current and new target keys, so it is
        granted on exactly that alias and the two slot keys: no other alias can be moved, and the master
        alias can point at no key but a slot. Creating keys or aliases is never granted. The re-wrap itself
        needs ``grant_envelope`` with ``kms:ReEncryptFrom``/``kms:ReEncryptTo``.
        """
        slots = [key.key_arn for key in self.master_key_slots]
        aws_iam.Grant.add_to_principal(
            grantee=grantee, actions=list(ALIAS_UPDATE_ACTIONS), resource_arns=[self.master_alias_arn, *slots]
        )
        aws_iam.Grant.add_to_principal(grantee=grantee, actions=list(KEY_LOOKUP_ACTIONS), resource_arns=slots)

    @staticmethod
    def _require_encryption_context(key: aws_kms.Key) -> None:
        # Deny statements in the key policy bind every principal, administrators included; IAM grants can
        # only narrow this further.
        for statement in encryption_context_denies():
            key.add_to_resource_policy(statement)


def encryption_context_denies() -> list[aws_iam.PolicyStatement]:
    """The master keys' deny statements: no cryptographic use without exactly a ``{tenantId, kid}`` context.

    One statement per missing key (conditions inside a statement are ANDed), and one for any other key. Shared
    by the primary master keys and their replicas (``MasterKeyReplicas``), whose policies must be the same.
    """
    statements = [
        aws_iam.PolicyStatement(
            sid=f"DenyUseWithout{context_key[0].upper()}{context_key[1:]}Context",
            effect=aws_iam.Effect.DENY,
            principals=[aws_iam.AnyPrincipal()],
            actions=list(_GUARDED_ACTIONS),
            resources=["*"],
            conditions={"Null": {f"kms:EncryptionContext:{context_key}": "true"}},
        )
        for context_key in ENCRYPTION_CONTEXT_KEYS
    ]
    statements.append(
        aws_iam.PolicyStatement(
            sid="DenyUseWithOtherContextKeys",
            effect=aws_iam.Effect.DENY,
            principals=[aws_iam.AnyPrincipal()],
            actions=list(_GUARDED_ACTIONS),
            resources=["*"],
            conditions={"ForAnyValue:StringNotEquals": {"kms:EncryptionContextKeys": list(ENCRYPTION_CONTEXT_KEYS)}},
        )
    )
    return statements


class MasterKeyReplicas(Construct):
    """Replicas of both master-key slots in a regional stack's region, from their primary key ARNs.

    A replica needs its primary's ARN, which is random (``mrk-…``) and lives in the global stack of another
    region, so it comes from context (``masterKeyArns``, after the global stack's first deploy: its
    ``MasterKeySlotArns`` output). The replica has the same key material and key id, rotation follows the
    primary, and its key policy is the primary's: account administration plus the encryption-context denies.
    The slot aliases are repeated; ``alias/wiresocket-master`` is not (it moves on a rotation in the primary
    region only, and no regional function uses a master key today).
    """

    def __init__(self, scope: Construct, construct_id: str, *, primary_key_arns: tuple[str, ...]) -> None:
        super().__init__(scope, construct_id)
        if len(primary_key_arns) != len(MASTER_KEY_SLOT_ALIASES):
            raise ValueError(f"expected {len(MASTER_KEY_SLOT_ALIASES)} master-key ARNs (slots a and b)")
        stack = Stack.of(self)
        policy = aws_iam.PolicyDocument(
            statements=[
                aws_iam.PolicyStatement(
                    sid="AccountAdministration",
                    principals=[aws_iam.AccountRootPrincipal()],
                    actions=["kms:*"],
                    resources=["*"],
                ),
                *encryption_context_denies(),
            ]
        )
        self.replicas: list[aws_kms.CfnReplicaKey] = []
        for index, (arn, alias) in enumerate(zip(primary_key_arns, MASTER_KEY_SLOT_ALIASES, strict=True)):
            replica = aws_kms.CfnReplicaKey(
                self,
                f"Slot{'ab'[index].upper()}",
                primary_key_arn=arn,
                key_policy=policy,
                description=f"WireSocket master key slot {'ab'[index]} (replica in {stack.region})",
                pending_window_in_days=30,
            )
            replica.apply_removal_policy(RemovalPolicy.RETAIN)
            aws_kms.CfnAlias(self, f"Alias{'ab'[index].upper()}", alias_name=alias, target_key_id=replica.attr_arn)
            self.replicas.append(replica)
