"""botocore's model loader, without its scan of every service directory when a client is created.

``botocore.loaders.Loader.load_service_model`` first lists every service botocore knows
(``list_available_services``: a ``listdir`` of each of the ~450 service directories and a file check per API
version), only to test that the service asked for is among them; the list itself is used only for the error
message when it is not. It does this once per model type, so twice per cold start (the service model and its
endpoint rules): ~20 ms of CPU on the dev machine, at every cold start of every function (the
``import boto3; boto3.client("dynamodb")`` baseline of ``make bench`` pays it too). botocore's maintainers take
the scan off the happy path upstream (boto/botocore#3687, open when this was written); no setting skips it.

``ServiceLoader`` answers that membership test for the one service asked about, by the loader's own rule (a
directory of that name in one of the search paths has an API version directory holding the model type), and
lists every service exactly as botocore does (``Loader.list_available_services``) only when something reads the
whole list: an ``UnknownServiceError`` message, ``Session.get_available_services``. Everything else, including
every model it loads, is botocore's own code. Our own module rather than a library because the only alternative
is waiting for that release; the override is the smallest one that leaves botocore's loading logic untouched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import overload

from botocore.loaders import Loader


class ServiceNames(Sequence[str]):
    """The services that have ``type_name`` models: a membership test looks at one directory; reading the
    sequence lists them all, sorted, once (botocore's own scan)."""

    def __init__(self, loader: ServiceLoader, type_name: str) -> None:
        self._loader = loader
        self._type_name = type_name
        self._all: list[str] | None = None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._loader.has_service(name, self._type_name)

    def _names(self) -> list[str]:
        if self._all is None:
            self._all = Loader.list_available_services(self._loader, self._type_name)
        return self._all

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._names()[index]


class ServiceLoader(Loader):
    """A ``Loader`` whose ``list_available_services`` is a ``ServiceNames`` (see the module docstring)."""

    def list_available_services(self, type_name: str) -> ServiceNames:  # type: ignore[override]
        # botocore's signature says list[str]; its callers test membership and join or iterate the names.
        return ServiceNames(self, type_name)

    def has_service(self, service_name: str, type_name: str) -> bool:
        """Whether ``Loader.list_available_services(type_name)`` would list ``service_name``."""
        if not service_name or service_name in {os.curdir, os.pardir} or os.sep in service_name:
            return False  # the scan only ever sees directory entries: never a path, never "." or ".."
        if os.altsep and os.altsep in service_name:
            return False
        for location in self.search_paths:  # as Loader._potential_locations() lists them: the existing ones
            if not os.path.isdir(location):
                continue
            directory = os.path.join(location, service_name)
            if not os.path.isdir(directory):
                continue
            for api_version in os.listdir(directory):
                if self.file_loader.exists(os.path.join(directory, api_version, type_name)):
                    return True
        return False


def service_loader(search_path_string: str | None) -> ServiceLoader:
    """What ``botocore.loaders.create_loader`` builds for the session's ``data_path`` (``AWS_DATA_PATH``), as a
    ``ServiceLoader``."""
    if search_path_string is None:
        return ServiceLoader()
    paths = [os.path.expanduser(os.path.expandvars(path)) for path in search_path_string.split(os.pathsep)]
    return ServiceLoader(extra_search_paths=paths)
