"""What the users-route tests share (test_users_*.py, test_api_*.py): request bodies, table
snapshots and the assertions on them. A rejected write asserts that neither table changed, a
rejected read that the users table did not (a GET may fill the cache).

docs/decisions.md, "Tests grouped by behaviour; the extension guide backed by tests".
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from typing import Any

from devkit.api_client import ApiClient, ApiResponse, assert_error

ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
ISO_MS_Z_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
USER_FIELDS = {"id", "username", "email", "full_name", "is_active", "tags", "created_at", "updated_at"}
BODY_LIMIT = 16 * 1024
UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"  # a well-formed ULID no test ever creates
READ_SCOPE, WRITE_SCOPE = "users:read", "users:write"

Items = Callable[[str], list[dict[str, Any]]]
_serial = itertools.count(1)


def user_body(**overrides: Any) -> dict[str, Any]:
    n = next(_serial)
    return {"username": f"user{n}", "email": f"user{n}@example.com", **overrides}


def create_user(api: ApiClient, **overrides: Any) -> dict[str, Any]:
    response = api.post("/users", user_body(**overrides))
    assert response.status == 201, response.body
    return response.json()


def snapshot(table_items: Items, *tables: str) -> dict[str, list[str]]:
    """A comparable picture of whole tables (default: both)."""
    names = tables or ("UsersTable", "CacheTable")
    return {name: sorted(json.dumps(item, sort_keys=True) for item in table_items(name)) for name in names}


class NothingWritten:
    """``with NothingWritten(table_items):`` fails if the block changed the tables (default: both)."""

    def __init__(self, table_items: Items, *tables: str) -> None:
        self.table_items = table_items
        self.tables = tables
        self.before = snapshot(table_items, *tables)

    def __enter__(self) -> NothingWritten:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            assert snapshot(self.table_items, *self.tables) == self.before, "the request wrote to a table"


def users_item(table_items: Items, pk: str) -> dict[str, Any] | None:
    return next((item for item in table_items("UsersTable") if item["pk"]["S"] == pk), None)


def counter(table_items: Items) -> dict[str, int]:
    """The counts summed over the counter shards (``COUNTER#users#<n>``) and the legacy ``COUNTER#users``."""
    items = [
        item
        for item in table_items("UsersTable")
        if item["pk"]["S"] == "COUNTER#users" or item["pk"]["S"].startswith("COUNTER#users#")
    ]
    assert items, "no counter item"
    return {
        name: sum(int(item[name]["N"]) for item in items if name in item) for name in ("total", "active", "generation")
    }


def tag_counts(table_items: Items) -> dict[str, int]:
    """Users per tag, summed over the tag counter shards (``COUNTER#tag#<n>#<tag>``); zeros left out."""
    totals: dict[str, int] = {}
    for item in table_items("UsersTable"):
        key = item["pk"]["S"]
        if key.startswith("COUNTER#tag#"):
            tag = key.split("#", 3)[3]
            totals[tag] = totals.get(tag, 0) + int(item["total"]["N"])
    return {tag: count for tag, count in totals.items() if count}


def entries(table_items: Items, user_id: str) -> dict[str, str]:
    """The user's index entries: slot -> family (its ``by_created`` hash key without the shard)."""
    prefix = f"ENTRY#{user_id}#"
    return {
        item["pk"]["S"].removeprefix(prefix): item["list_shard"]["S"].rsplit("#", 1)[0]
        for item in table_items("UsersTable")
        if item["pk"]["S"].startswith(prefix)
    }


def counts(table_items: Items) -> tuple[int, int]:
    """(total, active) of ``COUNTER#users``."""
    found = counter(table_items)
    return found["total"], found["active"]


def sentinels(table_items: Items) -> dict[str, str]:
    """USERNAME#... and EMAIL#... keys, each with the id of the user that holds it."""
    return {
        item["pk"]["S"]: item["user_id"]["S"]
        for item in table_items("UsersTable")
        if item["pk"]["S"].startswith(("USERNAME#", "EMAIL#"))
    }


def user_ids_in_table(table_items: Items) -> set[str]:
    return {item["user_id"]["S"] for item in table_items("UsersTable") if item["pk"]["S"].startswith("USER#")}


def assert_validation_error(response: ApiResponse, *fields: str) -> list[dict[str, str]]:
    """A 422 whose ``details`` name exactly ``fields``, each with a reason."""
    error = assert_error(response, 422, "validation_error")
    details = error["details"]
    assert {detail["field"] for detail in details} == set(fields), details
    for detail in details:
        assert isinstance(detail["reason"], str)
        assert detail["reason"]
    return details


def padded_json(body: dict[str, Any], size: int) -> bytes:
    """``body`` as valid JSON of exactly ``size`` bytes (whitespace before the closing brace)."""
    text = json.dumps(body)
    padding = size - len(text.encode())
    assert padding >= 0
    return (text[:-1] + " " * padding + "}").encode()


def email_of_length(length: int) -> str:
    domain = "@example.com"
    return "a" * (length - len(domain)) + domain


def explode(*_: Any, **__: Any) -> Any:
    """Stands in for a failing dependency: its message holds what a response must never show."""
    raise RuntimeError("secret detail: arn:aws:dynamodb:table/Users password=hunter2")
