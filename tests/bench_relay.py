"""``relay``: y-websocket updates per second through ``ws_message``'s service with moto-backed adapters, N = 10
connections on one document, against the moto round-trip cost measured in the same run (issue 6).

The path per message is what ``$default`` does in AWS: the connect-time refusal read, the (warm-cached)
security state, the ``opsPerMinute`` counter, pycrdt validation, the append of the update to the document
(with a compaction every ``DEFAULT_COMPACT_AFTER`` updates), the registry query for the document's
connections, and the relay to the 9 others. DynamoDB is moto in this process (``mock_aws``). moto cannot be the
``@connections`` API here (it concatenates posted frames and never answers 410), so posting is an in-memory
counter: in AWS each post is one more HTTPS call, made in parallel by the relay's pool.

The baseline is one moto DynamoDB round trip (``GetItem`` on the same usage table through the same boto3
client), interleaved round by round with the relay: ``ratio`` = messages per round trip's time, so
``round_trips_per_message`` (= 1/ratio) shows how many DynamoDB calls' worth of time one relayed message costs.
The issue names no target for it (informational: ``target`` is null).
"""

from __future__ import annotations

import base64
import os
import statistics
import threading
from collections.abc import Iterator
from typing import Any

from tests.benchkit import interleaved

N_CONNECTIONS = 10
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
PER_ROUND = int(os.environ.get("BENCH_RELAY_PER_ROUND", "40"))
REGION = "eu-west-1"


class CountingPoster:
    """Stands in for the ``@connections`` API (see the module docstring): counts frames and bytes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.frames = 0
        self.bytes = 0

    def post(self, endpoint: str, connection_id: str, region: str, data: str) -> bool:
        with self._lock:
            self.frames += 1
            self.bytes += len(data)
        return True

    def close(self, endpoint: str, connection_id: str, region: str) -> bool:
        return True


def relay() -> dict[str, Any]:
    """The ``relay`` result."""
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    import boto3
    import pycrdt
    from moto import mock_aws

    from tests.fakes.oauth_world import build_world
    from tests.fakes.ratelimit import MemoryCounterStore
    from wiresocket import names
    from wiresocket.adapters.clock import SystemClock
    from wiresocket.adapters.directory_models import bind_directory
    from wiresocket.adapters.dynamo_connections import DynamoConnectionRegistry
    from wiresocket.adapters.dynamo_directory import DynamoDirectory, DynamoLockStore
    from wiresocket.adapters.dynamo_documents import DynamoDocumentStore, DynamoUsageCounter
    from wiresocket.adapters.kms import KmsKeyWrapper
    from wiresocket.domain.connections import AuthorizedConnection
    from wiresocket.domain.keys import select_active
    from wiresocket.local.resources import create_global_resources, create_regional_resources
    from wiresocket.services.authorize import CachedStateDirectory
    from wiresocket.services.connections import ConnectionService
    from wiresocket.services.documents import DocumentService
    from wiresocket.services.relay import RelayService, Sender

    with mock_aws():
        clients: dict[str, Any] = {}

        def client_for(region: str) -> Any:
            if region not in clients:
                clients[region] = boto3.client("dynamodb", region_name=region)
            return clients[region]

        resources = create_global_resources(client_for(REGION), boto3.client("kms"), boto3.client("events"))
        create_regional_resources(client_for)
        bind_directory(resources.directory_table, REGION)
        clock = SystemClock()
        world = build_world(
            DynamoDirectory(),
            DynamoLockStore(),
            KmsKeyWrapper(boto3.client("kms"), resources.master_key_alias),
            clock,
            MemoryCounterStore(),
            region=REGION,
        )
        app = world.app
        _, keys = world.store.tenant_with_keys(app.tenant_id)
        active = select_active(keys)
        assert active is not None
        limits = {"maxConnections": 1000, "maxDocuments": 100, "maxUsersPerDoc": 100, "opsPerMinute": 10**9}
        authorized = AuthorizedConnection(
            tenant_id=app.tenant_id,
            app_id=app.app_id,
            kid=active.kid,
            license_region=app.license_region,
            limits=limits,
            domains=(),
            document="bench",
            subprotocol="",
            exp=int(clock.now()) + 3600,
        )
        endpoint = "https://bench.execute-api.eu-west-1.amazonaws.com/prod"
        registry = DynamoConnectionRegistry(client_for, names.CONNECTIONS_TABLE.default_name)
        connections = ConnectionService(registry, clock, ws_region=REGION, endpoint=endpoint, limits=registry)
        senders = []
        for i in range(N_CONNECTIONS):
            connection_id = f"bench{i:02d}="
            _, refused = connections.admit(connection_id, authorized)
            assert refused is None
            senders.append(Sender(connection_id, authorized, endpoint, REGION))
        poster = CountingPoster()
        store = DynamoDocumentStore(client_for, names.DOCUMENTS_TABLE.default_name)
        service = RelayService(
            DocumentService(store, clock, ttl_seconds=86400),
            connections,
            CachedStateDirectory(DynamoDirectory(), clock, ttl_seconds=5),
            DynamoUsageCounter(client_for, names.USAGE_TABLE.default_name),
            poster,
            clock,
        )

        # Each connection edits its own replica of the shared text: a typing user's update, a few dozen bytes.
        docs: list[pycrdt.Doc[Any]] = [pycrdt.Doc() for _ in range(N_CONNECTIONS)]
        texts = [doc.get("text", type=pycrdt.Text) for doc in docs]
        sizes: list[int] = []
        turn = [0]

        def message() -> object:
            i = turn[0] % N_CONNECTIONS
            turn[0] += 1
            before = docs[i].get_state()
            texts[i].insert(len(texts[i]), "x")
            frame = base64.b64encode(pycrdt.create_update_message(docs[i].get_update(before))).decode("ascii")
            sizes.append(len(frame))
            outcome = service.handle(senders[i], frame)
            if outcome.kind != "update" or outcome.relayed != N_CONNECTIONS - 1:
                raise RuntimeError(f"relay did not reach every peer: {outcome.kind} {outcome.relayed}")
            return outcome

        usage = client_for(names.aws_region_of(app.license_region))

        def round_trip() -> object:
            return usage.get_item(TableName=names.USAGE_TABLE.default_name, Key={"pk": {"S": "bench#baseline"}})

        for _ in range(10):  # warm: clients, caches, first compaction paths
            message()
            round_trip()
        frames_before = poster.frames
        measured = interleaved(message, round_trip, rounds=ROUNDS, per_round=PER_ROUND)
        relayed_frames = poster.frames - frames_before
    messages = ROUNDS * PER_ROUND
    return {
        "name": "relay",
        "unit": "messages/s",
        "value": round(measured.value, 1),
        "baseline": round(measured.baseline, 1),
        "ratio": round(measured.ratio, 4),
        "target": None,
        "round_trips_per_message": round(1 / measured.ratio, 2),
        "connections": N_CONNECTIONS,
        "relayed_frames_per_message": round(relayed_frames / messages, 2),
        "median_frame_bytes": int(statistics.median(sizes)),
        "note": "baseline: one moto DynamoDB GetItem; @connections posts are in-memory (moto cannot relay)",
    }


def benchmarks() -> Iterator[dict[str, Any]]:
    """The data-plane results."""
    yield relay()
