"""DELETE /users/{user_id}: the user, its sentinels and the counters go together.

Shared helpers: devkit/users_api.py.
"""

from __future__ import annotations

from devkit.api_client import ApiClient, assert_error, check_each
from devkit.users_api import (
    UNKNOWN_ID,
    Items,
    NothingWritten,
    counts,
    create_user,
    sentinels,
    user_ids_in_table,
)

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
