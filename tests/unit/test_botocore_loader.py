"""``adapters.botocore_loader``: botocore's service-membership test answered for one service, with the same answer as
botocore's scan of every service directory, which a client's creation no longer runs."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import botocore.session
import pytest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import Loader

from wiresocket.adapters.botocore_loader import ServiceLoader, service_loader

TYPES = ("service-2", "endpoint-rule-set-1", "paginators-1", "waiters-2")
NOT_SERVICES = ("", ".", "..", "nosuchservice", "dynamodb/2012-08-10", "../data/dynamodb", "DynamoDB")


@pytest.fixture
def listdirs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every ``os.listdir`` made while the test runs."""
    calls: list[str] = []
    real: Callable[[str], list[str]] = os.listdir

    def counting(path: str) -> list[str]:
        calls.append(str(path))
        return real(path)

    monkeypatch.setattr(os, "listdir", counting)
    return calls


@pytest.mark.parametrize("type_name", TYPES)
def test_membership_is_botocore_s_own_answer_for_every_service(type_name: str) -> None:
    # Given botocore's own list of the services with this kind of model
    listed = Loader().list_available_services(type_name)
    # When each is tested against the loader's answer, and so are names that are no service
    names = service_loader(None).list_available_services(type_name)
    # Then every listed service is in it, nothing else is, and reading it gives botocore's list
    assert all(name in names for name in listed)
    assert not any(name in names for name in NOT_SERVICES)
    assert list(names) == listed and len(names) == len(listed) and names[0] == listed[0] and names[-1] == listed[-1]


def test_creating_a_client_lists_one_service_directory_not_all_of_them(listdirs: list[str]) -> None:
    # Given a session with the loader, and one with botocore's
    fast = botocore.session.get_session()
    fast.register_component("data_loader", service_loader(fast.get_config_variable("data_path")))
    # When a DynamoDB client is created from each
    fast.create_client("dynamodb", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y")
    with_loader = len(listdirs)
    botocore.session.get_session().create_client(
        "dynamodb", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    # Then the loader looked into a handful of directories, botocore's scan into every service's
    assert with_loader < 10
    assert len(listdirs) - with_loader > 2 * 100


def test_an_unknown_service_is_still_refused_with_botocore_s_list() -> None:
    session = botocore.session.get_session()
    session.register_component("data_loader", service_loader(None))
    with pytest.raises(UnknownServiceError) as refused:
        session.create_client("nosuchservice", region_name="eu-west-1")
    # The message names the known services, as botocore's own loader does
    assert "dynamodb" in str(refused.value) and "kms" in str(refused.value)


def test_a_model_on_the_aws_data_path_is_a_service_like_any_other(tmp_path: Path) -> None:
    # Given AWS_DATA_PATH (the session's data_path) with one more service model
    model = tmp_path / "wiresocketdemo" / "2026-11-30"
    model.mkdir(parents=True)
    (model / "service-2.json").write_text(json.dumps({"metadata": {}, "operations": {}, "shapes": {}}))
    # When / Then the loader sees it, as create_loader's would, and still sees botocore's own
    names = service_loader(os.pathsep.join([str(tmp_path), str(tmp_path / "missing")])).list_available_services(
        "service-2"
    )
    assert "wiresocketdemo" in names and "dynamodb" in names and "wiresocketdemo" in list(names)


def test_the_container_session_loads_models_through_it() -> None:
    from wiresocket import wiring

    wiring._pool.cache_clear()
    try:
        assert isinstance(wiring.botocore_session().get_component("data_loader"), ServiceLoader)
    finally:
        wiring._pool.cache_clear()
