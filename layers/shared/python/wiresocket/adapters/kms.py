"""KMS implementation of the ``KeyWrapper`` port (envelope encryption of tenant keys, SPEC §5)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from wiresocket.adapters.errors import error_code
from wiresocket.domain.errors import DependencyUnavailable, IntegrityError, InvalidInput

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

    from wiresocket.ports import DataKey

# A wrong EncryptionContext or a tampered blob: the request is refused for integrity, retrying cannot help.
_INTEGRITY_CODES = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


class KmsKeyWrapper:
    """Data keys from KMS ``GenerateDataKey``; unwrap with ``Decrypt``; re-wrap with ``ReEncrypt``.

    Every call carries the ``{tenantId, kid}`` EncryptionContext, so a data key of one tenant's key cannot
    be unwrapped as another's (KMS binds the context cryptographically).
    """

    def __init__(self, client: KMSClient | Callable[[], KMSClient], master_key: str) -> None:
        """``client``: a KMS client, or a factory called on first use (the token function's first request
        then builds its KMS client on the thread that prefetches the pepper, overlapping directory reads)."""
        self._client_source = client
        self._built: KMSClient | None = None if callable(client) else client
        self._master_key = master_key

    @property
    def _client(self) -> KMSClient:
        built = self._built
        if built is None:
            factory = self._client_source
            assert callable(factory)
            built = self._built = factory()
        return built

    def _call_failed(self, exc: Exception) -> Exception:
        code = error_code(exc)
        if code in _INTEGRITY_CODES:
            return IntegrityError(f"KMS refused the wrapped key ({code})")
        return DependencyUnavailable(f"KMS unavailable ({type(exc).__name__} {code})")

    def generate_data_key(self, context: Mapping[str, str]) -> DataKey:
        """A fresh AES-256 data key under the current master key."""
        try:
            out = self._client.generate_data_key(
                KeyId=self._master_key, KeySpec="AES_256", EncryptionContext=dict(context)
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._call_failed(exc) from exc
        from wiresocket.ports import DataKey  # here, not at the top: functions that only unwrap never load ports

        return DataKey(plaintext=out["Plaintext"], wrapped=out["CiphertextBlob"], master_key_id=out["KeyId"])

    def unwrap(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        """Decrypt a wrapped data key; the context must be the one it was wrapped with."""
        try:
            out = self._client.decrypt(CiphertextBlob=wrapped, EncryptionContext=dict(context))
        except (BotoCoreError, ClientError) as exc:
            raise self._call_failed(exc) from exc
        return out["Plaintext"]

    def rewrap(self, wrapped: bytes, context: Mapping[str, str], target_master_key: str) -> tuple[bytes, str]:
        """Re-encrypt a wrapped data key under ``target_master_key`` without exposing it to the caller."""
        try:
            out = self._client.re_encrypt(
                CiphertextBlob=wrapped,
                SourceEncryptionContext=dict(context),
                DestinationKeyId=target_master_key,
                DestinationEncryptionContext=dict(context),
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._call_failed(exc) from exc
        return out["CiphertextBlob"], out["KeyId"]

    def resolve(self, master_key: str) -> str:
        """The ARN of the key that ``master_key`` names now (aliases resolved)."""
        try:
            return self._client.describe_key(KeyId=master_key)["KeyMetadata"]["Arn"]
        except (BotoCoreError, ClientError) as exc:
            raise self._call_failed(exc) from exc


# A key reference that names nothing usable: the caller's mistake, not an outage.
_UNKNOWN_KEY_CODES = frozenset({"NotFoundException", "InvalidArnException", "ValidationException"})


class KmsMasterKeyManager:
    """The ``MasterKeyManager`` port over KMS: the configured ``alias`` names the current master key.

    ``create_key`` gives a new key the *current* key's policy (so the same principals, and the same
    encryption-context conditions, apply) and its multi-Region setting. Replicas of a new multi-Region key
    are not created here: deployments that need them provision the key in the CDK app and pass its id.
    """

    def __init__(self, client: KMSClient, alias: str) -> None:
        self._client = client
        self._alias = alias

    def _failed(self, exc: Exception) -> Exception:
        return DependencyUnavailable(f"KMS unavailable ({type(exc).__name__} {error_code(exc)})")

    def current(self) -> str:
        """The ARN the alias names now."""
        try:
            return self._client.describe_key(KeyId=self._alias)["KeyMetadata"]["Arn"]
        except (BotoCoreError, ClientError) as exc:
            raise self._failed(exc) from exc

    def describe(self, key_ref: str) -> str:
        """The ARN of ``key_ref`` if it is an enabled, customer-managed, symmetric encrypt/decrypt key."""
        try:
            meta = self._client.describe_key(KeyId=key_ref)["KeyMetadata"]
        except ClientError as exc:
            if error_code(exc) in _UNKNOWN_KEY_CODES:
                raise InvalidInput("targetKeyId names no KMS key") from exc
            if error_code(exc) == "AccessDeniedException":
                # IAM admits only this deployment's master-key slots: anything else is the caller's mistake.
                raise InvalidInput("targetKeyId is not a master-key slot of this deployment") from exc
            raise self._failed(exc) from exc
        except BotoCoreError as exc:
            raise self._failed(exc) from exc
        usable = (
            meta.get("Enabled", False)
            and meta.get("KeyState") == "Enabled"
            and meta.get("KeyUsage") == "ENCRYPT_DECRYPT"
            and meta.get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
            and meta.get("KeyManager", "CUSTOMER") == "CUSTOMER"
        )
        if not usable:
            raise InvalidInput("targetKeyId is not an enabled, customer-managed, symmetric encrypt/decrypt key")
        return meta["Arn"]

    def point_alias(self, key_arn: str) -> None:
        """Re-point the alias at ``key_arn``."""
        try:
            self._client.update_alias(AliasName=self._alias, TargetKeyId=key_arn)
        except (BotoCoreError, ClientError) as exc:
            raise self._failed(exc) from exc
