"""The DynamoDB TTL cache backend and CacheService, against moto with a controlled clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from local.resources import LocalResources
from nexus.cache import CacheBackendError, CacheService, NotAnIntegerError
from nexus.cache.dynamodb import DynamoDBCacheBackend
from nexus.settings import Settings
from nexus.users.schemas import User, UserPage


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend(aws: LocalResources, clock: FakeClock) -> DynamoDBCacheBackend:
    return DynamoDBCacheBackend(aws.physical["CacheTable"]["Ref"], clock=clock)


@pytest.fixture
def cache(backend: DynamoDBCacheBackend) -> CacheService:
    service = CacheService(backend, Settings.from_env())
    service.initialize()
    return service


def _user(version: int, name: str = "alice") -> User:
    return User(
        id="01JD0000000000000000000000",
        username=name,
        email=f"{name}@example.com",
        full_name=None,
        is_active=True,
        tags=[],
        created_at="2026-11-26T10:00:00.000Z",
        updated_at="2026-11-26T10:00:00.000Z",
        version=version,
    )


@pytest.mark.parametrize("value", [{"a": [1, "x", None]}, "text", 3.5, True, [1, 2], 42])
def test_values_round_trip_as_json(cache: CacheService, value: object) -> None:
    cache.set("key", value)

    assert cache.get("key") == value
    assert type(cache.get("key")) is type(value)


def test_an_expired_item_reads_as_missing_though_dynamodb_still_holds_it(
    cache: CacheService, clock: FakeClock, table_items
) -> None:
    cache.set("key", "value", ttl=10)
    clock.advance(9)
    assert cache.get("key") == "value"
    assert cache.exists("key")

    clock.advance(1)

    assert cache.get("key", default="missing") == "missing"
    assert not cache.exists("key")
    assert len(table_items("CacheTable")) == 1  # moto never deletes expired items


def test_default_ttl_applies(cache: CacheService, clock: FakeClock) -> None:
    cache.set("key", 1)
    clock.advance(3599)
    assert cache.exists("key")
    clock.advance(1)
    assert not cache.exists("key")


def test_delete_reports_whether_a_live_value_was_there(cache: CacheService, clock: FakeClock) -> None:
    cache.set("live", 1)
    cache.set("stale", 1, ttl=1)
    clock.advance(5)

    assert cache.delete("live") is True
    assert cache.delete("live") is False
    assert cache.delete("stale") is False
    assert cache.delete("never") is False


def test_increment_counts_from_zero_and_restarts_after_expiry(cache: CacheService, clock: FakeClock) -> None:
    assert cache.increment("hits") == 1
    assert cache.increment("hits", 5) == 6
    assert cache.get("hits") == 6

    clock.advance(3600)

    assert cache.increment("hits", 2) == 2


def test_increment_keeps_the_first_ttl(cache: CacheService, clock: FakeClock) -> None:
    cache.increment("hits", ttl=10)
    clock.advance(8)
    cache.increment("hits", ttl=10)
    clock.advance(2)

    assert not cache.exists("hits")


def test_increment_of_a_non_integer_is_an_error(cache: CacheService) -> None:
    cache.set("name", "alice")

    with pytest.raises(NotAnIntegerError):
        cache.increment("name")
    assert cache.get("name") == "alice"


def test_an_older_user_version_never_replaces_a_newer_one(cache: CacheService) -> None:
    cache.set_user_cache(_user(2, "new"))
    cache.set_user_cache(_user(1, "old"))

    cached = cache.get_user_cache("01JD0000000000000000000000")
    assert cached is not None
    assert cached.username == "new"


def test_a_deleted_users_tombstone_blocks_a_late_fill(cache: CacheService) -> None:
    cache.set_user_cache(_user(1))
    cache.invalidate_user_cache("01JD0000000000000000000000", deleted_version=2)
    cache.set_user_cache(_user(1))  # a reader that fetched the user before the delete

    assert cache.get_user_cache("01JD0000000000000000000000") is None


def test_list_pages_are_keyed_by_generation(cache: CacheService) -> None:
    page = UserPage(items=[_user(1)], next_cursor=None, total=1)
    cache.cache_user_list(7, ("", "20", ""), page)

    cached = cache.get_cached_user_list(7, ("", "20", ""))
    assert cached is not None
    assert cached.model_dump() == page.model_dump()
    assert cache.get_cached_user_list(8, ("", "20", "")) is None
    assert cache.get_cached_user_list(7, ("", "10", "")) is None


class BrokenBackend(DynamoDBCacheBackend):
    def __init__(self) -> None:  # no table: every call fails
        pass

    def _live(self, key: str) -> None:
        raise CacheBackendError("connection refused")

    def set(self, key: str, value: object, ttl: int) -> None:
        raise CacheBackendError("connection refused")

    def set_if_newer(self, key: str, value: object, version: int, ttl: int) -> bool:
        raise CacheBackendError("connection refused")

    def delete(self, key: str) -> bool:
        raise CacheBackendError("connection refused")

    def increment(self, key: str, amount: int, ttl: int) -> int:
        raise CacheBackendError("connection refused")


def test_a_failing_backend_degrades_to_misses_and_counts_errors(aws: LocalResources, capsys) -> None:
    from nexus.observability import metrics

    cache = CacheService(BrokenBackend(), Settings.from_env())
    cache.initialize()

    cache.set("key", 1)
    cache.set_user_cache(_user(1))
    assert cache.get("key", default="miss") == "miss"
    assert cache.get_user_cache("01JD0000000000000000000000") is None
    assert cache.exists("key") is False
    assert cache.delete("key") is False
    with pytest.raises(CacheBackendError):
        cache.increment("key")

    emitted = metrics.serialize_metric_set()
    metrics.clear_metrics()
    assert emitted["CacheErrors"] == [1.0] * 7
