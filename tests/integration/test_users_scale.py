"""Users at scale (issue 23): each request's work bounded by its page, no item on every write,
and a filtered listing exact over all its pages while users come and go.

Measured on the strict emulated DynamoDB's meter (local/strict_dynamodb.py): the items each
request examines, summed over its calls, and the items each write touches.
"""

from __future__ import annotations

import random

import pytest

from devkit.api_client import ApiClient
from devkit.scale import TAGS, read_per_request, seed_users, user_service
from devkit.users_api import Items
from local import strict_dynamodb
from local.invariants import broken_rules
from local.provisioning import LocalResources
from local.template import Template
from nexus.users import UserChanges, UserFilters, index
from nexus.users.index import IndexedUser

LIMIT = 3


@pytest.fixture
def api(aws: LocalResources, template: Template) -> ApiClient:
    return ApiClient(template)


def test_each_request_reads_the_same_items_at_150_and_450_users_and_no_item_is_on_5_percent_of_writes(
    api: ApiClient, table_items: Items
) -> None:
    service = user_service()
    strict_dynamodb.meter.take()
    users = seed_users(service, 150)
    small = read_per_request(api, LIMIT)

    strict_dynamodb.meter.take()
    users += seed_users(service, 300, start=150)
    for user in users[:50]:
        service.delete_user(user.id)
    writes = [usage for usage in strict_dynamodb.meter.take() if usage.items_written]
    large = read_per_request(api, LIMIT)

    assert large == small, "a request's work grew with the table"
    # Bounded by the page: the family's entries (a page, or examined(limit)), the users behind
    # them, and the counter shards (legacy + 32, + 32 for one tag's total).
    for name, read in large.items():
        assert read <= 2 * (index.examined(LIMIT) + 1) + 1 + 2 * index.COUNTER_SHARDS, (name, read)
    per_key = strict_dynamodb.meter.writes_per_key(writes)
    hottest, count = per_key.most_common(1)[0]
    assert len(writes) == 300 + 30 + 50  # sign-ups, deactivations, deletes: one transaction each
    assert count / len(writes) <= 0.05, f"{hottest} is on {count} of {len(writes)} writes"
    assert broken_rules(table_items("UsersTable"), list_shards=1) == []


def test_a_filtered_listing_returns_exactly_the_matching_users_while_users_come_and_go(
    api: ApiClient, table_items: Items
) -> None:
    service = user_service(seed=7)
    rng = random.Random(7)
    users = seed_users(service, 150, seed=7)
    for user in rng.sample(users, 40):  # tags of two, other names, some reactivated
        changes = {"tags": rng.sample(TAGS[:4], 2), "full_name": rng.choice(["Ada Lovelace", "Alan Kay", None])}
        service.update_user(user.id, UserChanges(**changes))
    queries: list[list[tuple[str, str]]] = [
        [("tag", "tag1")],
        [("tag", "tag1"), ("tag", "tag2")],
        [("search", "ada")],
        [("search", "member0001")],
        [("search", "al"), ("is_active", "true")],
        [("is_active", "false"), ("tag", "tag9")],
    ]
    for query in queries:
        filters = UserFilters(
            search=next((v for k, v in query if k == "search"), None),
            is_active={"true": True, "false": False}.get(next((v for k, v in query if k == "is_active"), "")),
            tags=tuple(v for k, v in query if k == "tag"),
        )
        before = {u.id: u for u in (service.get_user_by_id(x.id) for x in users) if u is not None}
        deleted: set[str] = set()
        created = len(queries) * 100 * queries.index(query)
        seen: list[str] = []
        cursor = None
        for _ in range(100):
            response = api.get("/users", query=[*query, ("limit", "7"), *([("cursor", cursor)] if cursor else [])])
            assert response.status == 200, response.body
            page = response.json()
            seen += [user["id"] for user in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
            # Between pages: a new user (newer than every cursor: never listed) and a deletion of
            # one not listed yet (never listed either).
            created += 1
            users += seed_users(service, 1, start=1000 + created, seed=7)
            unseen = sorted(set(before) - set(seen) - deleted)
            if unseen:
                victim = rng.choice(unseen)
                service.delete_user(victim)
                deleted.add(victim)
        expected = sorted(
            (
                uid
                for uid, user in before.items()
                if uid not in deleted and index.matches(IndexedUser.of(user), filters)
            ),
            reverse=True,
        )
        assert seen == expected, query
    assert broken_rules(table_items("UsersTable"), list_shards=1) == []
