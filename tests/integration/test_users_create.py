"""POST /users: create, its field rules, uniqueness and Idempotency-Key.

Shared helpers: devkit/users_api.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from devkit.api_client import ApiClient, assert_error, check_each
from devkit.users_api import (
    ISO_MS_Z_RE,
    ULID_RE,
    UNKNOWN_ID,
    USER_FIELDS,
    Items,
    NothingWritten,
    assert_validation_error,
    counter,
    counts,
    create_user,
    email_of_length,
    entries,
    sentinels,
    tag_counts,
    user_body,
)

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


def test_create_writes_the_user_both_sentinels_its_entries_and_its_counter_shards(
    api: ApiClient, table_items: Items
) -> None:
    user = create_user(api, username="Alice", email="Alice@Example.COM", full_name="Alice Liddell", tags=["beta"])

    [shard] = [
        k.rsplit("#", 1)[1] for k in (i["pk"]["S"] for i in table_items("UsersTable")) if k.startswith("COUNTER#users#")
    ]
    entry_keys = {f"ENTRY#{user['id']}#{slot}" for slot in entries(table_items, user["id"])}
    keys = {item["pk"]["S"] for item in table_items("UsersTable")}
    assert keys == {
        f"USER#{user['id']}",
        "USERNAME#alice",
        "EMAIL#alice@example.com",
        f"COUNTER#users#{shard}",
        f"COUNTER#tag#{shard}#beta",
        *entry_keys,
    }
    # Found by is_active, its tag, and the 1-, 2-, 4- and 8-character prefixes of its terms.
    prefixes = ["a", "al", "alic", "alice@ex", "l", "li", "lidd"]
    assert sorted(entries(table_items, user["id"]).values()) == sorted(
        ["ACTIVE#1", "TAG#beta", *(f"PREFIX#{p}" for p in prefixes)]
    )
    assert tag_counts(table_items) == {"beta": 1}
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
    # ... nor characters that hide or reorder text (issue 25): bidi overrides, zero-width spaces
    ({"full_name": "Alice \u202egnp.exe"}, {"full_name"}),
    ({"full_name": "Ad\u200bmin"}, {"full_name"}),
    ({"full_name": "\u2066Eve\u2069"}, {"full_name"}),
    ({"full_name": "soft\u00adhyphen"}, {"full_name"}),
    ({"full_name": "\ufeffBOM"}, {"full_name"}),
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


def test_names_that_need_joiners_are_kept_as_given(api: ApiClient) -> None:
    """The zero-width non-joiner and joiner are format characters that writing needs: allowed."""
    for full_name in ["\u0645\u06cc\u200c\u0631\u0648\u06cc", "Ana 👩\u200d💻", "Zoë Ñúñez", "李小龍"]:
        created = create_user(api, full_name=full_name)
        assert created["full_name"] == full_name
