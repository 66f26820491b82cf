"""DynamoDB adapters of the data plane's HTTP endpoints (``services/dataplane_http.py``).

- ``DynamoUsageReader``: the app's usage counters (``names.USAGE_TABLE``: ``pk`` → ``count``) in the table of its
  license region, read strongly consistent in one ``BatchGetItem``.
- ``DynamoHealthProbe``: one ``GetItem`` of a key that never exists in each of this region's tables, through a
  client with short timeouts and no retries, so a probe costs one small read per table and gives up quickly.

Any AWS failure becomes ``DependencyUnavailable``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from wiresocket import names
from wiresocket.adapters.errors import unavailable_on_aws_failure
from wiresocket.domain.errors import DependencyUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PROBE_KEY: Final = "health#probe"
"""A key no writer ever uses: the probe reads "nothing" and pays one read unit at most."""
BATCH_ATTEMPTS: Final = 3


class DynamoUsageReader:
    """Usage counters in ``table_name`` of each license region (one cached client per AWS region)."""

    def __init__(self, client_for_region: Callable[[str], DynamoDBClient], table_name: str) -> None:
        self._client_for_region = client_for_region
        self._table = table_name

    def counters(self, license_region: str, keys: Sequence[str]) -> dict[str, int]:
        """The ``count`` of each key (0 if absent), strongly consistent."""
        client = self._client_for_region(names.aws_region_of(license_region))
        wanted = list(dict.fromkeys(keys))
        found = dict.fromkeys(wanted, 0)
        pending: list[dict[str, Any]] = [{"pk": {"S": key}} for key in wanted]
        for _ in range(BATCH_ATTEMPTS):
            if not pending:
                return found
            with unavailable_on_aws_failure("DynamoDB usage counters"):
                out = client.batch_get_item(
                    RequestItems={
                        self._table: {
                            "Keys": pending,
                            "ConsistentRead": True,
                            "ProjectionExpression": "pk, #c",
                            "ExpressionAttributeNames": {"#c": "count"},
                        }
                    }
                )
            for item in out.get("Responses", {}).get(self._table, []):
                value = item.get("count", {}).get("N")
                found[item["pk"]["S"]] = int(value) if value is not None else 0
            unprocessed: dict[str, Any] = dict(out.get("UnprocessedKeys") or {})
            pending = list((unprocessed.get(self._table) or {}).get("Keys") or [])
        if pending:
            raise DependencyUnavailable("DynamoDB usage counters unavailable (unprocessed keys)")
        return found


class DynamoHealthProbe:
    """Reads one absent key from each table (``(table name, table spec)``) through ``client``."""

    def __init__(self, client: DynamoDBClient, tables: Sequence[tuple[str, names.TableSpec]]) -> None:
        self._client = client
        self._tables = tuple(tables)

    def probe(self) -> None:
        """Return if every table answered; ``DependencyUnavailable`` otherwise."""
        for table_name, spec in self._tables:
            key = {spec.partition_key: {"S": PROBE_KEY}}
            if spec.sort_key:
                key[spec.sort_key] = {"S": PROBE_KEY}
            with unavailable_on_aws_failure(f"DynamoDB table {spec.logical_name}"):
                self._client.get_item(TableName=table_name, Key=key, ProjectionExpression=spec.partition_key)
