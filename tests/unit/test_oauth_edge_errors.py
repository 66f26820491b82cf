"""``edge.oauth.oauth_error_response``: dependency failures are a retryable 503, but stored key material that
fails its integrity check (tampering or corruption) is also logged at ERROR, so somebody is alerted."""

from __future__ import annotations

import json
import logging

import pytest

from wiresocket.domain import errors
from wiresocket.edge.oauth import oauth_error_response


def test_an_integrity_failure_is_a_503_and_an_error_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    # Given sealed key material that failed authentication
    with caplog.at_level(logging.INFO, logger="wiresocket.edge.oauth"):
        response = oauth_error_response(errors.IntegrityError("private key ciphertext failed authentication"))
    # Then the client sees a retryable 503 without details, and the log has an ERROR record
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["error"] == "temporarily_unavailable"
    assert [r.levelno for r in caplog.records] == [logging.ERROR]


def test_a_dependency_failure_is_a_503_without_an_error_record(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="wiresocket.edge.oauth"):
        response = oauth_error_response(errors.DependencyUnavailable("directory unavailable"))
    assert response["statusCode"] == 503
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
