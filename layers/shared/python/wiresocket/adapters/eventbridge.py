"""EventBridge implementation of the ``EventBus`` port (the audit bus)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from wiresocket import names
from wiresocket.domain.audit import AuditEvent
from wiresocket.domain.errors import DependencyUnavailable

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef


class EventBridgeBus:
    """Puts audit events on the bus with ``source: wiresocket.security``."""

    def __init__(self, client: EventBridgeClient, bus_name: str = names.AUDIT_BUS_NAME) -> None:
        self._client = client
        self._bus = bus_name

    def put(self, events: Sequence[AuditEvent]) -> set[str]:
        """Put up to 10 events; returns the ids EventBridge did not accept."""
        entries: list[PutEventsRequestEntryTypeDef] = [
            {
                "Source": names.AUDIT_SOURCE,
                "DetailType": e.detail_type.value,
                "Detail": json.dumps(e.detail(), sort_keys=True),
                "EventBusName": self._bus,
                "Time": datetime.fromtimestamp(e.occurred_at, tz=UTC),
            }
            for e in events
        ]
        try:
            out = self._client.put_events(Entries=entries)
        except (BotoCoreError, ClientError) as exc:
            raise DependencyUnavailable("event bus unavailable") from exc
        return {e.event_id for e, result in zip(events, out["Entries"], strict=False) if result.get("ErrorCode")}
