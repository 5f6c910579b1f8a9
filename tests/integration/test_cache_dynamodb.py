"""What only the DynamoDB TTL backend does; the shared contract is test_cache_contract.py."""

from __future__ import annotations

import pytest

from devkit.fakes import FakeClock
from local.provisioning import LocalResources
from nexus.cache import CacheBackendError, CacheService
from nexus.cache.dynamodb import DynamoDBCacheBackend
from nexus.settings import CacheSettings


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend(aws: LocalResources, clock: FakeClock) -> DynamoDBCacheBackend:
    return DynamoDBCacheBackend(aws.physical["CacheTable"]["Ref"], clock=clock)


@pytest.fixture
def cache(backend: DynamoDBCacheBackend) -> CacheService:
    service = CacheService(backend, CacheSettings.from_env())
    service.initialize()
    return service


def test_an_expired_item_reads_as_missing_though_dynamodb_still_holds_it(
    cache: CacheService, clock: FakeClock, table_items
) -> None:
    # The read rules are the contract's (test_cache_contract.py); here: the item is still there.
    cache.set("key", "value", ttl=10)
    clock.advance(10)

    assert cache.get("key", default="missing") == "missing"
    assert not cache.exists("key")
    assert len(table_items("CacheTable")) == 1  # moto never deletes expired items


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

    cache = CacheService(BrokenBackend(), CacheSettings.from_env())
    cache.initialize()

    cache.set("key", 1)
    assert cache.set_if_newer("user", {"v": 1}, 1) is False
    assert cache.get("key", default="miss") == "miss"
    assert cache.exists("key") is False
    assert cache.delete("key") is False
    with pytest.raises(CacheBackendError):
        cache.increment("key")

    emitted = metrics.serialize_metric_set()
    metrics.clear_metrics()
    assert emitted["CacheErrors"] == [1.0] * 6
