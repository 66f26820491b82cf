"""The directory's security state (tenant with keys, app, plan, user) read with a plain botocore client.

The ``$connect`` authorizer reads these four kinds of item and nothing else, fresh on every handshake (SPEC §8);
the token function's client_credentials grant reads them plus the ``client_id`` registry entry and the wrapped
client-secret pepper (``FastReadDirectory``: every other read and every write goes to the pynamodb
``DynamoDirectory``, built on first use).
Going through pynamodb would cost its import and its own botocore session at every cold start of the
authorizer (about 40 ms of CPU, a third of the ``cold_start`` budget); these reads are four lines of
low-level DynamoDB each. Same table, same items, same consistency as ``DynamoDirectory`` (strongly consistent
``Query``/``GetItem``), and the same domain objects out: tests/integration/test_dynamo_state.py proves it
item for item against ``DynamoDirectory``. Writes and every other read stay in ``DynamoDirectory``.

``DynamoClientLookup`` reads the token function's first two items, a ``client_id``'s registry entry and its
lock-out counter in the rate-limit table, with one ``BatchGetItem`` (strongly consistent on both tables).

Item layout: see ``directory_models``. A read error (throttling, network, a malformed item) is
``DependencyUnavailable``: the callers fail closed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from wiresocket import names
from wiresocket.adapters.dynamo_ratelimit import COUNT_ATTRIBUTE, stored_count
from wiresocket.domain.apps import App, AppStatus
from wiresocket.domain.clients import ClientKind, ClientRef
from wiresocket.domain.errors import DependencyUnavailable
from wiresocket.domain.keys import EncryptedPrivateKey, KeyState, SigningKey
from wiresocket.domain.plans import Plan, PlanLimits, PlanStatus
from wiresocket.domain.tenants import Tenant, TenantStatus

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_dynamodb import DynamoDBClient

    from wiresocket.domain.clients import DashboardClient
    from wiresocket.domain.refresh import RefreshFamily, RefreshToken
    from wiresocket.domain.users import User
    from wiresocket.ports import IdentityDirectory, Write
    from wiresocket.services.ratelimit import CounterRead

PEPPER_PK = "CONFIG#client-secret-pepper"  # as adapters.dynamo_directory writes it

_T = TypeVar("_T")


class _Item:
    """Attribute access over one raw DynamoDB item (``{"name": {"S": ...}}``); a missing or NULL attribute is
    ``None``."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw

    def opt(self, name: str) -> Any:
        value = self._raw.get(name)
        if not value or "NULL" in value:
            return None
        kind, inner = next(iter(value.items()))
        if kind in {"S", "B", "BOOL"}:
            return inner
        if kind == "N":
            return int(inner) if inner.lstrip("-").isdigit() else int(float(inner))
        if kind == "L":
            return [_Item({"v": v}).opt("v") for v in inner]
        raise ValueError(f"unexpected attribute type {kind}")

    def get(self, name: str) -> Any:
        value = self.opt(name)
        if value is None:
            raise ValueError(f"missing attribute {name}")
        return value


def _tenant(item: _Item) -> Tenant:
    return Tenant(
        tenant_id=item.get("tenant_id"),
        name=item.get("name"),
        status=TenantStatus(item.get("status")),
        created_at=item.get("created_at"),
        updated_at=item.get("updated_at"),
    )


def _key(item: _Item) -> SigningKey:
    sealed = None
    wrapped, nonce, ciphertext = item.opt("wrapped_data_key"), item.opt("nonce"), item.opt("ciphertext")
    if ciphertext is not None and wrapped is not None and nonce is not None:
        sealed = EncryptedPrivateKey(
            wrapped_data_key=wrapped, nonce=nonce, ciphertext=ciphertext, master_key_id=item.opt("master_key_id") or ""
        )
    return SigningKey(
        tenant_id=item.get("tenant_id"),
        kid=item.get("kid"),
        state=KeyState(item.get("state")),
        created_at=item.get("created_at"),
        public_n=item.get("public_n"),
        public_e=item.get("public_e"),
        sealed=sealed,
        activated_at=item.opt("activated_at"),
        retire_after=item.opt("retire_after"),
        ended_at=item.opt("ended_at"),
    )


def _app(item: _Item) -> App:
    return App(
        tenant_id=item.get("tenant_id"),
        app_id=item.get("app_id"),
        name=item.get("name"),
        client_id=item.get("client_id"),
        secret_hash=item.get("secret_hash"),
        status=AppStatus(item.get("status")),
        license_region=item.get("license_region"),
        allowed_domains=tuple(str(d) for d in item.opt("allowed_domains") or ()),
        plan_id=item.opt("plan_id"),
        credential_generation=item.get("credential_generation"),
        created_at=item.get("created_at"),
        updated_at=item.get("updated_at"),
    )


def _plan(item: _Item) -> Plan:
    return Plan(
        plan_id=item.get("plan_id"),
        name=item.get("name"),
        status=PlanStatus(item.get("status")),
        limits=PlanLimits(
            max_connections=item.get("max_connections"),
            max_documents=item.get("max_documents"),
            max_users_per_doc=item.get("max_users_per_doc"),
            ops_per_minute=item.get("ops_per_minute"),
        ),
        free=bool(item.opt("free")),
        created_at=item.get("created_at"),
    )


def _user(item: _Item) -> User:
    from wiresocket.domain.users import User, UserRole, UserStatus  # user tokens and passwords only

    return User(
        tenant_id=item.get("tenant_id"),
        user_id=item.get("user_id"),
        username=item.get("username"),
        password_hash=item.get("password_hash"),
        role=UserRole(item.get("role")),
        status=UserStatus(item.get("status")),
        created_at=item.get("created_at"),
        updated_at=item.get("updated_at"),
    )


class DynamoStateReader:
    """``tenant_with_keys``, ``app``, ``plan`` and ``user`` of the directory table (the verifier's reads)."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _get(self, pk: str, sk: str, kind: str) -> _Item | None:
        try:
            found = self._client.get_item(
                TableName=self._table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
            ).get("Item")
        except Exception as exc:  # botocore's ClientError/BotoCoreError and anything below them
            raise DependencyUnavailable("directory unavailable") from exc
        return _of_kind(found, kind)

    def _tenant_partition(self, tenant_id: str) -> Iterator[_Item]:
        """Every item of the tenant's partition from ``KEY#…`` through ``TENANT`` (one strongly consistent
        Query, paginated)."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"TENANT#{tenant_id}"},
                ":first": {"S": "KEY#"},
                ":last": {"S": "TENANT"},
            },
            "ConsistentRead": True,
        }
        while True:
            try:
                page = self._client.query(**request)
            except Exception as exc:
                raise DependencyUnavailable("directory unavailable") from exc
            yield from (_Item(raw) for raw in page.get("Items", ()))
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last

    def tenant_with_keys(self, tenant_id: str) -> tuple[Tenant | None, list[SigningKey]]:
        """The tenant and all its keys, as ``DynamoDirectory.tenant_with_keys``."""
        tenant: Tenant | None = None
        keys: list[SigningKey] = []
        try:
            for item in self._tenant_partition(tenant_id):
                kind = item.opt("kind")
                if kind == "tenant":
                    tenant = _tenant(item)
                elif kind == "signing_key":
                    keys.append(_key(item))
        except (ValueError, TypeError) as exc:  # a malformed item: fail closed, never half-read state
            raise DependencyUnavailable("directory item malformed") from exc
        return tenant, keys

    def app(self, tenant_id: str, app_id: str) -> App | None:
        """One app."""
        item = self._get(f"TENANT#{tenant_id}", f"APP#{app_id}", "app")
        return _convert(_app, item)

    def plan(self, plan_id: str) -> Plan | None:
        """One plan."""
        return _convert(_plan, self._get(f"PLAN#{plan_id}", "PLAN", "plan"))

    def user(self, tenant_id: str, user_id: str) -> User | None:
        """One user."""
        return _convert(_user, self._get(f"TENANT#{tenant_id}", f"USER#{user_id}", "user"))

    def client(self, client_id: str) -> ClientRef | None:
        """The ``client_id`` registry entry."""
        return _client_ref(client_id, self._get(*_client_key(client_id), "client_ref"))

    def secret_pepper(self) -> tuple[bytes, str] | None:
        """The wrapped client-secret hashing key and its master-key tag."""
        return _convert(
            lambda i: (bytes(i.get("wrapped")), str(i.get("master_key_id"))),
            self._get(PEPPER_PK, "CONFIG", "secret_pepper"),
        )


def _convert(convert: Callable[[_Item], _T], item: _Item | None) -> _T | None:
    if item is None:
        return None
    try:
        return convert(item)
    except (ValueError, TypeError) as exc:
        raise DependencyUnavailable("directory item malformed") from exc


def _of_kind(raw: Mapping[str, Any] | None, kind: str) -> _Item | None:
    """``raw`` if it is an item of ``kind``, else ``None``; a malformed ``kind`` fails closed."""
    if raw is None:
        return None
    item = _Item(raw)
    try:
        return item if item.opt("kind") == kind else None
    except (ValueError, TypeError) as exc:
        raise DependencyUnavailable("directory item malformed") from exc


def _client_key(client_id: str) -> tuple[str, str]:
    return f"CLIENT#{client_id}", "CLIENT"


def _client_ref(client_id: str, item: _Item | None) -> ClientRef | None:
    return _convert(
        lambda i: ClientRef(client_id, ClientKind(i.get("client_kind")), i.get("tenant_id"), i.opt("app_id")), item
    )


BATCH_ATTEMPTS = 4
"""``BatchGetItem`` calls per lookup: DynamoDB may leave keys unprocessed (throttling); retried with backoff."""


class DynamoClientLookup:
    """``ClientLookup``: a ``client_id``'s registry entry (directory table) and a rate-limit counter (counters
    table) in one strongly consistent ``BatchGetItem``, for the token function's first reads (services/clientauth.py).
    """

    def __init__(self, client: DynamoDBClient, directory_table: str, counter_table: str) -> None:
        if directory_table == counter_table:
            raise ValueError("the directory and the rate-limit counters must be different tables")
        self._client = client
        self._directory = directory_table
        self._counters = counter_table
        self._counter_pk = names.RATE_LIMIT_TABLE.partition_key

    def client_and_count(self, client_id: str, counter: CounterRead) -> tuple[ClientRef | None, int]:
        """The registry entry of ``client_id`` and the value of ``counter`` (0 if absent); ``DependencyUnavailable``
        if DynamoDB fails or still leaves a key unprocessed after ``BATCH_ATTEMPTS`` calls."""
        pk, sk = _client_key(client_id)
        request: Mapping[str, Any] = {
            self._directory: {"Keys": [{"pk": {"S": pk}, "sk": {"S": sk}}], "ConsistentRead": True},
            self._counters: {
                "Keys": [{self._counter_pk: {"S": counter.key}}],
                "ConsistentRead": True,
                "ProjectionExpression": "#c",
                "ExpressionAttributeNames": {"#c": COUNT_ATTRIBUTE},
            },
        }
        found: dict[str, list[Mapping[str, Any]]] = {}
        for attempt in range(BATCH_ATTEMPTS):
            if attempt:
                time.sleep(0.025 * 2**attempt)  # 50, 100, 200 ms: the SDK's advice for unprocessed keys
            try:
                out = self._client.batch_get_item(RequestItems=request)
            except Exception as exc:  # botocore's ClientError/BotoCoreError and anything below them
                raise DependencyUnavailable("directory or rate-limit counters unavailable") from exc
            for table, items in out.get("Responses", {}).items():
                found.setdefault(table, []).extend(items)
            request = out.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise DependencyUnavailable("directory or rate-limit counters unavailable (keys left unprocessed)")
        entries = found.get(self._directory, ())
        entry = _of_kind(entries[0] if entries else None, "client_ref")  # one key asked, at most one item
        counters = found.get(self._counters, ())
        try:
            count = stored_count(counters[0] if counters else None)
        except (KeyError, ValueError, TypeError) as exc:
            raise DependencyUnavailable("rate-limit counter malformed") from exc
        return _client_ref(client_id, entry), count


class FastReadDirectory:
    """An ``IdentityDirectory`` whose hot reads (``tenant_with_keys``, ``client``, ``app``, ``plan``, ``user``,
    ``secret_pepper``) go through ``DynamoStateReader`` and everything else through ``rest()`` (the pynamodb
    ``DynamoDirectory``, built on first use): a client_credentials grant never imports pynamodb. Uncached —
    every read is as fresh as ``DynamoDirectory``'s."""

    def __init__(self, reads: DynamoStateReader, rest: Callable[[], IdentityDirectory]) -> None:
        self._reads = reads
        self._rest = rest

    def tenant_with_keys(self, tenant_id: str) -> tuple[Tenant | None, list[SigningKey]]:
        """The tenant and all its keys."""
        return self._reads.tenant_with_keys(tenant_id)

    def client(self, client_id: str) -> ClientRef | None:
        """The ``client_id`` registry entry."""
        return self._reads.client(client_id)

    def app(self, tenant_id: str, app_id: str) -> App | None:
        """One app."""
        return self._reads.app(tenant_id, app_id)

    def plan(self, plan_id: str) -> Plan | None:
        """One plan."""
        return self._reads.plan(plan_id)

    def user(self, tenant_id: str, user_id: str) -> User | None:
        """One user."""
        return self._reads.user(tenant_id, user_id)

    def secret_pepper(self) -> tuple[bytes, str] | None:
        """The wrapped client-secret pepper."""
        return self._reads.secret_pepper()

    # --- passed through to the whole directory ----------------------------------------------------------------

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        """The tenant."""
        return self._rest().get_tenant(tenant_id)

    def all_keys(self) -> Iterator[SigningKey]:
        """Every key."""
        return self._rest().all_keys()

    def commit(self, writes: Sequence[Write]) -> None:
        """Commit ``writes`` atomically."""
        self._rest().commit(writes)

    def user_by_username(self, username: str) -> User | None:
        """The user with ``username``."""
        return self._rest().user_by_username(username)

    def dashboard_client(self, client_id: str) -> DashboardClient | None:
        """The dashboard client."""
        return self._rest().dashboard_client(client_id)

    def refresh_token(self, token_hash: str) -> RefreshToken | None:
        """A refresh token by hash."""
        return self._rest().refresh_token(token_hash)

    def refresh_family(self, family_id: str) -> RefreshFamily | None:
        """A refresh family."""
        return self._rest().refresh_family(family_id)
