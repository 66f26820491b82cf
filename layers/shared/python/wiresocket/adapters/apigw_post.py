"""The ``@connections`` management API for the data plane: ``PostToConnection`` and ``DeleteConnection``.

The same client handling as ``apigw_management.ManagementApiCloser`` (one client per endpoint and region, the
endpoint always explicit so ``AWS_ENDPOINT_URL`` never sends these calls to moto), plus sending frames.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from wiresocket.adapters.apigw_management import ManagementApiCloser
from wiresocket.adapters.errors import error_code


class ManagementApiPoster(ManagementApiCloser):
    """Sends text frames to connections and closes them; ``GoneException`` (410) means gone."""

    def post(self, endpoint: str, connection_id: str, region: str, data: str) -> bool:
        """True if the frame was accepted for the connection; False if it is gone. Other failures raise
        (a frame over API Gateway's 128 KB message quota is ``PayloadTooLargeException``)."""
        try:
            self._client(endpoint, region).post_to_connection(ConnectionId=connection_id, Data=data.encode("utf-8"))
        except ClientError as exc:
            if error_code(exc) == "GoneException":
                return False
            raise
        return True
