"""One contract for every cache backend, run unchanged against each of them.

* DynamoDB: in-process moto with a controlled clock (moto never deletes expired items,
  so this checks that reads compare ``expires_at`` with the clock);
The users domain's caching (``nexus.users.caching``: versions, tombstones, generations) runs
here too, with every kind of entry turned on, since it relies on ``set_if_newer``.

* Redis: a real redis-server (devkit/redis_server.py) with authentication on, the backend
  connecting as the template's cache user (its access string, a password read through a
  function as from the secret). Time moves on by shortening every key's remaining TTL with
  PEXPIRE (or deleting the key when none remains), which is what waiting would do, without
  the wait; one Redis-only test waits for a real expiry.

The concurrency case runs DynamoDB against a serialized moto server over HTTP.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import boto3
import pytest
import redis

from devkit.fakes import FakeClock
from devkit.moto_server import serialized_moto_server
from devkit.redis_server import RedisServer
from local.account import FAKE_CREDENTIALS
from local.provisioning import LocalResources
from local.template import Template
from nexus.cache import CacheBackend, CacheBackendError, CacheService, NotAnIntegerError
from nexus.cache.dynamodb import DynamoDBCacheBackend
from nexus.cache.redis import RedisCacheBackend
from nexus.settings import CacheSettings
from nexus.users.caching import PageCache, UserCache
from nexus.users.schemas import User, UserFilters, UserPage

BACKENDS = ["dynamodb", "redis"]
USER_ID = "01JD0000000000000000000000"
# CacheService and the users caches read only these: skip validating the settings they do not use.
SETTINGS = CacheSettings.model_construct(
    cache_default_ttl_seconds=3600, user_cache_ttl_seconds=300, list_cache_ttl_seconds=60
)
FILTERED = UserFilters(tags=("beta",))


@dataclass
class Harness:
    """A backend, and a way to let ``seconds`` pass for it."""

    name: str
    backend: CacheBackend
    advance: Callable[[int], None]


def _redis_time_passes(client: redis.Redis) -> Callable[[int], None]:
    def advance(seconds: int) -> None:
        for key in client.scan_iter(count=1000):
            remaining = client.pttl(key)
            assert remaining != -1, f"{key!r} lives without a TTL"
            if remaining == -2:  # expired meanwhile
                continue
            if remaining > seconds * 1000:
                client.pexpire(key, remaining - seconds * 1000)
            else:
                client.delete(key)

    return advance


@pytest.fixture
def redis_url(redis_auth: RedisServer) -> str:
    """The server's URL, without credentials."""
    return redis_auth.url


@pytest.fixture
def redis_admin(redis_auth: RedisServer) -> Iterator[redis.Redis]:
    """A client with every right, for what only the tests do (FLUSHDB, KEYS)."""
    client = redis.Redis.from_url(redis_auth.admin_url)
    yield client
    client.close()


@pytest.fixture
def redis_backend(redis_auth: RedisServer, redis_admin: redis.Redis) -> Iterator[RedisCacheBackend]:
    redis_admin.flushdb()
    backend = RedisCacheBackend(redis_auth.url, username=redis_auth.username, password=lambda: redis_auth.password)
    yield backend
    backend.client.close()


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "dynamodb":
        aws: LocalResources = request.getfixturevalue("aws")
        clock = FakeClock()
        return Harness("dynamodb", DynamoDBCacheBackend(aws.physical["CacheTable"]["Ref"], clock=clock), clock.advance)
    backend: RedisCacheBackend = request.getfixturevalue("redis_backend")
    return Harness("redis", backend, _redis_time_passes(backend.client))


@pytest.fixture
def backend(harness: Harness) -> CacheBackend:
    return harness.backend


@pytest.fixture
def cache(backend: CacheBackend) -> CacheService:
    service = CacheService(backend, SETTINGS)
    service.initialize()
    return service


@pytest.fixture
def user_cache(cache: CacheService) -> UserCache:
    """The users domain's cached users (what Redis deployments keep), on either backend."""
    return UserCache(cache, SETTINGS.user_cache_ttl_seconds)


@pytest.fixture
def page_cache(cache: CacheService) -> PageCache:
    return PageCache(cache, SETTINGS.list_cache_ttl_seconds)


def _user(version: int, name: str = "alice") -> User:
    return User(
        id=USER_ID,
        username=name,
        email=f"{name}@example.com",
        full_name=None,
        is_active=True,
        tags=[],
        created_at="2026-11-26T10:00:00.000Z",
        updated_at="2026-11-26T10:00:00.000Z",
        version=version,
    )


# Values ----------------------------------------------------------------------------------

VALUES = [
    {"a": [1, "x", None], "b": {"c": 2.5}},
    "text",
    "ünïcödé ✓",
    "42",
    "",
    3.5,
    1.0,
    True,
    False,
    [1, 2],
    [],
    {},
    42,
    0,
    -7,
    2**70,
]


def test_values_round_trip_as_json_with_their_types(backend: CacheBackend) -> None:
    for index, value in enumerate(VALUES):
        backend.set(f"plain:{index}", value, 60)
        assert backend.set_if_newer(f"versioned:{index}", value, 1, 60) is True

    for index, value in enumerate(VALUES):
        for key in (f"plain:{index}", f"versioned:{index}"):
            cached = backend.get(key)
            assert (cached, type(cached)) == (value, type(value)), key


def test_a_missing_key_reads_as_none_and_the_backend_pings(cache: CacheService, backend: CacheBackend) -> None:
    assert backend.get("never") is None
    assert cache.get("never", default="miss") == "miss"
    cache.ping()


def test_set_replaces_the_value_and_its_ttl(backend: CacheBackend, harness: Harness) -> None:
    backend.set("key", "first", 100)
    backend.set("key", "second", 10)
    harness.advance(9)
    assert backend.get("key") == "second"

    harness.advance(1)

    assert backend.get("key") is None


# Expiry ----------------------------------------------------------------------------------


def test_an_expired_value_reads_as_missing(cache: CacheService, harness: Harness) -> None:
    cache.set("key", "value", ttl=10)
    harness.advance(9)
    assert cache.get("key") == "value"
    assert cache.exists("key")

    harness.advance(1)

    assert cache.get("key", default="missing") == "missing"
    assert not cache.exists("key")


def test_default_ttl_applies(cache: CacheService, harness: Harness) -> None:
    assert cache.default_ttl == 3600
    cache.set("key", 1)
    harness.advance(3599)
    assert cache.exists("key")

    harness.advance(1)

    assert not cache.exists("key")


# delete / exists -------------------------------------------------------------------------


def test_delete_reports_whether_a_live_value_was_there(cache: CacheService, harness: Harness) -> None:
    cache.set("live", 1)
    cache.set("stale", 1, ttl=1)
    harness.advance(5)

    assert cache.delete("live") is True
    assert cache.delete("live") is False
    assert cache.get("live") is None
    assert cache.delete("stale") is False
    assert cache.delete("never") is False


def test_exists(backend: CacheBackend) -> None:
    assert backend.exists("key") is False
    backend.set("key", False, 60)  # a falsy value exists all the same
    assert backend.exists("key") is True
    backend.delete("key")
    assert backend.exists("key") is False


# increment -------------------------------------------------------------------------------


def test_increment_counts_from_zero_by_any_amount(cache: CacheService, backend: CacheBackend) -> None:
    assert cache.increment("hits") == 1
    assert cache.increment("hits", 5) == 6
    assert cache.increment("hits", -2) == 4
    assert backend.get("hits") == 4
    assert type(backend.get("hits")) is int

    backend.set("set", 41, 60)
    assert backend.increment("set", 1, 60) == 42


def test_increment_restarts_from_zero_after_expiry(cache: CacheService, harness: Harness) -> None:
    cache.increment("hits", 3)
    harness.advance(3600)

    assert cache.increment("hits", 2) == 2
    assert cache.get("hits") == 2


def test_increment_keeps_the_first_ttl(cache: CacheService, harness: Harness) -> None:
    cache.increment("hits", ttl=10)
    harness.advance(8)
    cache.increment("hits", ttl=10)
    harness.advance(1)
    assert cache.get("hits") == 2

    harness.advance(1)

    assert not cache.exists("hits")


def test_increment_of_a_non_integer_is_an_error(cache: CacheService) -> None:
    for value in ["alice", "42", 3.5, 1.0, True, {"n": 1}, [1]]:
        cache.set("name", value)

        with pytest.raises(NotAnIntegerError):
            cache.increment("name")
        assert cache.get("name") == value


# set_if_newer ----------------------------------------------------------------------------


def test_set_if_newer_stores_only_a_newer_version(backend: CacheBackend) -> None:
    assert backend.set_if_newer("key", "v2", 2, 60) is True

    assert backend.set_if_newer("key", "v1", 1, 60) is False
    assert backend.set_if_newer("key", "v2 again", 2, 60) is False
    assert backend.get("key") == "v2"
    assert backend.set_if_newer("key", "v10", 10, 60) is True
    assert backend.get("key") == "v10"
    assert backend.set_if_newer("key", "v9", 9, 60) is False


def test_set_if_newer_sets_the_ttl_and_replaces_an_expired_entry(backend: CacheBackend, harness: Harness) -> None:
    backend.set_if_newer("key", "v5", 5, 10)
    harness.advance(9)
    assert backend.exists("key")
    assert backend.set_if_newer("key", "v1", 1, 10) is False

    harness.advance(1)

    assert not backend.exists("key")

    assert backend.set_if_newer("key", "v1", 1, 10) is True
    assert backend.get("key") == "v1"


def test_set_if_newer_replaces_an_unversioned_value(backend: CacheBackend) -> None:
    backend.set_if_newer("key", "v5", 5, 60)
    backend.set("key", "plain", 60)  # a plain set drops the version

    assert backend.set_if_newer("key", "v1", 1, 60) is True
    assert backend.get("key") == "v1"


def test_set_if_newer_through_the_service_reports_what_it_stored(cache: CacheService, harness: Harness) -> None:
    assert cache.set_if_newer("key", "v2", 2) is True
    assert cache.set_if_newer("key", "v1", 1) is False
    assert cache.get("key") == "v2"
    harness.advance(3600)  # the default TTL

    assert not cache.exists("key")


# The users domain's entries ----------------------------------------------------------------


def test_an_older_user_version_never_replaces_a_newer_one(user_cache: UserCache) -> None:
    user_cache.put_user(_user(2, "new"))
    user_cache.put_user(_user(1, "old"))

    cached = user_cache.get_user(USER_ID)
    assert cached is not None
    assert cached.username == "new"


def test_a_deleted_users_tombstone_blocks_a_late_fill(user_cache: UserCache) -> None:
    user_cache.put_user(_user(1))
    user_cache.user_deleted(USER_ID, deleted_version=2)
    user_cache.put_user(_user(1))  # a reader that fetched the user before the delete

    assert user_cache.get_user(USER_ID) is None


def test_a_cached_user_expires_with_the_user_ttl(user_cache: UserCache, harness: Harness) -> None:
    user_cache.put_user(_user(1))
    harness.advance(299)
    assert user_cache.get_user(USER_ID) is not None

    harness.advance(1)

    assert user_cache.get_user(USER_ID) is None


def test_list_pages_round_trip_per_generation(page_cache: PageCache) -> None:
    page = UserPage(items=[_user(1)], next_cursor=None, total=1)
    page_cache.put(7, UserFilters(), 20, None, page)
    filtered = UserPage(items=[_user(1)], next_cursor=None, total=None)
    page_cache.put(7, FILTERED, 20, None, filtered)

    cached = page_cache.get(7, UserFilters(), 20, None)
    assert cached is not None
    assert cached.model_dump() == page.model_dump()
    assert page_cache.get(8, UserFilters(), 20, None) is None  # a write bumped the generation
    assert page_cache.get(7, UserFilters(), 10, None) is None
    assert page_cache.get(7, FILTERED, 10, None) is None
    cached_filtered = page_cache.get(7, FILTERED, 20, None)
    assert cached_filtered is not None
    assert cached_filtered.model_dump() == filtered.model_dump()
    assert page_cache.get(8, FILTERED, 20, None) is None


# Concurrency -----------------------------------------------------------------------------

THREADS = 8
INCREMENTS = 50


@pytest.fixture(params=BACKENDS)
def shared_backend(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, template: Template
) -> Iterator[CacheBackend]:
    """A backend that several threads (Lambda environments) use over the network at once."""
    if request.param == "redis":
        yield request.getfixturevalue("redis_backend")
        return
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with serialized_moto_server() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        resources = LocalResources(template, boto3.Session(), endpoint).create_all()
        yield DynamoDBCacheBackend(resources.physical["CacheTable"]["Ref"])


@pytest.mark.server
def test_concurrent_increments_are_atomic(shared_backend: CacheBackend) -> None:
    start = threading.Barrier(THREADS)

    def count(_: int) -> list[int]:
        start.wait()
        return [shared_backend.increment("hits", 1, 600) for _ in range(INCREMENTS)]

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = [value for values in pool.map(count, range(THREADS)) for value in values]

    assert sorted(results) == list(range(1, THREADS * INCREMENTS + 1))  # every step seen once
    assert shared_backend.get("hits") == THREADS * INCREMENTS


# Redis only ------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_redis_every_key_has_a_ttl(redis_backend: RedisCacheBackend, redis_admin: redis.Redis) -> None:
    redis_backend.set("a", 1, 60)
    redis_backend.set_if_newer("b", {"x": 1}, 1, 60)
    redis_backend.increment("c", 1, 60)
    redis_backend.increment("a", 1, 60)

    client = redis_admin  # KEYS is not the cache user's to run
    keys = sorted(client.keys())
    assert keys == [b"a", b"b", b"c"]
    assert all(0 < client.ttl(key) <= 60 for key in keys)


def test_redis_expires_keys_in_real_time(redis_backend: RedisCacheBackend) -> None:
    redis_backend.set("plain", "v", 1)
    redis_backend.set_if_newer("versioned", "v", 9, 1)
    redis_backend.increment("counter", 1, 1)
    time.sleep(1.1)

    assert redis_backend.get("plain") is None
    assert redis_backend.exists("versioned") is False
    assert redis_backend.set_if_newer("versioned", "v1", 1, 1) is True
    assert redis_backend.increment("counter", 1, 1) == 1


def test_redis_an_unreachable_server_degrades_to_misses_and_counts_errors() -> None:
    from nexus.observability import metrics

    metrics.clear_metrics()
    backend = RedisCacheBackend(f"redis://127.0.0.1:{_closed_port()}/0", socket_timeout=0.2)
    cache = CacheService(backend, SETTINGS)
    cache.initialize()

    user_cache = UserCache(cache, SETTINGS.user_cache_ttl_seconds)
    page_cache = PageCache(cache, SETTINGS.list_cache_ttl_seconds)

    cache.set("key", 1)
    user_cache.put_user(_user(1))
    user_cache.user_deleted(USER_ID, deleted_version=2)
    page_cache.put(1, UserFilters(), 20, None, UserPage(items=[], next_cursor=None, total=0))
    assert cache.get("key", default="miss") == "miss"
    assert user_cache.get_user(USER_ID) is None
    assert page_cache.get(1, UserFilters(), 20, None) is None
    assert cache.exists("key") is False
    assert cache.delete("key") is False
    with pytest.raises(CacheBackendError) as raised:
        cache.increment("key")
    assert not isinstance(raised.value, NotAnIntegerError)
    assert isinstance(raised.value.__cause__, redis.ConnectionError)
    with pytest.raises(CacheBackendError):
        cache.ping()

    emitted = metrics.serialize_metric_set()
    metrics.clear_metrics()
    assert emitted["CacheErrors"] == [1.0] * 10  # every operation above but ping


def test_redis_a_server_that_never_answers_times_out_fast() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts connections (in the backlog) and never replies
        backend = RedisCacheBackend(f"redis://127.0.0.1:{listener.getsockname()[1]}/0", socket_timeout=0.2)
        started = time.monotonic()

        with pytest.raises(CacheBackendError) as raised:
            backend.increment("hits", 1, 60)

        assert isinstance(raised.value.__cause__, redis.TimeoutError)
        assert time.monotonic() - started < 1.0  # no retry after a timeout


def test_redis_reuses_one_client_and_connection(redis_backend: RedisCacheBackend) -> None:
    client = redis_backend.client
    connection_id = client.client_id()

    redis_backend.set("key", 1, 60)
    redis_backend.get("key")
    redis_backend.increment("key", 1, 60)
    redis_backend.set_if_newer("user", "v", 1, 60)
    redis_backend.ping()

    assert redis_backend.client is client
    assert client.client_id() == connection_id  # the same connection, kept open


def test_redis_uses_a_given_client(redis_auth: RedisServer) -> None:
    client = redis.Redis.from_url(
        redis_auth.url, username=redis_auth.username, password=redis_auth.password, decode_responses=True
    )
    backend = RedisCacheBackend("ignored://", client=client)

    backend.set("key", {"a": True}, 60)
    backend.set_if_newer("user", [1, "x"], 3, 60)

    assert backend.client is client
    assert backend.get("key") == {"a": True}
    assert backend.get("user") == [1, "x"]
    client.close()


def test_redis_client_settings_from_the_url() -> None:
    plain = RedisCacheBackend("redis://cache.example:6380/2", socket_timeout=0.3)
    tls = RedisCacheBackend("rediss://user:secret@cache.example:6379/0")

    kwargs = plain.client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("cache.example", 6380, 2)
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.3, 0.3)
    assert plain.client.connection_pool.connection_class is redis.Connection
    assert tls.client.connection_pool.connection_class is redis.SSLConnection
    assert tls.client.connection_pool.connection_kwargs["password"] == "secret"


def test_redis_other_errors_are_backend_errors(redis_backend: RedisCacheBackend) -> None:
    client = redis_backend.client
    client.rpush("list", "x")
    client.set("foreign", b"\xff not json")

    for operation in (
        lambda: redis_backend.get("list"),
        lambda: redis_backend.set_if_newer("list", 1, 1, 60),
        lambda: redis_backend.get("foreign"),
    ):
        with pytest.raises(CacheBackendError) as raised:
            operation()
        assert not isinstance(raised.value, NotAnIntegerError)
    with pytest.raises(CacheBackendError) as raised:
        redis_backend.increment("list", 1, 60)
    assert not isinstance(raised.value, NotAnIntegerError)  # WRONGTYPE, not a non-integer value


# Authentication ---------------------------------------------------------------------------


def test_redis_refuses_a_client_without_credentials(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, socket_timeout=0.5)
    with pytest.raises(redis.AuthenticationError):  # the default user is off
        client.set("key", "v")
    client.close()


def test_redis_a_wrong_password_degrades_to_misses_and_counts_errors(
    redis_auth: RedisServer, redis_admin: redis.Redis
) -> None:
    from nexus.observability import metrics

    redis_admin.set("key", "1")
    metrics.clear_metrics()
    backend = RedisCacheBackend(redis_auth.url, username=redis_auth.username, password=lambda: "wrong-password")
    cache = CacheService(backend, SETTINGS)
    cache.initialize()

    assert cache.get("key", default="miss") == "miss"
    cache.set("other", 2)

    emitted = metrics.serialize_metric_set()
    metrics.clear_metrics()
    assert emitted["CacheErrors"] == [1.0, 1.0]
    assert redis_admin.get("other") is None
    with pytest.raises(CacheBackendError) as raised:
        backend.get("key")
    assert isinstance(raised.value.__cause__, redis.AuthenticationError)
    assert "wrong-password" not in str(raised.value)
    backend.client.close()


def test_redis_a_password_that_cannot_be_read_degrades_to_misses(redis_auth: RedisServer) -> None:
    reads: list[int] = []

    def unreadable() -> str:
        reads.append(1)
        raise RuntimeError("AccessDeniedException")

    backend = RedisCacheBackend(redis_auth.url, username=redis_auth.username, password=unreadable)
    cache = CacheService(backend, SETTINGS)
    cache.initialize()

    assert cache.get("key") is None
    with pytest.raises(CacheBackendError, match="the cache password cannot be read: RuntimeError"):
        backend.get("key")
    assert len(reads) == 2  # once per operation: no reconnect retry on it
    backend.client.close()


def test_redis_the_password_is_asked_for_per_new_connection_only(redis_auth: RedisServer) -> None:
    reads: list[int] = []

    def password() -> str:
        reads.append(1)
        return redis_auth.password

    backend = RedisCacheBackend(redis_auth.url, username=redis_auth.username, password=password)
    for number in range(5):
        backend.set(f"k{number}", number, 60)
        assert backend.get(f"k{number}") == number

    assert len(reads) == 1  # one connection, kept open (the password function caches the secret)
    backend.client.close()
