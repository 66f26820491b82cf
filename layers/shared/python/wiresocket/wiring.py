"""Composition root: ``functools.cache`` factories that build each adapter and service once per container.

Only this module (with ``config``) knows which adapter implements which port. Clients are created lazily,
on first use, so importing a handler stays cheap.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any, cast

from wiresocket.settings.base import data_plane_region_key

if TYPE_CHECKING:
    from botocore.config import Config
    from botocore.session import Session as BotocoreSession
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_kms import KMSClient

    from wiresocket.adapters.clock import SystemClock
    from wiresocket.adapters.dynamo_connections import DynamoConnectionRegistry
    from wiresocket.adapters.dynamo_directory import DynamoDirectory, DynamoLockStore, DynamoOutbox
    from wiresocket.adapters.dynamo_state import FastReadDirectory
    from wiresocket.adapters.kms import KmsKeyWrapper
    from wiresocket.services.authorize import CachedStateDirectory, ConnectionAuthorizer
    from wiresocket.services.clientauth import ClientAuthenticator
    from wiresocket.services.connections import ConnectionService
    from wiresocket.services.directory_entries import DirectoryEntries
    from wiresocket.services.discovery import DiscoveryService
    from wiresocket.services.introspection import TokenIntrospection
    from wiresocket.services.jwks import JwksService
    from wiresocket.services.keyvault import KeyVault
    from wiresocket.services.outbox import OutboxPublisher
    from wiresocket.services.pepper import SecretPepper
    from wiresocket.services.presence import PresenceService
    from wiresocket.services.ratelimit import RateLimiter
    from wiresocket.services.refresh import RefreshTokens
    from wiresocket.services.sealing import UnsealedKeyCache
    from wiresocket.services.token import TokenService
    from wiresocket.services.verification import TokenVerifier
    from wiresocket.settings.admin import AdminSettings
    from wiresocket.settings.base import KeyVaultSettings
    from wiresocket.settings.jwks import JwksSettings
    from wiresocket.settings.key_maintenance import KeyMaintenanceSettings
    from wiresocket.settings.outbox import OutboxSettings
    from wiresocket.settings.terminator import TerminatorSettings
    from wiresocket.settings.token import TokenSettings
    from wiresocket.settings.ws_connect import WsConnectSettings
    from wiresocket.settings.ws_http import WsHttpSettings
    from wiresocket.settings.ws_message import WsMessageSettings


REWRAP_BUDGET_SECONDS = 15.0


@functools.cache
def key_vault_settings() -> KeyVaultSettings:
    """Key-vault settings, parsed once."""
    from wiresocket.settings.base import KeyVaultSettings

    return KeyVaultSettings.from_env()


@functools.cache
def clock() -> SystemClock:
    """The system clock."""
    from wiresocket.adapters.clock import SystemClock

    return SystemClock()


@functools.cache
def _client_config() -> Config:
    from botocore.config import Config

    return Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})


_CLIENT_LOCK = threading.RLock()
"""Guards the session and client pool: a botocore session is not safe for concurrent client creation, and a
client built twice (two threads missing a cache at once) would cost its model loading twice."""


@functools.cache
def _pool() -> dict[tuple[str, str], Any]:
    """The container's botocore session (key ``("session", "")``) and clients, each built once."""
    return {}


def botocore_session() -> BotocoreSession:
    """One botocore session for every client of the container, pynamodb's included (``directory``): each
    further session would load the endpoint and service models again, ~60 ms of CPU at every cold start. Its
    model loader skips botocore's scan of every service directory (``adapters.botocore_loader``, ~20 ms)."""
    pool = _pool()
    with _CLIENT_LOCK:
        if ("session", "") not in pool:
            from botocore.session import get_session

            from wiresocket.adapters.botocore_loader import service_loader

            created = get_session()
            created.register_component("data_loader", service_loader(created.get_config_variable("data_path")))
            pool[("session", "")] = created
        session: BotocoreSession = pool[("session", "")]
        return session


def _client(service: str, region: str) -> Any:
    pool = _pool()
    found = pool.get((service, region))
    if found is None:
        with _CLIENT_LOCK:
            found = pool.get((service, region))
            if found is None:
                found = botocore_session().create_client(service, region_name=region, config=_client_config())
                pool[(service, region)] = found
    return found


def kms_client(region: str) -> KMSClient:
    """A KMS client for ``region`` (endpoint from ``AWS_ENDPOINT_URL`` when set, as boto3 does)."""
    return cast("KMSClient", _client("kms", region))


def events_client(region: str) -> EventBridgeClient:
    """An EventBridge client for ``region``."""
    return cast("EventBridgeClient", _client("events", region))


@functools.cache
def directory(table_name: str, region: str) -> DynamoDirectory:
    """The directory adapter, with the pynamodb models bound to ``table_name`` in ``region``."""
    from wiresocket.adapters.directory_models import bind_directory
    from wiresocket.adapters.dynamo_directory import DynamoDirectory

    bind_directory(table_name, region, session=botocore_session())
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

    return KmsKeyWrapper(functools.partial(kms_client, region), master_key)  # the client is built on first use


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
def jwks_settings() -> JwksSettings:
    """Settings of the jwks function."""
    from wiresocket.settings.jwks import JwksSettings

    return JwksSettings.from_env()


@functools.cache
def jwks_service() -> JwksService:
    """The JWKS service over the directory."""
    from wiresocket.services.jwks import JwksService

    s = jwks_settings()
    return JwksService(directory(s.directory_table, s.region), clock())


@functools.cache
def outbox_settings() -> OutboxSettings:
    """Settings of the outbox publisher function."""
    from wiresocket.settings.outbox import OutboxSettings

    return OutboxSettings.from_env()


# --- token function (issue 3) ---------------------------------------------------------------------------


@functools.cache
def token_settings() -> TokenSettings:
    """Settings of the token function."""
    from wiresocket.settings.token import TokenSettings

    return TokenSettings.from_env()


def dynamodb_client(region: str) -> DynamoDBClient:
    """A DynamoDB client for ``region`` (counters, registry, documents, the authorizer's state reads; the
    directory's writes go through pynamodb). Straight from botocore, on the shared session: a boto3 client is
    this same object, and importing boto3 would only add to every cold start."""
    return cast("DynamoDBClient", _client("dynamodb", region))


@functools.cache
def secret_pepper(table_name: str, region: str, master_key: str) -> SecretPepper:
    """The client-secret hashing key, unwrapped once per container."""
    from wiresocket.services.pepper import SecretPepper

    return SecretPepper(directory(table_name, region), key_wrapper(region, master_key))


@functools.cache
def fast_read_directory(table_name: str, region: str) -> FastReadDirectory:
    """The directory for the token function: its hot reads in plain botocore, the rest (and every write) through
    the pynamodb ``directory``, built only when needed (a client_credentials grant never needs it)."""
    from wiresocket.adapters.dynamo_state import DynamoStateReader, FastReadDirectory

    return FastReadDirectory(
        DynamoStateReader(dynamodb_client(region), table_name), lambda: directory(table_name, region)
    )


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
def _oauth_parts() -> tuple[TokenService, ClientAuthenticator]:
    from wiresocket.adapters.dynamo_state import DynamoClientLookup
    from wiresocket.services.clientauth import ClientAuthenticator
    from wiresocket.services.signing import TokenSigner
    from wiresocket.services.token import TokenPolicy, TokenService

    s = token_settings()
    # Hot reads in plain botocore; pynamodb only for writes and the password/refresh grants' reads.
    store = fast_read_directory(s.directory_table, s.region)
    limiter = rate_limiter(s.rate_limit_table, s.region)
    pepper = token_pepper()
    # The container's first request: the pepper's directory read, KMS client and unwrap run on a background
    # thread while this request passes its rate limits and looks its client up (SecretPepper.prefetch); then
    # the same thread loads cryptography (~12 ms) while the request reads its app, tenant and plan.
    from wiresocket.services.sealing import preload

    pepper.prefetch(then=preload)
    # A client's registry entry and its lock-out counter: one BatchGetItem over the two tables.
    lookup = DynamoClientLookup(dynamodb_client(s.region), s.directory_table, s.rate_limit_table)
    clients = ClientAuthenticator(store, pepper, limiter, clock(), region=s.region, lookup=lookup)
    tokens = TokenService(
        store,
        clients,
        TokenSigner(unsealed_key_cache()),
        refresh_tokens,
        limiter=limiter,
        clock=clock(),
        policy=TokenPolicy(issuer_base=s.issuer_base, access_token_ttl_seconds=s.access_token_ttl_seconds),
    )
    return tokens, clients


@functools.cache
def refresh_tokens() -> RefreshTokens:
    """Refresh-token families, built on the first request that issues, rotates or revokes one (a plain
    client_credentials grant never does, so the token function's cold start does not load them)."""
    from wiresocket.services.refresh import RefreshPolicy, RefreshTokens

    s = token_settings()
    return RefreshTokens(
        fast_read_directory(s.directory_table, s.region),
        clock(),
        region=s.region,
        policy=RefreshPolicy(
            token_ttl_seconds=s.refresh_token_ttl_seconds, family_max_age_seconds=s.refresh_family_max_age_seconds
        ),
    )


def token_service() -> TokenService:
    """The token endpoint service."""
    return _oauth_parts()[0]


@functools.cache
def token_pepper() -> SecretPepper:
    """The token function's client-secret pepper (read through the fast directory, unwrapped once)."""
    from wiresocket.services.pepper import SecretPepper

    s = token_settings()
    return SecretPepper(fast_read_directory(s.directory_table, s.region), key_wrapper(s.region, s.master_key_id))


@functools.cache
def token_introspection() -> TokenIntrospection:
    """Revocation and introspection (built on their first request: the token grant's cold start skips them)."""
    from wiresocket.services.introspection import TokenIntrospection

    s = token_settings()
    _, clients = _oauth_parts()
    return TokenIntrospection(
        fast_read_directory(s.directory_table, s.region), clients, refresh_tokens(), token_verifier()
    )


@functools.cache
def token_verifier() -> TokenVerifier:
    """Access-token verification against current state (token function settings)."""
    from wiresocket.services.verification import TokenVerifier

    s = token_settings()
    return TokenVerifier(fast_read_directory(s.directory_table, s.region), clock(), issuer_base=s.issuer_base)


@functools.cache
def discovery_service() -> DiscoveryService:
    """OpenID/OAuth metadata per tenant (served by the jwks function)."""
    from wiresocket.services.discovery import DiscoveryService

    s = jwks_settings()
    return DiscoveryService(directory(s.directory_table, s.region), issuer_base=s.issuer_base)


# --- ws_connect function (issue 5): $connect authorizer and connection registry ----------------------------


def ws_connect_settings() -> WsConnectSettings:
    """Settings of the ws_connect function (one parse per WebSocket region: ``settings.base.data_plane_region_key``,
    so the local stack can serve two regions from one process)."""
    return _ws_connect_settings(data_plane_region_key())


@functools.cache
def _ws_connect_settings(region_key: tuple[str, ...]) -> WsConnectSettings:
    from wiresocket.settings.ws_connect import WsConnectSettings

    return WsConnectSettings.from_env()


@functools.cache
def connection_state_directory() -> CachedStateDirectory:
    """The directory as the ``$connect`` authorizer reads it: tenant/keys, app and user fresh on every handshake,
    plans cached for a few seconds. Read with ``DynamoStateReader`` (plain botocore: no pynamodb at the
    authorizer's cold start)."""
    from wiresocket.adapters.dynamo_state import DynamoStateReader
    from wiresocket.services.authorize import SECURITY_STATE, CachedStateDirectory

    s = ws_connect_settings()
    return CachedStateDirectory(
        DynamoStateReader(dynamodb_client(s.region), s.directory_table),
        clock(),
        ttl_seconds=s.state_cache_seconds,
        always_fresh=SECURITY_STATE,  # the handshake reads revocation state fresh: see services/authorize.py
        rest=lambda: directory(s.directory_table, s.region),
    )


@functools.cache
def connection_authorizer() -> ConnectionAuthorizer:
    """The ``$connect`` authorizer over a verifier that reads cached current state."""
    from wiresocket.services.authorize import ConnectionAuthorizer
    from wiresocket.services.verification import TokenVerifier

    s = ws_connect_settings()
    verifier = TokenVerifier(connection_state_directory(), clock(), issuer_base=s.issuer_base)
    return ConnectionAuthorizer(verifier, limiter=ws_connect_rate_limiter)


def ws_connect_rate_limiter() -> RateLimiter:
    """The per-IP connect limit (SPEC §7, ``WS_CONNECT_IP``) of the WebSocket region being served (one per
    region's settings, as ``connection_service``)."""
    return _ws_connect_rate_limiter(ws_connect_settings())


@functools.cache
def _ws_connect_rate_limiter(s: WsConnectSettings) -> RateLimiter:
    """Counted in the usage table of this WebSocket API's own region (plain botocore: no pynamodb)."""
    from wiresocket.adapters.dynamo_ratelimit import DynamoCounterStore
    from wiresocket.domain.ratelimit import DEFAULT_POLICIES, WS_CONNECT_IP, RatePolicy, with_overrides
    from wiresocket.services.ratelimit import RateLimiter

    window = DEFAULT_POLICIES[WS_CONNECT_IP].window_seconds
    policies = with_overrides({WS_CONNECT_IP: RatePolicy(WS_CONNECT_IP, s.ws_connect_per_ip_limit, window)})
    store = DynamoCounterStore(dynamodb_client(s.websocket_region), s.usage_table)
    return RateLimiter(store, clock(), policies)


@functools.cache
def connection_registry(table_name: str) -> DynamoConnectionRegistry:
    """The connection registry: ``table_name`` in each license region, one cached client per AWS region."""
    from wiresocket.adapters.dynamo_connections import DynamoConnectionRegistry

    return DynamoConnectionRegistry(dynamodb_client, table_name)


def connection_service() -> ConnectionService:
    """Registering and finding this region's WebSocket connections."""
    return _connection_service(ws_connect_settings())


@functools.cache
def _connection_service(s: WsConnectSettings) -> ConnectionService:
    from wiresocket.adapters.dynamo_connections import DynamoConnectionRegistry
    from wiresocket.services.connections import ConnectionService

    registry = DynamoConnectionRegistry(dynamodb_client, s.connections_table, grace_seconds=s.pin_grace_seconds)

    @functools.cache
    def presence() -> PresenceService:  # built on the first $disconnect: $connect's cold start never imports it
        from wiresocket.adapters.apigw_post import ManagementApiPoster
        from wiresocket.services.presence import PresenceService

        return PresenceService(registry, ManagementApiPoster)

    return ConnectionService(
        registry,
        clock(),
        ws_region=s.websocket_region,
        endpoint=s.ws_management_endpoint,
        max_lifetime_seconds=s.connection_max_seconds,
        # maxConnections / maxUsersPerDoc / maxDocuments and the region pin (4009) at $connect (docs/websocket.md)
        limits=registry,
        ws_url=s.ws_public_url,
        # $disconnect announces the removal of the connection's awareness state (docs/websocket.md "Presence")
        presence=presence,
    )


# --- admin function and key maintenance (issue 4) ----------------------------------------------------------

if TYPE_CHECKING:
    from wiresocket.services.admin import AdminService
    from wiresocket.services.admin_contract import SessionTerminator
    from wiresocket.services.key_maintenance import KeyMaintenance
    from wiresocket.services.locks import LockManager


@functools.cache
def admin_settings() -> AdminSettings:
    """Settings of the admin function."""
    from wiresocket.settings.admin import AdminSettings

    return AdminSettings.from_env()


@functools.cache
def session_terminator() -> SessionTerminator:
    """Ends live sessions in every region: the registry of each license region, ``DeleteConnection`` on the
    WebSocket API holding each connection, one ``SessionsTerminated`` event (services/sessions.py)."""
    from wiresocket.adapters.apigw_management import ManagementApiCloser
    from wiresocket.edge.metrics import MeteredTerminator, metrics
    from wiresocket.services.sessions import SessionTerminationService

    s = admin_settings()
    inner = SessionTerminationService(
        connection_registry(s.connections_table),
        ManagementApiCloser(),
        directory(s.directory_table, s.region),
        clock(),
        region=s.region,
        on_commit=outbox_publisher(s.directory_table, s.region, s.audit_bus).publish_pending,
    )
    return MeteredTerminator(inner, metrics("admin"))


def _vault_for(s: KeyVaultSettings, locks: LockManager) -> KeyVault:
    from wiresocket.services.keyvault import KeyPolicy, KeyVault

    publisher = outbox_publisher(s.directory_table, s.region, s.audit_bus)
    return KeyVault(
        directory(s.directory_table, s.region),
        key_wrapper(s.region, s.master_key_id),
        locks,
        clock(),
        region=s.region,
        policy=KeyPolicy(grace_seconds=s.key_grace_seconds, next_key_min_age_seconds=s.jwks_max_age_seconds),
        on_commit=publisher.publish_pending,
    )


@functools.cache
def admin_service() -> AdminService:
    """The admin and platform use cases (``AdminOperations``), publishing audit events after each commit."""
    from wiresocket.adapters.kms import KmsMasterKeyManager
    from wiresocket.services.admin import AdminService
    from wiresocket.services.directory_entries import DirectoryEntries
    from wiresocket.services.locks import LockManager
    from wiresocket.services.tenants import TenantService

    s = admin_settings()
    store = directory(s.directory_table, s.region)
    locks = LockManager(lock_store(s.directory_table, s.region), clock())
    vault = _vault_for(s, locks)
    entries = DirectoryEntries(
        store, secret_pepper(s.directory_table, s.region, s.master_key_id), clock(), region=s.region
    )
    return AdminService(
        store,
        TenantService(store, vault, locks, clock(), region=s.region),
        entries,
        vault,
        KmsMasterKeyManager(kms_client(s.region), s.master_key_id),
        session_terminator(),
        locks,
        clock(),
        region=s.region,
        on_commit=outbox_publisher(s.directory_table, s.region, s.audit_bus).publish_pending,
        # The admin function times out at 25 s: a re-wrap stops cleanly well before and reports progress.
        rewrap_budget_seconds=REWRAP_BUDGET_SECONDS,
    )


@functools.cache
def key_maintenance_settings() -> KeyMaintenanceSettings:
    """Settings of the scheduled key maintenance function."""
    from wiresocket.settings.key_maintenance import KeyMaintenanceSettings

    return KeyMaintenanceSettings.from_env()


@functools.cache
def key_maintenance() -> KeyMaintenance:
    """The scheduled rotation/retirement job. Its locks wait briefly: a tenant whose lock is held (an admin
    rotating right now) is reported busy and done on the next run, rather than stalling every other tenant."""
    from wiresocket.services.key_maintenance import KeyMaintenance
    from wiresocket.services.locks import LockManager

    s = key_maintenance_settings()
    locks = LockManager(lock_store(s.directory_table, s.region), clock(), wait_seconds=2.0)
    return KeyMaintenance(
        directory(s.directory_table, s.region),
        _vault_for(s, locks),
        clock(),
        rotation_days=s.key_rotation_days,
    )


@functools.cache
def terminator_settings() -> TerminatorSettings:
    """Settings of the regional terminator function."""
    from wiresocket.settings.terminator import TerminatorSettings

    return TerminatorSettings.from_env()


@functools.cache
def regional_terminator() -> SessionTerminator:
    """The event-driven backstop: closes only connections held by this region's WebSocket API, and records
    an event only when it closed something."""
    from wiresocket.adapters.apigw_management import ManagementApiCloser
    from wiresocket.services.sessions import SessionTerminationService

    s = terminator_settings()
    return SessionTerminationService(
        connection_registry(s.connections_table),
        ManagementApiCloser(),
        directory(s.directory_table, s.region),
        clock(),
        region=s.region,
        only_ws_region=s.websocket_region,
        record_empty=False,
    )


# --- ws_message function (issue 6): $default, y-websocket sync and awareness relay ----------------------------

if TYPE_CHECKING:
    from wiresocket.services.relay import RelayService


def ws_message_settings() -> WsMessageSettings:
    """Settings of the ws_message function (one parse per WebSocket region, as ``ws_connect_settings``)."""
    return _ws_message_settings(data_plane_region_key())


@functools.cache
def _ws_message_settings(region_key: tuple[str, ...]) -> WsMessageSettings:
    from wiresocket.settings.ws_message import WsMessageSettings

    return WsMessageSettings.from_env()


@functools.cache
def relay_service() -> RelayService:
    """The ``$default`` service: security state cached for a few seconds (the handshake already read it fresh),
    documents, usage counters and the registry of each license region, ``@connections`` for frames."""
    from wiresocket.adapters.apigw_post import ManagementApiPoster
    from wiresocket.adapters.dynamo_documents import DynamoDocumentStore, DynamoUsageCounter
    from wiresocket.services.authorize import CachedStateDirectory
    from wiresocket.services.connections import ConnectionService
    from wiresocket.services.documents import DocumentService
    from wiresocket.services.presence import PresenceService
    from wiresocket.services.relay import RelayService

    s = ws_message_settings()
    state = CachedStateDirectory(directory(s.directory_table, s.region), clock(), ttl_seconds=s.state_cache_seconds)
    registry = connection_registry(s.connections_table)
    connections = ConnectionService(
        registry,
        clock(),
        ws_region=s.websocket_region,
        endpoint=s.ws_management_endpoint,
        limits=registry,  # refused connections get their 4004/4005/4008/4009 on their first frame
    )
    documents = DocumentService(
        DynamoDocumentStore(dynamodb_client, s.documents_table),
        clock(),
        compact_after=s.document_compact_after,
        ttl_seconds=s.document_ttl_seconds,
        pins=registry,  # state is kept per pin session: a released document is never served again
    )
    return RelayService(
        documents,
        connections,
        state,
        DynamoUsageCounter(dynamodb_client, s.usage_table),
        ManagementApiPoster(),
        clock(),
        presence=PresenceService(registry),  # records each connection's awareness client id for $disconnect
    )


# --- ws_http function (issue 6): /discovery, /usage, /health on the data-plane host ----------------------------

if TYPE_CHECKING:
    from wiresocket.services.dataplane_http import DataPlaneHttp


def ws_http_settings() -> WsHttpSettings:
    """Settings of the ws_http function (one parse per WebSocket region, as ``ws_connect_settings``: the local
    stack's second region answers ``/discovery`` and ``/health`` with its own region, URL and tables)."""
    return _ws_http_settings(data_plane_region_key())


@functools.cache
def _ws_http_settings(region_key: tuple[str, ...]) -> WsHttpSettings:
    from wiresocket.settings.ws_http import WsHttpSettings

    return WsHttpSettings.from_env()


@functools.cache
def _probe_dynamodb_client(region: str) -> DynamoDBClient:
    """A DynamoDB client for the health probe: short timeouts, no retries (a slow table *is* the answer)."""
    import boto3
    from botocore.config import Config

    probe_config = Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1, "mode": "standard"})
    return boto3.client("dynamodb", region_name=region, config=probe_config)


@functools.cache
def _dataplane_rate_limiter(table_name: str, region: str) -> RateLimiter:
    """The data-plane HTTP rate limits, counted in ``table_name`` (the usage table) of one AWS region."""
    from wiresocket.adapters.dynamo_ratelimit import DynamoCounterStore
    from wiresocket.services.dataplane_http import DATAPLANE_POLICIES
    from wiresocket.services.ratelimit import RateLimiter

    return RateLimiter(DynamoCounterStore(dynamodb_client(region), table_name), clock(), DATAPLANE_POLICIES)


def dataplane_http() -> DataPlaneHttp:
    """Discovery, usage and health: the ``$connect`` authorizer's verification (security state read fresh),
    pins and counters of each app's license region, and a probe of this region's tables (one service per
    WebSocket region's settings, as ``connection_service``)."""
    return _dataplane_http(ws_http_settings())


@functools.cache
def _dataplane_http(s: WsHttpSettings) -> DataPlaneHttp:
    from wiresocket import names
    from wiresocket.adapters.dynamo_dataplane_http import DynamoHealthProbe, DynamoUsageReader
    from wiresocket.services.authorize import SECURITY_STATE, CachedStateDirectory
    from wiresocket.services.dataplane_http import DataPlaneHttp, NodeIdentity
    from wiresocket.services.verification import TokenVerifier

    state = CachedStateDirectory(
        directory(s.directory_table, s.region), clock(), ttl_seconds=s.state_cache_seconds, always_fresh=SECURITY_STATE
    )
    probe = DynamoHealthProbe(
        _probe_dynamodb_client(s.websocket_region),
        [
            (s.usage_table, names.USAGE_TABLE),
            (s.connections_table, names.CONNECTIONS_TABLE),
            (s.directory_table, names.DIRECTORY_TABLE),
        ],
    )
    return DataPlaneHttp(
        TokenVerifier(state, clock(), issuer_base=s.issuer_base),
        connection_registry(s.connections_table),
        DynamoUsageReader(dynamodb_client, s.usage_table),
        lambda license_region: _dataplane_rate_limiter(s.usage_table, names.aws_region_of(license_region)),
        probe,
        clock(),
        node=NodeIdentity(s.websocket_region, s.ws_public_url),
        health_cache_seconds=s.health_cache_seconds,
    )
