"""Migration (issue 23): a table written by the layout before index entries and counter shards.

``legacy_table`` writes the items the previous code wrote for each sign-up (the user with its
``search_text`` and no ``index_version``, its two sentinels, and the one ``COUNTER#users``), as
that code's transactions did. Then the new code serves it, and ``nexus.users.backfill`` indexes
it: idempotent, resumable, and exact with writes in between.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from devkit.api_client import ApiClient
from devkit.users_api import Items, counts, snapshot, tag_counts
from local.invariants import broken_rules
from local.provisioning import LocalResources
from local.template import Template
from nexus.users import backfill

LEGACY_USERS = [
    # (id, username, email, full name, active, tags)
    ("01HZ0000000000000000000001", "Ada", "ada@example.com", "Ada Lovelace", True, ["math", "beta"]),
    ("01HZ0000000000000000000002", "grace", "grace@example.com", None, True, ["beta"]),
    ("01HZ0000000000000000000003", "alan", "alan@example.com", "Alan Turing", False, []),
    ("01HZ0000000000000000000004", "edsger", "ed@example.com", "Edsger W. Dijkstra", True, ["math"]),
    ("01HZ0000000000000000000005", "barbara", "barbara@example.com", "Barbara Liskov", True, ["beta"]),
]


def legacy_items() -> list[dict[str, Any]]:
    """What the previous code's sign-ups (and alan's deactivation) left in the users table."""
    items: list[dict[str, Any]] = []
    for user_id, username, email, full_name, active, tags in LEGACY_USERS:
        user: dict[str, Any] = {
            "pk": {"S": f"USER#{user_id}"},
            "kind": {"S": "user"},
            "user_id": {"S": user_id},
            "username": {"S": username},
            "email": {"S": email},
            "is_active": {"BOOL": active},
            "tags": {"L": [{"S": tag} for tag in tags]},
            "created_at": {"S": "2026-11-01T10:00:00.000Z"},
            "updated_at": {"S": "2026-11-01T10:00:00.000Z"},
            "version": {"N": "1" if active else "2"},
            "list_shard": {"S": "USERS#0"},
            "search_text": {"S": "\n".join([username.casefold(), email.casefold(), (full_name or "").casefold()])},
        }
        if full_name is not None:
            user["full_name"] = {"S": full_name}
        items.append(user)
        for key in (f"USERNAME#{username.casefold()}", f"EMAIL#{email.casefold()}"):
            items.append({"pk": {"S": key}, "kind": {"S": "unique"}, "user_id": {"S": user_id}})
    active = sum(1 for user in LEGACY_USERS if user[4])
    items.append(
        {
            "pk": {"S": "COUNTER#users"},
            "total": {"N": str(len(LEGACY_USERS))},
            "active": {"N": str(active)},
            "generation": {"N": "6"},
        }
    )
    return items


@pytest.fixture
def api(aws: LocalResources, template: Template) -> ApiClient:
    client = aws.client("dynamodb")
    for item in legacy_items():
        client.put_item(TableName=aws.physical["UsersTable"]["Ref"], Item=item)
    return ApiClient(template)


def run_backfill(aws: LocalResources, *args: str) -> list[dict[str, Any]]:
    lines: list[str] = []
    assert backfill.main(["--table", aws.physical["UsersTable"]["Ref"], *args], out=lines.append) == 0
    return [json.loads(line) for line in lines]


def listed(api: ApiClient, query: dict[str, str]) -> tuple[list[str], int | None]:
    page = api.get("/users", query={**query, "limit": "100"}).json()
    return [user["username"] for user in page["items"]], page["total"]


def test_the_new_code_serves_a_legacy_table_and_the_backfill_makes_its_filters_whole(
    api: ApiClient, aws: LocalResources, table_items: Items
) -> None:
    # Before the backfill: totals and the unfiltered list are whole (the legacy counter, the
    # by_created index); filters find only users the new code wrote or changed.
    assert listed(api, {}) == (["barbara", "edsger", "alan", "grace", "Ada"], 5)
    assert api.get("/stats/users").json()["active_users"] == 4
    assert listed(api, {"tag": "beta"}) == ([], 0)
    new = api.post("/users", {"username": "hedy", "email": "hedy@example.com", "tags": ["beta"]}).json()
    assert api.patch("/users/01HZ0000000000000000000002", {"full_name": "Grace Hopper"}).status == 200
    assert api.delete("/users/01HZ0000000000000000000005").status == 204
    assert listed(api, {"tag": "beta"}) == (["hedy", "grace"], 2)
    assert counts(table_items) == (5, 4)
    assert broken_rules(table_items("UsersTable"), list_shards=1) == []

    pages = run_backfill(aws, "--page-size", "4")
    assert pages[-1] == {"done": True, "indexed": 3}  # Ada, alan, edsger: grace's update indexed her
    assert [page["next_key"] for page in pages[:-1]][-1] is None

    assert broken_rules(table_items("UsersTable"), list_shards=1) == []
    assert counts(table_items) == (5, 4)
    assert tag_counts(table_items) == {"beta": 3, "math": 2}
    assert listed(api, {"tag": "beta"}) == (["hedy", "grace", "Ada"], 3)
    assert listed(api, {"tag": "math"}) == (["edsger", "Ada"], 2)
    assert listed(api, {"search": "lovel"}) == (["Ada"], None)
    assert listed(api, {"is_active": "false"}) == (["alan"], 1)
    assert new["id"] in [u["id"] for u in api.get("/users").json()["items"]]

    before = snapshot(table_items, "UsersTable")
    assert run_backfill(aws)[-1] == {"done": True, "indexed": 0}
    assert snapshot(table_items, "UsersTable") == before, "a second run changes nothing"


def test_a_backfill_stopped_after_one_page_resumes_from_the_key_it_printed(
    api: ApiClient, aws: LocalResources, table_items: Items
) -> None:
    pages = backfill.backfill_pages(_service(aws), aws.physical["UsersTable"]["Ref"], page_size=3)
    first = next(pages)  # the operator stops here
    assert first.next_key is not None

    resumed = run_backfill(aws, "--page-size", "3", "--start-after", first.next_key)

    assert first.indexed + resumed[-1]["indexed"] == len(LEGACY_USERS)
    assert broken_rules(table_items("UsersTable"), list_shards=1) == []
    assert tag_counts(table_items) == {"beta": 3, "math": 2}


def _service(aws: LocalResources) -> Any:
    from nexus.settings import UsersSettings
    from nexus.users import UserService

    service = UserService(UsersSettings(users_table_name=aws.physical["UsersTable"]["Ref"]))
    service.initialize()
    return service


def test_a_backfill_with_another_number_of_list_shards_than_the_stack_stops_and_writes_nothing(
    api: ApiClient, aws: LocalResources, table_items: Items, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(table_items, "UsersTable")

    code = backfill.main(["--table", aws.physical["UsersTable"]["Ref"], "--list-shards", "4"], out=lambda _: None)

    assert code == 2
    assert "is not the stack's UserListShards" in capsys.readouterr().err
    assert snapshot(table_items, "UsersTable") == before
