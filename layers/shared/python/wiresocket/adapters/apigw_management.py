"""The API Gateway ``@connections`` management API (``DeleteConnection``), one client per endpoint."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from wiresocket.adapters.errors import error_code

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient


class ManagementApiCloser:
    """Closes connections with ``DeleteConnection``; ``GoneException`` (410) means already gone.

    The endpoint is always explicit (``https://{api}.execute-api.{region}.amazonaws.com/{stage}`` in AWS, the
    emulator's URL locally): ``AWS_ENDPOINT_URL`` would otherwise send these calls to moto.
    """

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str], ApiGatewayManagementApiClient] = {}
        self._lock = threading.Lock()
        self._config = Config(
            connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=50
        )

    def _client(self, endpoint: str, region: str) -> ApiGatewayManagementApiClient:
        with self._lock:
            client = self._clients.get((endpoint, region))
            if client is None:
                # Signed for the region of the WebSocket API that holds the connection, not the caller's.
                client = boto3.client(
                    "apigatewaymanagementapi", endpoint_url=endpoint, region_name=region, config=self._config
                )
                self._clients[(endpoint, region)] = client
            return client

    def close(self, endpoint: str, connection_id: str, region: str) -> bool:
        """True if the connection was live and is now closing; False if it was already gone."""
        try:
            self._client(endpoint, region).delete_connection(ConnectionId=connection_id)
        except ClientError as exc:
            if error_code(exc) == "GoneException":
                return False
            raise
        return True
