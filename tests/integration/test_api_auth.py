"""Tokens and scopes on the users routes, the scope prefix, and GET /health without a token.

Shared helpers: devkit/users_api.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from devkit.api_client import ApiClient, assert_error, check_each
from devkit.handlers import lambda_context
from devkit.users_api import (
    READ_SCOPE,
    WRITE_SCOPE,
    Items,
    NothingWritten,
    create_user,
    explode,
    user_body,
)
from local.events import build_http_event
from nexus.users import UserService

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
    monkeypatch.setattr(UserService, "ping", explode)

    response = api.get("/health", scopes=None)

    assert response.status == 503, response.body
    body = response.json()
    assert body["status"] != "ok"
    assert body["checks"]["users_table"] != "ok"
    assert body["checks"]["cache"] == "ok"
    assert "secret" not in response.body


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
