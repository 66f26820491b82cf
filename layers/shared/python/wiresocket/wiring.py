"""Composition root: ``functools.cache`` factories that build each adapter and service once per container.

Only this module (with ``config``) knows which adapter implements which port. Clients are created lazily,
on first use, so importing a handler stays cheap.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from wiresocket import config

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_kms import KMSClient

    from wiresocket.adapters.clock import SystemClock
    from wiresocket.adapters.dynamo_directory import DynamoDirectory, DynamoLockStore, DynamoOutbox
    from wiresocket.adapters.kms import KmsKeyWrapper
    from wiresocket.services.directory_entries import DirectoryEntries
    from wiresocket.services.discovery import DiscoveryService
    from wiresocket.services.introspection import TokenIntrospection
    from wiresocket.services.jwks import JwksService
    from wiresocket.services.keyvault import KeyVault
    from wiresocket.services.outbox import OutboxPublisher
    from wiresocket.services.pepper import SecretPepper
    from wiresocket.services.ratelimit import RateLimiter
    from wiresocket.services.sealing import UnsealedKeyCache
    from wiresocket.services.token import TokenService
    from wiresocket.services.verification import TokenVerifier


@functools.cache
def key_vault_settings() -> config.KeyVaultSettings:
    """Key-vault settings, parsed once."""
    return config.KeyVaultSettings.from_env()


@functools.cache
def clock() -> SystemClock:
    """The system clock."""
    from wiresocket.adapters.clock import SystemClock

    return SystemClock()


@functools.cache
def _client_config() -> Config:
    from botocore.config import Config

    return Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})


@functools.cache
def kms_client(region: str) -> KMSClient:
    """A KMS client for ``region`` (endpoint from ``AWS_ENDPOINT_URL`` when set, as boto3 does)."""
    import boto3

    return boto3.client("kms", region_name=region, config=_client_config())


@functools.cache
def events_client(region: str) -> EventBridgeClient:
    """An EventBridge client for ``region``."""
    import boto3

    return boto3.client("events", region_name=region, config=_client_config())


@functools.cache
def directory(table_name: str, region: str) -> DynamoDirectory:
    """The directory adapter, with the pynamodb models bound to ``table_name`` in ``region``."""
    from wiresocket.adapters.directory_models import bind_directory
    from wiresocket.adapters.dynamo_directory import DynamoDirectory

    bind_directory(table_name, region)
    return DynamoDirectory()


@functools.cache
def lock_store(table_name: str, region: str) -> DynamoLockStore:
    """Lease locks in the directory table."""
    from wiresocket.adapters.dynamo_directory import DynamoLockStore

    directory(table_name, region)  # binds the models
    return DynamoLockStore()


@functools.cache
def outbox(table_name: str, region: str) -> DynamoOutbox:
    """The audit outbox in the directory table."""
    from wiresocket.adapters.dynamo_directory import DynamoOutbox

    directory(table_name, region)
    return DynamoOutbox()


@functools.cache
def key_wrapper(region: str, master_key: str) -> KmsKeyWrapper:
    """KMS envelope encryption under ``master_key``."""
    from wiresocket.adapters.kms import KmsKeyWrapper

    return KmsKeyWrapper(kms_client(region), master_key)


@functools.cache
def outbox_publisher(table_name: str, region: str, bus: str) -> OutboxPublisher:
    """Outbox → audit bus."""
    from wiresocket.adapters.eventbridge import EventBridgeBus
    from wiresocket.services.outbox import OutboxPublisher

    return OutboxPublisher(outbox(table_name, region), EventBridgeBus(events_client(region), bus), clock())


@functools.cache
def key_vault() -> KeyVault:
    """The key lifecycle service, publishing its audit events right after each commit."""
    from wiresocket.services.keyvault import KeyPolicy, KeyVault
    from wiresocket.services.locks import LockManager

    s = key_vault_settings()
    publisher = outbox_publisher(s.directory_table, s.region, s.audit_bus)
    return KeyVault(
        directory(s.directory_table, s.region),
        key_wrapper(s.region, s.master_key_id),
        LockManager(lock_store(s.directory_table, s.region), clock()),
        clock(),
        region=s.region,
        policy=KeyPolicy(grace_seconds=s.key_grace_seconds, next_key_min_age_seconds=s.jwks_max_age_seconds),
        on_commit=publisher.publish_pending,
    )


@functools.cache
def unsealed_key_cache() -> UnsealedKeyCache:
    """Warm-container cache of loaded private keys (bounded in time and size)."""

    from wiresocket.services.sealing import UnsealedKeyCache

    s = key_vault_settings()
    return UnsealedKeyCache(key_wrapper(s.region, s.master_key_id), clock(), ttl_seconds=s.key_cache_ttl_seconds)


@functools.cache
def jwks_settings() -> config.JwksSettings:
    """Settings of the jwks function."""
    return config.JwksSettings.from_env()


@functools.cache
def jwks_service() -> JwksService:
    """The JWKS service over the directory."""
    from wiresocket.services.jwks import JwksService

    s = jwks_settings()
    return JwksService(directory(s.directory_table, s.region), clock())


@functools.cache
def outbox_settings() -> config.OutboxSettings:
    """Settings of the outbox publisher function."""
    return config.OutboxSettings.from_env()


# --- token function (issue 3) ---------------------------------------------------------------------------


@functools.cache
def token_settings() -> config.TokenSettings:
    """Settings of the token function."""
    return config.TokenSettings.from_env()


@functools.cache
def dynamodb_client(region: str) -> DynamoDBClient:
    """A DynamoDB client for ``region`` (the rate-limit counters; the directory goes through pynamodb)."""
    import boto3

    return boto3.client("dynamodb", region_name=region, config=_client_config())


@functools.cache
def secret_pepper(table_name: str, region: str, master_key: str) -> SecretPepper:
    """The client-secret hashing key, unwrapped once per container."""
    from wiresocket.services.pepper import SecretPepper

    return SecretPepper(directory(table_name, region), key_wrapper(region, master_key))


@functools.cache
def rate_limiter(table_name: str, region: str) -> RateLimiter:
    """Rate limits and lock-outs over the counters table, with the default policy table."""
    from wiresocket.adapters.dynamo_ratelimit import DynamoCounterStore
    from wiresocket.services.ratelimit import RateLimiter

    return RateLimiter(DynamoCounterStore(dynamodb_client(region), table_name), clock())


@functools.cache
def directory_entries() -> DirectoryEntries:
    """Creation of apps, users, plans and dashboard clients (seeder now, admin API later)."""
    from wiresocket.services.directory_entries import DirectoryEntries

    s = key_vault_settings()
    return DirectoryEntries(
        directory(s.directory_table, s.region),
        secret_pepper(s.directory_table, s.region, s.master_key_id),
        clock(),
        region=s.region,
    )


@functools.cache
def _oauth_parts() -> tuple[TokenService, TokenIntrospection]:
    from wiresocket.services.clientauth import ClientAuthenticator
    from wiresocket.services.introspection import TokenIntrospection
    from wiresocket.services.refresh import RefreshPolicy, RefreshTokens
    from wiresocket.services.signing import TokenSigner
    from wiresocket.services.token import TokenPolicy, TokenService

    s = token_settings()
    store = directory(s.directory_table, s.region)
    limiter = rate_limiter(s.rate_limit_table, s.region)
    clients = ClientAuthenticator(
        store, secret_pepper(s.directory_table, s.region, s.master_key_id), limiter, clock(), region=s.region
    )
    refresh = RefreshTokens(
        store,
        clock(),
        region=s.region,
        policy=RefreshPolicy(
            token_ttl_seconds=s.refresh_token_ttl_seconds, family_max_age_seconds=s.refresh_family_max_age_seconds
        ),
    )
    tokens = TokenService(
        store,
        clients,
        TokenSigner(unsealed_key_cache()),
        refresh,
        limiter=limiter,
        clock=clock(),
        policy=TokenPolicy(issuer_base=s.issuer_base, access_token_ttl_seconds=s.access_token_ttl_seconds),
    )
    introspection = TokenIntrospection(store, clients, refresh, token_verifier())
    return tokens, introspection


def token_service() -> TokenService:
    """The token endpoint service."""
    return _oauth_parts()[0]


def token_introspection() -> TokenIntrospection:
    """Revocation and introspection."""
    return _oauth_parts()[1]


@functools.cache
def token_verifier() -> TokenVerifier:
    """Access-token verification against current state (token function settings)."""
    from wiresocket.services.verification import TokenVerifier

    s = token_settings()
    return TokenVerifier(directory(s.directory_table, s.region), clock(), issuer_base=s.issuer_base)


@functools.cache
def discovery_service() -> DiscoveryService:
    """OpenID/OAuth metadata per tenant (served by the jwks function)."""
    from wiresocket.services.discovery import DiscoveryService

    s = jwks_settings()
    return DiscoveryService(directory(s.directory_table, s.region), issuer_base=s.issuer_base)
