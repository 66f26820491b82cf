"""Translate AWS client failures into domain errors, in one place for every adapter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from wiresocket.domain.errors import DependencyUnavailable


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ``ClientError`` (``""`` for anything else)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


@contextmanager
def unavailable_on_aws_failure(service: str) -> Iterator[None]:
    """Turn transport errors and unexpected AWS errors into ``DependencyUnavailable``."""
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise DependencyUnavailable(f"{service} unavailable ({type(exc).__name__} {error_code(exc)})") from exc
