"""moto fixtures: fake credentials → mock → clients, in that order; resources from the shared definitions."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from tests.fakes.oauth_world import OAuthWorld, build_world
from tests.fakes.ratelimit import MemoryCounterStore
from wiresocket import names, wiring
from wiresocket.adapters.clock import SystemClock
from wiresocket.adapters.directory_models import bind_directory
from wiresocket.adapters.dynamo_directory import DynamoDirectory, DynamoLockStore, DynamoOutbox
from wiresocket.adapters.eventbridge import EventBridgeBus
from wiresocket.adapters.kms import KmsKeyWrapper
from wiresocket.local.moto_atomic import atomic_writes
from wiresocket.local.resources import GlobalResources, create_global_resources
from wiresocket.services.keyvault import KeyPolicy, KeyVault
from wiresocket.services.locks import LockManager
from wiresocket.services.outbox import OutboxPublisher
from wiresocket.services.ratelimit import CounterStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_sqs import SQSClient

REGION = "eu-west-1"


def reset_wiring() -> None:
    """Forget every cached factory result (settings, clients, services) of ``wiring``."""
    for value in vars(wiring).values():
        if isinstance(value, functools._lru_cache_wrapper):
            value.cache_clear()


@dataclass
class Aws:
    resources: GlobalResources
    dynamodb: DynamoDBClient
    kms: KMSClient
    events: EventBridgeClient
    sqs: SQSClient
    audit_queue_url: str

    def settings_env(self) -> dict[str, str]:
        return {
            names.ENV_REGION: REGION,
            names.ENV_DIRECTORY_TABLE: self.resources.directory_table,
            names.ENV_MASTER_KEY_ID: self.resources.master_key_alias,
            names.ENV_AUDIT_BUS: self.resources.audit_bus,
        }

    def audit_messages(self) -> list[dict[str, Any]]:
        """Everything the audit bus delivered to the test queue so far."""
        import json

        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.audit_queue_url, MaxNumberOfMessages=10)
            messages = got.get("Messages", [])
            if not messages:
                return out
            for m in messages:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.audit_queue_url, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    # moto + the one thing we fake on top of it: DynamoDB's write atomicity (see wiresocket.local.moto_atomic).
    with mock_aws(), atomic_writes():
        dynamodb, kms, events = boto3.client("dynamodb"), boto3.client("kms"), boto3.client("events")
        sqs = boto3.client("sqs")
        resources = create_global_resources(dynamodb, kms, events)
        # Capture what reaches the bus: a rule on our source → an SQS queue.
        queue_url = sqs.create_queue(QueueName="audit-capture")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(
            Name="capture", EventBusName=resources.audit_bus, EventPattern='{"source": ["' + names.AUDIT_SOURCE + '"]}'
        )
        events.put_targets(Rule="capture", EventBusName=resources.audit_bus, Targets=[{"Id": "q", "Arn": queue_arn}])
        bind_directory(resources.directory_table, REGION)
        aws = Aws(resources, dynamodb, kms, events, sqs, queue_url)
        for var, value in aws.settings_env().items():
            monkeypatch.setenv(var, value)
        reset_wiring()
        yield aws
        reset_wiring()


@dataclass
class Vault:
    vault: KeyVault
    directory: DynamoDirectory
    wrapper: KmsKeyWrapper
    publisher: OutboxPublisher


def make_vault(aws: Aws, *, min_age: int = 0, grace: int = 3600, publish: bool = True) -> Vault:
    clock = SystemClock()
    directory = DynamoDirectory()
    wrapper = KmsKeyWrapper(aws.kms, aws.resources.master_key_alias)
    publisher = OutboxPublisher(DynamoOutbox(), EventBridgeBus(aws.events, aws.resources.audit_bus), clock)
    vault = KeyVault(
        directory,
        wrapper,
        LockManager(DynamoLockStore(), clock),
        clock,
        region=REGION,
        policy=KeyPolicy(grace_seconds=grace, next_key_min_age_seconds=min_age),
        on_commit=publisher.publish_pending if publish else None,
    )
    return Vault(vault, directory, wrapper, publisher)


def moto_world(aws: Aws, counters: CounterStore | None = None) -> OAuthWorld:
    """The OAuth world (tenants, apps, users, keys) on moto's DynamoDB and KMS; rate-limit counters in memory
    unless ``counters`` is given."""
    return build_world(
        DynamoDirectory(),
        DynamoLockStore(),
        KmsKeyWrapper(aws.kms, aws.resources.master_key_alias),
        SystemClock(),
        counters if counters is not None else MemoryCounterStore(),
        region=REGION,
    )


@pytest.fixture
def vault(aws: Aws) -> Vault:
    return make_vault(aws)
