"""The local stack's per-region invocation (local/regions.py): a region's settings variables are in the
environment exactly for the duration of its invocations, and the wiring caches settings per region."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from wiresocket import config, names
from wiresocket.local.regions import RegionalInvoke, regional_environment


def test_only_regional_variables_may_be_overridden() -> None:
    # Then a non-regional variable is refused
    with pytest.raises(ValueError):
        RegionalInvoke(lambda f, e: None, {names.ENV_DIRECTORY_TABLE: "x"}, threading.Lock())


def test_overrides_apply_during_the_invocation_and_are_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given region A's values in the environment and an invoker for region B
    monkeypatch.setenv(names.ENV_DATA_REGION, "eu-west-1")
    monkeypatch.delenv(names.ENV_WS_PUBLIC_URL, raising=False)
    monkeypatch.delenv(names.ENV_WS_MANAGEMENT_ENDPOINT, raising=False)
    seen: list[tuple[str, ...]] = []

    def invoke(function: str, event: dict[str, Any]) -> object:
        seen.append(config.data_plane_region_key())
        raise RuntimeError("handler failed")

    b = RegionalInvoke(
        invoke, {names.ENV_DATA_REGION: "us-east-1", names.ENV_WS_PUBLIC_URL: "ws://b"}, threading.Lock()
    )
    # When B invokes a function that fails
    with pytest.raises(RuntimeError):
        b("ws_connect", {})
    # Then the function saw B's values, and A's are back afterwards (an unset variable stays unset)
    assert seen == [("us-east-1", "", "ws://b")]
    assert config.data_plane_region_key() == ("eu-west-1", "", "")


def test_regional_environment_takes_every_regional_variable() -> None:
    # Then a region's complete override names all of them (missing ones empty)
    env = regional_environment({names.ENV_DATA_REGION: "eu-west-1"})
    assert set(env) == set(config.DATA_PLANE_REGIONAL_ENV)
    assert env[names.ENV_DATA_REGION] == "eu-west-1" and env[names.ENV_WS_PUBLIC_URL] == ""


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        (names.ENV_PIN_GRACE_SECONDS, "0"),
        (names.ENV_PIN_GRACE_SECONDS, "11"),
        (names.ENV_PIN_GRACE_SECONDS, "ten"),
        (names.ENV_WS_PUBLIC_URL, "https://not-a-websocket.example"),
    ],
)
def test_bad_pinning_settings_fail_at_parse(variable: str, value: str) -> None:
    # Then a grace period outside 1-10 s or a public URL that is not ws(s):// is refused
    with pytest.raises(config.SettingsError):
        config.WsConnectSettings.from_env({names.ENV_REGION: "eu-west-1", variable: value})


def test_pinning_settings_default_to_the_public_grace_period() -> None:
    s = config.WsConnectSettings.from_env({names.ENV_REGION: "eu-west-1"})
    assert (s.pin_grace_seconds, s.ws_public_url) == (10, "")
