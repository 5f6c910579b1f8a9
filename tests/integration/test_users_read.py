"""GET /users/{user_id} and GET /users/by-username/{username}.

Shared helpers: devkit/users_api.py.
"""

from __future__ import annotations

from devkit.api_client import ApiClient, assert_error, check_each
from devkit.users_api import (
    UNKNOWN_ID,
    Items,
    NothingWritten,
    create_user,
)

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
