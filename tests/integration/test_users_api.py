"""The users routes of API.md (User, Routes, Errors), end to end through the Lambda handlers.

Each request goes through ApiClient (API Gateway-shaped events, in-process handlers) against
in-process moto with the template's tables. Every rejected write asserts that neither table
changed; rejected reads assert that the users table did not change (a GET may fill the cache).

Rule tables run as one test each (``check_each``), which reports every failing case at once:
each test pays the cold start of the functions it calls, so this keeps the file fast.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.events import build_http_event
from local.template import Template
from nexus.users import UserService
from tests.api_client import ERROR_FIELDS, ApiClient, ApiResponse, assert_error, check_each
from tests.conftest import lambda_context

ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
ISO_MS_Z_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
USER_FIELDS = {"id", "username", "email", "full_name", "is_active", "tags", "created_at", "updated_at"}
BODY_LIMIT = 16 * 1024
UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"  # a well-formed ULID no test ever creates
READ_SCOPE, WRITE_SCOPE = "users:read", "users:write"

Items = Callable[[str], list[dict[str, Any]]]
_serial = itertools.count(1)


# Helpers ---------------------------------------------------------------------------------


@pytest.fixture
def api(aws: Any, template: Template) -> ApiClient:
    return ApiClient(template)


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
    item = users_item(table_items, "COUNTER#users")
    assert item is not None, "COUNTER#users is missing"
    return {name: int(item[name]["N"]) for name in ("total", "active", "generation")}


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


# POST /users: success ------------------------------------------------------------------------


def test_create_returns_201_with_the_user_and_a_location(api: ApiClient) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    response = api.post(
        "/users",
        {
            "username": "Alice",
            "email": "Alice@Example.com",
            "full_name": "Alice Liddell",
            "tags": ["beta", "alpha", "beta", "gamma", "alpha"],
            "source": "signup-form",
        },
    )

    assert response.status == 201, response.body
    user = response.json()
    assert set(user) == USER_FIELDS
    assert ULID_RE.match(user["id"])
    assert len(user["id"]) == 26
    assert user["username"] == "Alice"
    assert user["email"] == "Alice@Example.com"
    assert user["full_name"] == "Alice Liddell"
    assert user["is_active"] is True
    assert user["tags"] == ["beta", "alpha", "gamma"]
    assert ISO_MS_Z_RE.match(user["created_at"]), user["created_at"]
    assert user["updated_at"] == user["created_at"]
    created = datetime.fromisoformat(user["created_at"])
    assert before <= created <= datetime.now(UTC) + timedelta(seconds=1)
    assert response.headers["Location"] == f"/users/{user['id']}"
    assert response.headers["Content-Type"] == "application/json"
    fetched = api.get(f"/users/{user['id']}")
    assert fetched.status == 200
    assert fetched.headers["Content-Type"] == "application/json"
    assert fetched.json() == user


def test_create_writes_the_user_both_sentinels_and_the_counters(api: ApiClient, table_items: Items) -> None:
    user = create_user(api, username="Alice", email="Alice@Example.COM")

    keys = {item["pk"]["S"] for item in table_items("UsersTable")}
    assert keys == {f"USER#{user['id']}", "USERNAME#alice", "EMAIL#alice@example.com", "COUNTER#users"}
    assert sentinels(table_items) == {"USERNAME#alice": user["id"], "EMAIL#alice@example.com": user["id"]}
    assert counts(table_items) == (1, 1)
    assert table_items("CacheTable") == []  # on DynamoDB no user is cached (test_user_caching.py)

    second = api.post("/users", {"username": "bob", "email": "bob@example.com"}).json()
    assert (second["full_name"], second["tags"], second["is_active"]) == (None, [], True)
    assert counts(table_items) == (2, 2)
    assert second["id"] > user["id"], "ULIDs sort by creation time"


# POST /users: field rules ------------------------------------------------------------------


def test_create_accepts_valid_values_at_the_boundaries(api: ApiClient) -> None:
    cases = [
        {"username": "abc"},  # 3 characters
        {"username": "a" * 50},
        {"username": "A.b-c_9"},
        {"username": "___"},
        {"username": "..."},
        {"username": "0123456789"},
        {"email": "a@b.co"},
        {"email": "first.last+tag@sub.example.co.uk"},
        {"email": "O'Neil@example.org"},
        {"email": "x_y-z@a-b.example"},
        {"email": email_of_length(100)},
        {"full_name": "x" * 100},
        {"full_name": "Zoë Ñúñez-O'Brien"},
        {"full_name": ""},
        {"tags": ["t", "x" * 50, *[f"tag{i}" for i in range(18)]]},  # 20 distinct of 1 and 50 characters
    ]

    def check(case: dict[str, Any]) -> None:
        response = api.post("/users", user_body(**case))
        assert response.status == 201, response.body
        user = response.json()
        for field, value in case.items():
            assert user[field] == value

    check_each(cases, check)


def test_create_collapses_duplicate_tags_before_counting_them(api: ApiClient) -> None:
    distinct = [f"tag{i:02d}" for i in range(20)]
    with_duplicates = [*distinct[:10], distinct[3], *distinct[10:], distinct[0], distinct[19], distinct[5], "tag07"]
    assert len(with_duplicates) == 25

    response = api.post("/users", user_body(tags=with_duplicates))

    assert response.status == 201, response.body
    assert response.json()["tags"] == distinct


INVALID_FIELDS: list[tuple[dict[str, Any], set[str]]] = [
    # username: 3 to 50 characters of A-Z a-z 0-9 _ . -
    ({"username": "ab"}, {"username"}),
    ({"username": "a" * 51}, {"username"}),
    ({"username": ""}, {"username"}),
    ({"username": "has space"}, {"username"}),
    ({"username": "at@sign"}, {"username"}),
    ({"username": "bang!"}, {"username"}),
    ({"username": "slash/x"}, {"username"}),
    ({"username": "plus+x"}, {"username"}),
    ({"username": "ünïcode"}, {"username"}),
    ({"username": "alice\n"}, {"username"}),
    ({"username": "tab\tx"}, {"username"}),
    # email: a valid address of at most 100 characters
    ({"email": email_of_length(101)}, {"email"}),
    ({"email": ""}, {"email"}),
    ({"email": "no-at-sign"}, {"email"}),
    ({"email": "@example.com"}, {"email"}),
    ({"email": "alice@"}, {"email"}),
    ({"email": "alice@@example.com"}, {"email"}),
    ({"email": "alice@example"}, {"email"}),  # no dot in the domain
    ({"email": "alice@.example.com"}, {"email"}),
    ({"email": "alice@-example.com"}, {"email"}),
    ({"email": "al ice@example.com"}, {"email"}),
    ({"email": "alice@example.com\n"}, {"email"}),
    # full_name: at most 100 characters, no control characters
    ({"full_name": "x" * 101}, {"full_name"}),
    ({"full_name": "Alice\nLiddell"}, {"full_name"}),
    ({"full_name": "tab\there"}, {"full_name"}),
    ({"full_name": "nul\x00"}, {"full_name"}),
    ({"full_name": "del\x7f"}, {"full_name"}),
    ({"full_name": "esc\x1b[0m"}, {"full_name"}),
    # tags: at most 20 distinct strings of 1 to 50 characters
    ({"tags": [f"tag{i}" for i in range(21)]}, {"tags"}),
    ({"tags": [*[f"tag{i}" for i in range(21)], "tag0", "tag1"]}, {"tags"}),
    ({"tags": [""]}, {"tags.0"}),
    ({"tags": ["ok", "x" * 51]}, {"tags.1"}),
    ({"tags": ["new\nline"]}, {"tags.0"}),
    # wrong JSON types are 422 too
    ({"username": 123}, {"username"}),
    ({"username": True}, {"username"}),
    ({"email": ["n@example.com"]}, {"email"}),
    ({"full_name": 5}, {"full_name"}),
    ({"tags": "beta"}, {"tags"}),
    ({"tags": [1]}, {"tags.0"}),
    ({"source": ""}, {"source"}),
]


def test_create_rejects_each_field_that_breaks_a_rule_with_422(api: ApiClient, table_items: Items) -> None:
    create_user(api)

    def check(case: tuple[dict[str, Any], set[str]]) -> None:
        overrides, fields = case
        with NothingWritten(table_items):
            assert_validation_error(api.post("/users", user_body(**overrides)), *fields)

    check_each(INVALID_FIELDS, check)


def test_create_rejects_unknown_and_read_only_fields_with_422(api: ApiClient, table_items: Items) -> None:
    cases = [
        ("nickname", "x", "is not a known field"),
        ("is_active", False, "is not a known field"),  # not an input of POST /users
        ("version", 3, "is not a known field"),
        ("id", UNKNOWN_ID, "is read-only"),
        ("created_at", "2026-01-01T00:00:00.000Z", "is read-only"),
        ("updated_at", "2026-01-01T00:00:00.000Z", "is read-only"),
    ]

    def check(case: tuple[str, Any, str]) -> None:
        field, value, reason = case
        with NothingWritten(table_items):
            details = assert_validation_error(api.post("/users", user_body(**{field: value})), field)
        assert details[0]["reason"] == reason

    check_each(cases, check)


def test_create_details_list_each_failing_field(api: ApiClient, table_items: Items) -> None:
    body = {
        "username": "x",
        "email": "not-an-email",
        "full_name": "line\nbreak",
        "tags": ["y" * 51],
        "id": UNKNOWN_ID,
        "colour": "blue",
    }
    with NothingWritten(table_items):
        details = assert_validation_error(
            api.post("/users", body), "username", "email", "full_name", "tags.0", "id", "colour"
        )
    reasons = {detail["field"]: detail["reason"] for detail in details}
    assert reasons["username"] == "must be 3 to 50 characters of A-Z a-z 0-9 _ . -"
    assert reasons["email"] == "must be a valid email address"
    assert reasons["id"] == "is read-only"
    assert reasons["colour"] == "is not a known field"

    with NothingWritten(table_items):
        details = assert_validation_error(api.post("/users", {"full_name": "Nobody"}), "username", "email")
    assert {detail["reason"] for detail in details} == {"is required"}


def test_create_rejects_json_that_is_not_an_object_with_422(api: ApiClient, table_items: Items) -> None:
    def check(raw: bytes) -> None:
        with NothingWritten(table_items):
            assert_error(api.post("/users", body=raw), 422, "validation_error")

    check_each([b"[]", b'"alice"', b"42", b"true"], check)


def test_create_rejects_a_body_that_is_not_json_with_400(api: ApiClient, table_items: Items) -> None:
    raws = [
        b"{not json",
        b"username=alice&email=a@example.com",
        b"{'username': 'alice'}",
        b'{"username": "alice",}',
        b'{"username": "alice"',
    ]

    def check(raw: bytes) -> None:
        with NothingWritten(table_items):
            assert_error(api.post("/users", body=raw), 400, "bad_request")

    check_each(raws, check)


def test_create_rejects_a_body_that_is_not_utf8_with_400(api: ApiClient, table_items: Items) -> None:
    with NothingWritten(table_items):
        assert_error(api.post("/users", body=b'{"username": "\xff\xfe"}'), 400, "bad_request")


def test_create_rejects_an_empty_body_with_400(api: ApiClient, table_items: Items) -> None:
    with NothingWritten(table_items):
        assert_error(api.post("/users", body=b""), 400, "bad_request")


def test_create_and_patch_reject_a_null_body_with_400(api: ApiClient, table_items: Items) -> None:
    user = create_user(api)
    with NothingWritten(table_items):
        assert_error(api.post("/users", body=b"null"), 400, "bad_request")
        assert_error(api.patch(f"/users/{user['id']}", body=b"null"), 400, "bad_request")


# POST /users: uniqueness -----------------------------------------------------------------


def test_taken_username_is_409_without_regard_to_case(api: ApiClient, table_items: Items) -> None:
    create_user(api, username="Alice", email="alice@example.com")
    counters = counter(table_items)

    with NothingWritten(table_items):
        error = assert_error(api.post("/users", {"username": "alice", "email": "b@example.com"}), 409, "username_taken")
        assert_error(api.post("/users", {"username": "ALICE", "email": "c@example.com"}), 409, "username_taken")

    assert error["message"] == "Username already exists"
    assert counter(table_items) == counters


def test_taken_email_is_409_without_regard_to_case(api: ApiClient, table_items: Items) -> None:
    create_user(api, username="alice", email="Alice@Example.com")
    counters = counter(table_items)

    with NothingWritten(table_items):
        error = assert_error(api.post("/users", {"username": "bob", "email": "alice@EXAMPLE.COM"}), 409, "email_taken")
        assert_error(api.post("/users", {"username": "carol", "email": "ALICE@example.com"}), 409, "email_taken")

    assert error["message"] == "Email already exists"
    assert counter(table_items) == counters


def test_when_username_and_email_are_both_taken_the_code_is_username_taken(api: ApiClient, table_items: Items) -> None:
    create_user(api, username="alice", email="alice@example.com")
    create_user(api, username="bob", email="bob@example.com")

    with NothingWritten(table_items):
        assert_error(api.post("/users", {"username": "ALICE", "email": "BOB@example.com"}), 409, "username_taken")
        assert_error(api.post("/users", {"username": "Bob", "email": "bob@Example.com"}), 409, "username_taken")


def test_a_409_leaves_the_existing_user_as_it_was(api: ApiClient, table_items: Items) -> None:
    alice = create_user(api, username="alice", email="alice@example.com")

    assert api.post("/users", {"username": "Alice", "email": "x@example.com"}).status == 409
    assert api.post("/users", {"username": "x_user", "email": "ALICE@example.com"}).status == 409

    assert api.get(f"/users/{alice['id']}").json() == alice
    assert api.get("/users/by-username/alice").json() == alice
    assert sentinels(table_items) == {"USERNAME#alice": alice["id"], "EMAIL#alice@example.com": alice["id"]}
    assert counts(table_items) == (1, 1)


# Idempotency-Key -------------------------------------------------------------------------


def test_a_retry_with_the_same_idempotency_key_returns_the_first_response(api: ApiClient, table_items: Items) -> None:
    body = user_body()
    first = api.post("/users", body, headers={"Idempotency-Key": "key-1"})
    assert first.status == 201
    counters = counter(table_items)

    again = api.post("/users", body, headers={"Idempotency-Key": "key-1"})

    assert (again.status, again.json()) == (201, first.json())
    assert counter(table_items)["total"] == counters["total"]


def test_the_same_idempotency_key_with_another_body_is_409(api: ApiClient, table_items: Items) -> None:
    assert api.post("/users", user_body(), headers={"Idempotency-Key": "key-2"}).status == 201

    with NothingWritten(table_items, "UsersTable"):
        assert_error(api.post("/users", user_body(), headers={"Idempotency-Key": "key-2"}), 409)


# GET /users/{user_id} ----------------------------------------------------------------------


def test_get_unknown_or_malformed_id_is_404(api: ApiClient, table_items: Items) -> None:
    user = create_user(api)
    ids = [UNKNOWN_ID, "not-a-ulid", "123", UNKNOWN_ID + "0", user["id"] + "0", user["id"].lower(), "8" * 26]

    def check(user_id: str) -> None:
        with NothingWritten(table_items, "UsersTable"):
            assert_error(api.get(f"/users/{user_id}"), 404, "not_found")

    check_each(ids, check)


def test_get_after_patch_returns_the_new_value(api: ApiClient, table_items: Items) -> None:
    user = create_user(api, full_name="Old Name")
    assert api.get(f"/users/{user['id']}").json()["full_name"] == "Old Name"

    assert api.patch(f"/users/{user['id']}", {"full_name": "New Name"}).status == 200

    assert api.get(f"/users/{user['id']}").json()["full_name"] == "New Name"


def test_get_and_get_by_username_after_delete_are_404(api: ApiClient, table_items: Items) -> None:
    user = create_user(api, username="Alice")
    assert api.get(f"/users/{user['id']}").status == 200

    assert api.delete(f"/users/{user['id']}").status == 204

    assert_error(api.get(f"/users/{user['id']}"), 404, "not_found")
    assert_error(api.get("/users/by-username/alice"), 404, "not_found")


# GET /users/by-username/{username} -----------------------------------------------------


def test_get_by_username_ignores_case(api: ApiClient) -> None:
    user = create_user(api, username="Alice")

    def check(lookup: str) -> None:
        response = api.get(f"/users/by-username/{lookup}")
        assert response.status == 200, response.body
        assert response.json() == user

    check_each(["Alice", "alice", "ALICE", "aLiCe"], check)


def test_get_by_unknown_username_is_404(api: ApiClient, table_items: Items) -> None:
    create_user(api, username="Alice")

    def check(lookup: str) -> None:
        with NothingWritten(table_items, "UsersTable"):
            assert_error(api.get(f"/users/by-username/{lookup}"), 404, "not_found")

    check_each(["nobody", "ali", "alice2", "al", "a" * 51, "alice@example.com"], check)


# PATCH /users/{user_id} --------------------------------------------------------------------


def test_patch_changes_only_the_given_fields(api: ApiClient) -> None:
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"username": "renamed"}, {"username": "renamed"}),
        ({"email": "new@example.org"}, {"email": "new@example.org"}),
        ({"full_name": "Changed Name"}, {"full_name": "Changed Name"}),
        ({"is_active": False}, {"is_active": False}),
        ({"tags": ["b", "a", "b", "c"]}, {"tags": ["b", "a", "c"]}),
        ({"tags": []}, {"tags": []}),
        (
            {"username": "all_of_it", "email": "all@example.org", "full_name": "All", "is_active": False},
            {"username": "all_of_it", "email": "all@example.org", "full_name": "All", "is_active": False},
        ),
    ]

    def check(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
        changes, expected = case
        user = create_user(api, full_name="Original", tags=["x"])
        response = api.patch(f"/users/{user['id']}", changes)
        assert response.status == 200, response.body
        updated = response.json()
        assert set(updated) == USER_FIELDS
        assert updated == {**user, **expected, "updated_at": updated["updated_at"]}
        assert ISO_MS_Z_RE.match(updated["updated_at"])
        assert updated["updated_at"] >= user["updated_at"]
        assert api.get(f"/users/{user['id']}").json() == updated

    check_each(cases, check)


def test_patch_username_frees_the_old_one_and_reserves_the_new(api: ApiClient, table_items: Items) -> None:
    alice = create_user(api, username="alice")

    assert api.patch(f"/users/{alice['id']}", {"username": "Alicia"}).status == 200

    assert sentinels(table_items)["USERNAME#alicia"] == alice["id"]
    assert "USERNAME#alice" not in sentinels(table_items)
    assert_error(api.get("/users/by-username/alice"), 404, "not_found")
    assert api.get("/users/by-username/ALICIA").json()["id"] == alice["id"]
    other = create_user(api, username="ALICE")
    assert sentinels(table_items)["USERNAME#alice"] == other["id"]
    assert_error(api.post("/users", user_body(username="alicia")), 409, "username_taken")
    assert counts(table_items) == (2, 2)


def test_patch_email_frees_the_old_one_and_reserves_the_new(api: ApiClient, table_items: Items) -> None:
    alice = create_user(api, email="alice@example.com")

    assert api.patch(f"/users/{alice['id']}", {"email": "Alicia@example.com"}).status == 200

    assert sentinels(table_items)["EMAIL#alicia@example.com"] == alice["id"]
    assert "EMAIL#alice@example.com" not in sentinels(table_items)
    assert create_user(api, email="ALICE@example.com")["email"] == "ALICE@example.com"
    assert_error(api.post("/users", user_body(email="alicia@EXAMPLE.com")), 409, "email_taken")


CONFLICTING_PATCHES = [
    ({"username": "BOB"}, "username_taken"),
    ({"email": "Bob@Example.com"}, "email_taken"),
    ({"username": "free_name", "email": "bob@example.com"}, "email_taken"),
    ({"username": "bob", "email": "free@example.com"}, "username_taken"),
    ({"username": "bob", "email": "bob@example.com"}, "username_taken"),
]
CONFLICT_IDS = ["username", "email", "email-with-free-username", "username-with-free-email", "both"]


def test_patch_to_a_taken_value_is_409_and_changes_nothing(api: ApiClient, table_items: Items) -> None:
    alice = create_user(api, username="alice", email="alice@example.com")
    bob = create_user(api, username="bob", email="bob@example.com")
    held = {
        "USERNAME#alice": alice["id"],
        "EMAIL#alice@example.com": alice["id"],
        "USERNAME#bob": bob["id"],
        "EMAIL#bob@example.com": bob["id"],
    }
    assert sentinels(table_items) == held

    def check(case: tuple[dict[str, Any], str]) -> None:
        changes, _ = case
        with NothingWritten(table_items):
            assert_error(api.patch(f"/users/{alice['id']}", changes), 409)
        assert sentinels(table_items) == held

    check_each(CONFLICTING_PATCHES, check)
    assert counts(table_items) == (2, 2)
    assert api.get(f"/users/{alice['id']}").json() == alice
    assert api.get(f"/users/{bob['id']}").json() == bob


@pytest.mark.parametrize(
    ("changes", "code"),
    CONFLICTING_PATCHES,
    ids=CONFLICT_IDS,
)
def test_patch_to_a_taken_value_names_the_taken_field(api: ApiClient, changes: dict[str, Any], code: str) -> None:
    alice = create_user(api, username="alice", email="alice@example.com")
    create_user(api, username="bob", email="bob@example.com")

    assert_error(api.patch(f"/users/{alice['id']}", changes), 409, code)


def test_patch_changing_only_the_case_of_ones_own_username_and_email(api: ApiClient, table_items: Items) -> None:
    alice = create_user(api, username="alice", email="alice@example.com")

    response = api.patch(f"/users/{alice['id']}", {"username": "ALICE", "email": "Alice@Example.com"})

    assert response.status == 200, response.body
    assert response.json()["username"] == "ALICE"
    assert response.json()["email"] == "Alice@Example.com"
    assert sentinels(table_items) == {"USERNAME#alice": alice["id"], "EMAIL#alice@example.com": alice["id"]}
    assert api.get("/users/by-username/alice").json()["username"] == "ALICE"
    assert counts(table_items) == (1, 1)

    same = api.patch(f"/users/{alice['id']}", {"username": "ALICE", "email": "Alice@Example.com"})
    assert same.status == 200, same.body
    assert sentinels(table_items) == {"USERNAME#alice": alice["id"], "EMAIL#alice@example.com": alice["id"]}


def test_patch_is_active_keeps_the_active_count_exact(api: ApiClient, table_items: Items) -> None:
    users = [create_user(api) for _ in range(3)]
    assert counts(table_items) == (3, 3)

    steps = [
        (users[0], False, (3, 2)),
        (users[0], False, (3, 2)),  # already inactive: no change
        (users[1], False, (3, 1)),
        (users[0], True, (3, 2)),
        (users[0], True, (3, 2)),  # already active: no change
        (users[1], True, (3, 3)),
        (users[2], False, (3, 2)),
    ]
    for user, active, expected in steps:
        response = api.patch(f"/users/{user['id']}", {"is_active": active})
        assert response.status == 200, response.body
        assert response.json()["is_active"] is active
        assert counts(table_items) == expected, (user["username"], active)


def test_patch_full_name_null_clears_it(api: ApiClient, table_items: Items) -> None:
    user = create_user(api, full_name="To Be Cleared")

    response = api.patch(f"/users/{user['id']}", {"full_name": None})

    assert response.status == 200, response.body
    assert response.json()["full_name"] is None
    assert api.get(f"/users/{user['id']}").json()["full_name"] is None
    stored = users_item(table_items, f"USER#{user['id']}")
    assert stored is not None
    assert "full_name" not in stored


INVALID_CHANGES: list[tuple[dict[str, Any], set[str]]] = [
    ({}, {"body"}),
    ({"username": None}, {"body"}),
    ({"email": None}, {"body"}),
    ({"is_active": None}, {"body"}),
    ({"tags": None}, {"body"}),
    ({"is_active": "true"}, {"is_active"}),
    ({"is_active": 1}, {"is_active"}),
    ({"username": 123}, {"username"}),
    ({"tags": "beta"}, {"tags"}),
    ({"username": "ab"}, {"username"}),
    ({"username": "a" * 51}, {"username"}),
    ({"username": "bad name"}, {"username"}),
    ({"email": "not-an-email"}, {"email"}),
    ({"email": email_of_length(101)}, {"email"}),
    ({"full_name": "x" * 101}, {"full_name"}),
    ({"full_name": "two\nlines"}, {"full_name"}),
    ({"tags": [f"t{i}" for i in range(21)]}, {"tags"}),
    ({"tags": [""]}, {"tags.0"}),
    ({"nickname": "al"}, {"nickname"}),
    ({"id": UNKNOWN_ID}, {"id"}),
    ({"created_at": "2026-01-01T00:00:00.000Z"}, {"created_at"}),
    ({"updated_at": "2026-01-01T00:00:00.000Z", "full_name": "ok"}, {"updated_at"}),
    ({"source": "web"}, {"source"}),
]


def test_patch_rejects_invalid_changes_with_422(api: ApiClient, table_items: Items) -> None:
    user = create_user(api)

    def check(case: tuple[dict[str, Any], set[str]]) -> None:
        body, fields = case
        with NothingWritten(table_items):
            assert_validation_error(api.patch(f"/users/{user['id']}", body), *fields)

    check_each(INVALID_CHANGES, check)
    assert api.get(f"/users/{user['id']}").json() == user


def test_patch_rejects_a_body_that_is_not_json_with_400(api: ApiClient, table_items: Items) -> None:
    user = create_user(api)

    def check(raw: bytes) -> None:
        with NothingWritten(table_items):
            assert_error(api.patch(f"/users/{user['id']}", body=raw), 400, "bad_request")

    check_each([b"{not json", b"is_active=false", b'{"is_active": False}'], check)


def test_patch_unknown_malformed_or_deleted_id_is_404(api: ApiClient, table_items: Items) -> None:
    deleted = create_user(api)
    create_user(api)
    assert api.delete(f"/users/{deleted['id']}").status == 204

    def check(user_id: str) -> None:
        with NothingWritten(table_items):
            assert_error(api.patch(f"/users/{user_id}", {"full_name": "Ghost"}), 404, "not_found")

    check_each([UNKNOWN_ID, "not-a-ulid", UNKNOWN_ID.lower(), deleted["id"]], check)


# DELETE /users/{user_id} -------------------------------------------------------------------


def test_delete_is_204_with_an_empty_body_and_removes_the_user(api: ApiClient, table_items: Items) -> None:
    keep = create_user(api, username="keep", email="keep@example.com")
    gone = create_user(api, username="Gone", email="Gone@example.com")

    response = api.delete(f"/users/{gone['id']}")

    assert response.status == 204
    assert response.body == ""
    assert user_ids_in_table(table_items) == {keep["id"]}
    assert sentinels(table_items) == {"USERNAME#keep": keep["id"], "EMAIL#keep@example.com": keep["id"]}
    assert counts(table_items) == (1, 1)


def test_delete_frees_the_username_and_email_for_reuse(api: ApiClient, table_items: Items) -> None:
    first = create_user(api, username="Reused", email="reused@example.com", full_name="First")
    assert api.delete(f"/users/{first['id']}").status == 204

    again = api.post("/users", {"username": "Reused", "email": "reused@example.com", "full_name": "Second"})

    assert again.status == 201, again.body
    second = again.json()
    assert second["id"] != first["id"]
    assert api.get("/users/by-username/reused").json() == second
    assert_error(api.get(f"/users/{first['id']}"), 404, "not_found")
    assert counts(table_items) == (1, 1)


def test_delete_keeps_the_counters_exact_for_active_and_inactive_users(api: ApiClient, table_items: Items) -> None:
    active = [create_user(api) for _ in range(3)]
    inactive = [create_user(api) for _ in range(2)]
    for user in inactive:
        assert api.patch(f"/users/{user['id']}", {"is_active": False}).status == 200
    assert counts(table_items) == (5, 3)

    assert api.delete(f"/users/{inactive[0]['id']}").status == 204
    assert counts(table_items) == (4, 3)
    assert api.delete(f"/users/{active[0]['id']}").status == 204
    assert counts(table_items) == (3, 2)
    assert api.delete(f"/users/{inactive[1]['id']}").status == 204
    assert counts(table_items) == (2, 2)


def test_delete_of_an_unknown_malformed_or_deleted_id_is_404_and_changes_nothing(
    api: ApiClient, table_items: Items
) -> None:
    deleted = create_user(api)
    create_user(api)
    assert api.delete(f"/users/{deleted['id']}").status == 204

    def check(user_id: str) -> None:
        with NothingWritten(table_items):
            assert_error(api.delete(f"/users/{user_id}"), 404, "not_found")

    check_each([deleted["id"], UNKNOWN_ID, "not-a-ulid", UNKNOWN_ID.lower()], check)
    assert counts(table_items) == (1, 1)


# Auth ----------------------------------------------------------------------------------------


def route_calls(user_id: str) -> list[tuple[str, str, dict[str, Any] | None, str]]:
    """(method, path, JSON body, scope it needs) of every users route, valid requests all."""
    return [
        ("POST", "/users", user_body(), WRITE_SCOPE),
        ("GET", f"/users/{user_id}", None, READ_SCOPE),
        ("GET", "/users/by-username/existing", None, READ_SCOPE),
        ("GET", "/users", None, READ_SCOPE),
        ("PATCH", f"/users/{user_id}", {"full_name": "Changed"}, WRITE_SCOPE),
        ("DELETE", f"/users/{user_id}", None, WRITE_SCOPE),
    ]


def test_no_token_is_401_and_writes_nothing(api: ApiClient, table_items: Items) -> None:
    user = create_user(api, username="existing")

    def check(call: tuple[str, str, dict[str, Any] | None, str]) -> None:
        method, path, body, _ = call
        with NothingWritten(table_items):
            assert_error(api.request(method, path, json_body=body, scopes=None), 401, "unauthorized")

    check_each(route_calls(user["id"]), check)


def test_a_token_without_the_scope_is_403_and_writes_nothing(api: ApiClient, table_items: Items) -> None:
    user = create_user(api, username="existing")
    tokens = ["", "analytics:read analytics:write", "users:admin", "users", "USERS:READ USERS:WRITE"]
    cases = [(call, granted) for call in route_calls(user["id"]) for granted in tokens]

    def check(case: tuple[tuple[str, str, dict[str, Any] | None, str], str]) -> None:
        (method, path, body, _), granted = case
        with NothingWritten(table_items):
            assert_error(api.request(method, path, json_body=body, scopes=granted), 403, "forbidden")

    check_each(cases, check)


def test_read_and_write_scopes_grant_only_their_routes(api: ApiClient, table_items: Items) -> None:
    user = create_user(api, username="existing")

    def check(call: tuple[str, str, dict[str, Any] | None, str]) -> None:
        method, path, body, scope = call
        other_scope = READ_SCOPE if scope == WRITE_SCOPE else WRITE_SCOPE
        with NothingWritten(table_items):
            assert_error(api.request(method, path, json_body=body, scopes=other_scope), 403, "forbidden")
        allowed = api.request(method, path, json_body=body, scopes=scope)
        assert allowed.status in (200, 201, 204), allowed.body

    check_each(route_calls(user["id"]), check)


def test_missing_scope_is_403_even_with_an_invalid_body(api: ApiClient, table_items: Items) -> None:
    user = create_user(api)

    def check(path_and_method: tuple[str, str]) -> None:
        method, path = path_and_method
        with NothingWritten(table_items):
            response = api.request(method, path, json_body={"username": "x"}, scopes=READ_SCOPE)
            assert_error(response, 403, "forbidden")

    check_each([("POST", "/users"), ("PATCH", f"/users/{user['id']}")], check)


def test_no_token_is_401_even_with_an_invalid_body(api: ApiClient, table_items: Items) -> None:
    user = create_user(api)

    def check(path_and_method: tuple[str, str]) -> None:
        method, path = path_and_method
        with NothingWritten(table_items):
            assert_error(api.request(method, path, json_body={"username": "x"}, scopes=None), 401, "unauthorized")

    check_each([("POST", "/users"), ("PATCH", f"/users/{user['id']}")], check)


def test_scopes_may_come_as_a_list_claim(api: ApiClient, table_items: Items) -> None:
    user = create_user(api)

    def call(method: str, path: str, function: str, body: bytes | None = None) -> dict[str, Any]:
        event = build_http_event(
            method=method,
            path=path,
            route_key=f"{method} {path.replace(user['id'], '{user_id}')}",
            headers={"content-type": "application/json"},
            body=body,
            path_parameters={"user_id": user["id"]} if user["id"] in path else None,
            claims={"sub": "user-1", "scopes": [READ_SCOPE]},
        )
        return api.module(function).handler(event, lambda_context(function))

    fetched = call("GET", f"/users/{user['id']}", "GetUserFunction")
    assert fetched["statusCode"] == 200, fetched["body"]
    assert json.loads(fetched["body"]) == user
    with NothingWritten(table_items):
        refused = call("POST", "/users", "CreateUserFunction", json.dumps(user_body()).encode())
    assert refused["statusCode"] == 403, refused["body"]
    assert json.loads(refused["body"])["error"]["code"] == "forbidden"


def test_health_needs_no_token(api: ApiClient) -> None:
    response = api.get("/health", scopes=None)

    assert response.status == 200, response.body
    body = response.json()
    assert body["status"] == "ok"
    assert isinstance(body["checks"], dict)
    assert body["checks"]
    assert body["checks"]["users_table"] == "ok"
    assert body["checks"]["cache"] == "ok"
    assert set(body["checks"].values()) == {"ok"}


def test_health_is_503_when_a_dependency_fails(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(UserService, "ping", _explode)

    response = api.get("/health", scopes=None)

    assert response.status == 503, response.body
    body = response.json()
    assert body["status"] != "ok"
    assert body["checks"]["users_table"] != "ok"
    assert body["checks"]["cache"] == "ok"
    assert "secret" not in response.body


# Errors --------------------------------------------------------------------------------------


def test_every_error_has_the_error_body_shape(api: ApiClient) -> None:
    user = create_user(api, username="taken")
    failures = [
        (api.post("/users", body=b"{"), 400),
        (api.get("/users", query={"limit": "abc"}), 400),
        (api.get("/users", query={"cursor": "garbage"}), 400),
        (api.post("/users", user_body(), scopes=None), 401),
        (api.post("/users", user_body(), scopes=READ_SCOPE), 403),
        (api.get(f"/users/{UNKNOWN_ID}"), 404),
        (api.delete(f"/users/{UNKNOWN_ID}"), 404),
        (api.post("/users", user_body(username="TAKEN")), 409),
        (api.post("/users", body=padded_json(user_body(), BODY_LIMIT + 1)), 413),
        (api.patch(f"/users/{user['id']}", {}), 422),
    ]
    request_ids = set()
    for response, status in failures:
        error = assert_error(response, status)
        assert set(error) <= ERROR_FIELDS | {"details"}
        # A 422, and a 400 for a query value (API.md), name each field; no other error has details.
        query_type_error = error["code"] == "bad_request" and error["message"].startswith("Invalid query parameter")
        assert ("details" in error) is (status == 422 or query_type_error), error
        assert re.fullmatch(r"[a-z_]+", error["code"]), error
        request_ids.add(error["request_id"])
    assert len(request_ids) == len(failures)


def test_the_error_request_id_is_the_gateway_request_id(api: ApiClient) -> None:
    event = build_http_event(
        method="GET",
        path=f"/users/{UNKNOWN_ID}",
        route_key="GET /users/{user_id}",
        path_parameters={"user_id": UNKNOWN_ID},
        claims={"sub": "user-1", "scope": READ_SCOPE},
        request_id="req-under-test-42",
    )

    result = api.module("GetUserFunction").handler(event, lambda_context("GetUserFunction"))

    assert result["statusCode"] == 404
    assert json.loads(result["body"])["error"]["request_id"] == "req-under-test-42"


def test_a_path_the_function_does_not_serve_is_404(api: ApiClient) -> None:
    event = build_http_event(
        method="GET",
        path="/users/a/b/c",
        route_key="GET /users/{user_id}",
        claims={"sub": "user-1", "scope": READ_SCOPE},
    )

    result = api.module("GetUserFunction").handler(event, lambda_context("GetUserFunction"))

    assert result["statusCode"] == 404
    error = json.loads(result["body"])["error"]
    assert error["code"] == "not_found"
    assert set(error) >= ERROR_FIELDS


def _explode(*_: Any, **__: Any) -> Any:
    raise RuntimeError("secret detail: arn:aws:dynamodb:table/Users password=hunter2")


def assert_internal_error(response: ApiResponse) -> None:
    error = assert_error(response, 500, "internal_error")
    assert set(error) == ERROR_FIELDS
    for leak in ("secret", "hunter2", "RuntimeError", "arn:aws", "Traceback", "dynamodb"):
        assert leak not in response.body


def test_an_unexpected_failure_is_500_naming_no_internals(
    api: ApiClient, table_items: Items, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = create_user(api)
    for method in ("get_user_by_id", "create_user", "update_user", "delete_user", "list_users"):
        monkeypatch.setattr(UserService, method, _explode)

    assert_internal_error(api.get(f"/users/{UNKNOWN_ID}"))
    assert_internal_error(api.get("/users"))
    with NothingWritten(table_items):
        assert_internal_error(api.post("/users", user_body()))
        assert_internal_error(api.patch(f"/users/{user['id']}", {"full_name": "x"}))
        assert_internal_error(api.delete(f"/users/{user['id']}"))


# Body limit ----------------------------------------------------------------------------------


def test_a_body_of_exactly_the_limit_is_accepted(api: ApiClient) -> None:
    response = api.post("/users", body=padded_json(user_body(), BODY_LIMIT))

    assert response.status == 201, response.body


def test_a_body_over_the_limit_is_413_and_writes_nothing(api: ApiClient, table_items: Items) -> None:
    user = create_user(api)
    requests = [
        ("POST", "/users", padded_json(user_body(), BODY_LIMIT + 1)),
        ("POST", "/users", padded_json(user_body(), 64 * 1024)),
        ("PATCH", f"/users/{user['id']}", padded_json({"full_name": "Big"}, BODY_LIMIT + 1)),
    ]

    def check(request: tuple[str, str, bytes]) -> None:
        method, path, raw = request
        with NothingWritten(table_items):
            assert_error(api.request(method, path, body=raw), 413, "payload_too_large")

    check_each(requests, check)
    assert api.get(f"/users/{user['id']}").json() == user


def test_any_body_over_the_limit_is_413(api: ApiClient, table_items: Items) -> None:
    raws = [json.dumps(user_body(full_name="x" * (BODY_LIMIT + 1))).encode(), b"x" * (BODY_LIMIT + 1)]

    def check(raw: bytes) -> None:
        with NothingWritten(table_items):
            assert_error(api.post("/users", body=raw), 413, "payload_too_large")

    check_each(raws, check)


def test_with_jwt_scope_prefix_the_prefixed_scopes_grant(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch, table_items: Items
) -> None:
    """Cognito names custom scopes "<resource server>/<scope>" (docs/DEPLOY.md)."""
    monkeypatch.setenv("JWT_SCOPE_PREFIX", "nexus/")

    created = api.post("/users", {"username": "cognito", "email": "c@example.com"}, scopes="nexus/users:write")
    assert created.status == 201, created.body
    with NothingWritten(table_items):
        assert_error(api.post("/users", {"username": "plain", "email": "p@example.com"}), 403, "forbidden")
    assert api.get(f"/users/{created.json()['id']}", scopes="nexus/users:read").status == 200
