"""One botocore session and one client per AWS service for the execution environment: each client
built at its first use (``LazyClient``), the session reading botocore's data through
``ModelLoader``. botocore, not boto3, which would also import s3transfer for nothing.

docs/decisions.md, "One botocore session and one client per service", "Botocore clients are built
at first use", "The botocore session reads its JSON data through `nexus.aws.ModelLoader`" and
"botocore's data decoded by pydantic-core's JSON parser".
"""

from __future__ import annotations

import functools
import gzip
import os
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, overload

import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import DataNotFoundError

if TYPE_CHECKING:
    from pynamodb.models import Model

# botocore's standard retry mode (3 attempts, backoff with jitter) for every client. Attempts are
# "total_max_attempts": botocore reads a client's "max_attempts" as retries after the first.
_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=3, read_timeout=10)
# The calls a sign-up makes after its transaction (the welcome, its queue, the event): at most
# 2 attempts of 1 s to connect and 2 s to read, ~6 s in all, so that one slow service cannot
# run a 10 s function out of time after the user was committed (the rest of the budget:
# nexus.operations.welcome skips the send when too little is left).
_AFTER_COMMIT = Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=1, read_timeout=2)
# The pre-traffic check invokes a new version that may start cold and run to its timeout: one
# attempt (a probe's answer is what is judged), read for longer than any probe runs.
_PROBE = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=3, read_timeout=60)
_CONFIG_BY_SERVICE = {"sesv2": _AFTER_COMMIT, "sqs": _AFTER_COMMIT, "kinesis": _AFTER_COMMIT, "lambda": _PROBE}


class JSONFiles(botocore.loaders.JSONFileLoader):
    """botocore's file loader, decoding to plain dicts with pydantic-core's JSON parser.

    pydantic-core is loaded by every function already (pydantic); its parser (jiter) decodes
    botocore's data faster than ``json`` into the same values (a test compares every file botocore
    ships; docs/PERFORMANCE.md). ``cache_strings``: the shape and member names repeat across the models.
    """

    def load_file(self, file_path: str) -> Any:
        if os.path.isfile(file_path + ".json"):
            with open(file_path + ".json", "rb") as file:
                return decode_json(file.read())
        if os.path.isfile(file_path + ".json.gz"):
            with gzip.open(file_path + ".json.gz", "rb") as file:
                return decode_json(file.read())
        return None


def decode_json(data: bytes) -> Any:
    """``json.loads``, faster."""
    from pydantic_core import from_json  # imported with pydantic anyway; not at nexus.aws's import

    return from_json(data, cache_strings="all")


class ServiceNames(Sequence[str]):
    """The services that have a ``type_name`` model, as botocore lists them; ``in`` looks at one."""

    def __init__(self, loader: ModelLoader, type_name: str) -> None:
        self._loader = loader
        self._type_name = type_name

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or not name or os.sep in name or name.startswith("."):
            return False
        try:
            self._loader.list_api_versions(name, self._type_name)
        except DataNotFoundError:
            return False
        return True

    @functools.cached_property
    def _names(self) -> list[str]:
        return self._loader.list_every_service(self._type_name)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        return self._names[index]

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)


class ModelLoader(botocore.loaders.Loader):
    """botocore's data loader, with ``JSONFiles`` and a ``list_available_services`` whose
    membership test (all that ``load_service_model`` asks of it) reads one service's directory."""

    def __init__(self, data_path: str | None = None) -> None:
        extra = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)] if data_path else None
        super().__init__(extra_search_paths=extra, file_loader=JSONFiles())

    # A sequence of the names, as botocore's list is (the stubs say list).
    def list_available_services(self, type_name: str) -> ServiceNames:  # type: ignore[override]
        return ServiceNames(self, type_name)

    def list_every_service(self, type_name: str) -> list[str]:
        names: list[str] = super().list_available_services(type_name)
        return names


@functools.cache
def model_loader(data_path: str | None) -> ModelLoader:
    """One loader per process: what it caches is botocore's read-only data (a new session, as
    after a SnapStart restore or in tests, reuses the models already parsed)."""
    return ModelLoader(data_path)


@functools.cache
def session() -> botocore.session.Session:
    created = botocore.session.get_session()
    created.register_component("data_loader", model_loader(created.get_config_variable("data_path")))
    return created


class LazyClient:
    """A botocore client of ``service``, created at its first attribute access, then delegated to.

    Behaves as the client for everything its callers do (API methods, ``meta``,
    ``exceptions``, ``_make_api_call`` for pynamodb); ``built`` tells whether it exists yet.
    """

    __slots__ = ("_client", "_lock", "service")

    def __init__(self, service: str) -> None:
        self.service = service
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        return self._client is not None

    def resolve(self) -> Any:
        """The real client, created once (threads racing here get the same one)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    config = _CONFIG_BY_SERVICE.get(self.service, _CONFIG)
                    self._client = session().create_client(self.service, config=config)
        return self._client

    def discard(self) -> None:
        """Forget the built client (SnapStart restore): the next use builds a new one."""
        with self._lock:
            self._client = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.resolve(), name)

    def __repr__(self) -> str:
        return f"LazyClient({self.service!r}, built={self.built})"


_services: set[str] = set()


@functools.cache
def client(service: str) -> Any:
    """The environment's one client of ``service`` (built when first used)."""
    _services.add(service)
    return LazyClient(service)


def share_dynamodb_client(model: type[Model]) -> None:
    """Give a pynamodb model's connection the environment's one DynamoDB client.

    pynamodb would otherwise build a botocore session and a client of its own per model
    (and per thread); ``_client`` is where its connection keeps the client it made.
    """
    model._get_connection().connection._client = client("dynamodb")


def renew_clients() -> None:
    """Discard every built client and the session (their connections and credentials); the
    ``LazyClient`` objects the services hold stay valid and build new clients when next used."""
    for lazy in _built_clients():
        lazy.discard()
    session.cache_clear()


def _built_clients() -> list[LazyClient]:
    # functools.cache keeps no public index of its entries: ask for those that were requested.
    return [client(service) for service in list(_services)]


def reset() -> None:
    """Forget the session and clients (tests switch between emulated endpoints)."""
    client.cache_clear()
    _services.clear()
    session.cache_clear()
