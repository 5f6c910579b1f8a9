"""PATCH /users/{user_id}: partial changes, uniqueness, the counters.

Shared helpers: devkit/users_api.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from devkit.api_client import ApiClient, assert_error, check_each
from devkit.users_api import (
    ISO_MS_Z_RE,
    UNKNOWN_ID,
    USER_FIELDS,
    Items,
    NothingWritten,
    assert_validation_error,
    counts,
    create_user,
    email_of_length,
    sentinels,
    user_body,
    users_item,
)

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
