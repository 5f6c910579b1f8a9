"""What the users domain caches on each backend, through the real handlers (``nexus.users.caching``).

- DynamoDB backend (the default): no user and no unfiltered page is cached, since a hit
  would cost exactly the read it saves; filtered totals and filtered pages are.
- Redis backend (a real redis-server, the functions configured as in Redis mode): users
  and every page are cached, and stay correct through versions, tombstones and the write
  generation.

The AWS call counts of each route are in test_aws_call_counts.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import redis

from devkit.api_client import ApiClient
from devkit.redis_server import RedisServer
from local.provisioning import LocalResources
from local.template import Template

Items = Callable[[str], list[dict[str, Any]]]


def _create(api: ApiClient, name: str, **fields: Any) -> dict[str, Any]:
    response = api.post("/users", {"username": name, "email": f"{name}@example.com", **fields})
    assert response.status == 201, response.body
    return dict(response.json())


def _page(api: ApiClient, query: dict[str, str] | None = None) -> dict[str, Any]:
    response = api.get("/users", query=query or {})
    assert response.status == 200, response.body
    return dict(response.json())


# DynamoDB backend ---------------------------------------------------------------------------


@pytest.fixture
def api(aws: LocalResources, template: Template) -> ApiClient:
    return ApiClient(template)


def test_on_dynamodb_no_user_and_no_unfiltered_page_is_cached(api: ApiClient, table_items: Items) -> None:
    alice = _create(api, "alice")
    assert api.get(f"/users/{alice['id']}").status == 200
    assert api.patch(f"/users/{alice['id']}", {"full_name": "Alice"}).status == 200
    assert _page(api)["total"] == 1
    assert _page(api, {"limit": "1"})["total"] == 1
    assert api.delete(f"/users/{alice['id']}").status == 204

    assert table_items("CacheTable") == []


def test_on_dynamodb_with_one_list_shard_no_page_is_cached(api: ApiClient, table_items: Items) -> None:
    alice = _create(api, "alice", tags=["beta"])

    for query in ({}, {"tag": "beta"}, {"search": "ali", "is_active": "true"}):
        page = _page(api, query)
        assert [user["id"] for user in page["items"]] == [alice["id"]]
    assert table_items("CacheTable") == []  # a page is bounded reads: a cached one would cost as much


def test_on_dynamodb_with_several_list_shards_a_filtered_page_is_cached_per_generation(
    aws: LocalResources, template: Template, table_items: Items, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER_LIST_SHARDS", "2")
    api = ApiClient(template)
    alice = _create(api, "alice", tags=["beta"])
    _create(api, "bob")

    page = _page(api, {"tag": "beta"})

    assert ([user["id"] for user in page["items"]], page["total"]) == ([alice["id"]], 1)
    [cached] = table_items("CacheTable")  # the page; its total is a counter, read with the generation
    assert cached["key"]["S"].startswith("users:list:2:")  # two writes: generation 2
    assert json.loads(cached["value"]["S"]) == page
    carol = _create(api, "carol", tags=["beta"])  # generation 3: the cached page no longer applies
    again = _page(api, {"tag": "beta"})
    assert ([user["id"] for user in again["items"]], again["total"]) == ([carol["id"], alice["id"]], 2)


def test_on_dynamodb_with_several_list_shards_an_unfiltered_page_is_cached(
    aws: LocalResources, template: Template, table_items: Items, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER_LIST_SHARDS", "2")  # a page is then one Query per shard
    api = ApiClient(template)
    alice = _create(api, "alice")

    first = _page(api)

    [page] = table_items("CacheTable")
    assert page["key"]["S"].startswith("users:list:1:")
    assert json.loads(page["value"]["S"]) == first
    assert [user["id"] for user in first["items"]] == [alice["id"]]
    assert _page(api) == first


# Redis backend ------------------------------------------------------------------------------


@pytest.fixture
def redis_admin(redis_auth: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_auth.admin_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def redis_api(
    aws: LocalResources, template: Template, redis_auth: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> ApiClient:
    """The functions on the Redis backend: the URL, the cache user and its password's secret."""
    secret = boto3.client("secretsmanager").create_secret(Name="redis-password", SecretString=redis_auth.password)
    monkeypatch.setenv("CACHE_BACKEND", "redis")
    monkeypatch.setenv("CACHE_REDIS_URL", redis_auth.url)
    monkeypatch.setenv("CACHE_REDIS_USERNAME", redis_auth.username)
    monkeypatch.setenv("CACHE_REDIS_PASSWORD_SECRET_ARN", secret["ARN"])
    return ApiClient(template)


def _cached_user(client: redis.Redis, user_id: str) -> tuple[int, Any] | None:
    """(version, value) of ``user:<id>``, stored by set_if_newer as ``@<version>:<json>``."""
    raw = client.get(f"user:{user_id}")
    if raw is None:
        return None
    version, _, text = raw.decode().removeprefix("@").partition(":")
    return int(version), json.loads(text)


def test_on_redis_a_user_is_cached_refreshed_by_a_patch_and_tombstoned_by_a_delete(
    redis_api: ApiClient, redis_admin: redis.Redis, table_items: Items
) -> None:
    alice = _create(redis_api, "alice")
    assert _cached_user(redis_admin, alice["id"]) == (1, alice)  # cached by the sign-up
    redis_admin.delete(f"user:{alice['id']}")

    assert redis_api.get(f"/users/{alice['id']}").json() == alice
    assert _cached_user(redis_admin, alice["id"]) == (1, alice)  # filled by the miss

    renamed = redis_api.patch(f"/users/{alice['id']}", {"full_name": "Alice"}).json()
    assert _cached_user(redis_admin, alice["id"]) == (2, renamed)
    assert redis_api.get(f"/users/{alice['id']}").json() == renamed

    assert redis_api.delete(f"/users/{alice['id']}").status == 204
    assert _cached_user(redis_admin, alice["id"]) == (3, {"deleted": True})
    assert redis_api.get(f"/users/{alice['id']}").status == 404
    assert table_items("CacheTable") == []  # the DynamoDB cache table is not used


def test_on_redis_an_unfiltered_page_is_cached_and_never_staler_than_the_last_write(
    redis_api: ApiClient, redis_admin: redis.Redis
) -> None:
    alice = _create(redis_api, "alice")
    assert [user["id"] for user in _page(redis_api)["items"]] == [alice["id"]]
    pages = list(redis_admin.keys("users:list:*"))
    assert [key.decode().split(":")[2] for key in pages] == ["1"]  # cached under generation 1

    bob = _create(redis_api, "bob")
    page = _page(redis_api)

    assert ([user["id"] for user in page["items"]], page["total"]) == ([bob["id"], alice["id"]], 2)
