"""The error body of every failure, the 500 that names no internals, and the body limit.

Shared helpers: devkit/users_api.py.
"""

from __future__ import annotations

import json
import re

import pytest

from devkit.api_client import ERROR_FIELDS, ApiClient, ApiResponse, assert_error, check_each
from devkit.handlers import lambda_context
from devkit.users_api import (
    BODY_LIMIT,
    READ_SCOPE,
    UNKNOWN_ID,
    Items,
    NothingWritten,
    create_user,
    explode,
    padded_json,
    user_body,
)
from local.events import build_http_event
from nexus.users import UserService

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
        monkeypatch.setattr(UserService, method, explode)

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


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",  # no boundary: Powertools' multipart parser raised a ValueError, a 500
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/xml; charset=utf-8",
    ],
)
def test_a_body_sent_as_another_type_than_json_is_400_and_writes_nothing(
    api: ApiClient, table_items: Items, content_type: str
) -> None:
    user = create_user(api)
    requests = [
        ("POST", "/users", json.dumps(user_body(username="other")).encode()),
        ("PATCH", f"/users/{user['id']}", b'{"full_name": "Form"}'),
    ]

    def check(request: tuple[str, str, bytes]) -> None:
        method, path, raw = request
        with NothingWritten(table_items):
            response = api.request(method, path, body=raw, headers={"content-type": content_type})
            error = assert_error(response, 400, "bad_request")
            assert error["message"] == "Request body must be JSON: send Content-Type: application/json"

    check_each(requests, check)
    assert api.get(f"/users/{user['id']}").json() == user


def test_json_with_parameters_and_a_bodyless_request_of_any_type_are_accepted(api: ApiClient) -> None:
    created = api.post("/users", user_body(), headers={"content-type": "application/json; charset=utf-8"})
    read = api.request("GET", f"/users/{created.json()['id']}", headers={"content-type": "text/plain"})

    assert created.status == 201, created.body
    assert read.status == 200, read.body


@pytest.mark.parametrize(
    ("method", "path", "wrap", "depth", "status"),
    [
        # Under 16 KiB a body nests at most ~8,000 levels, within the parser: a 422 for the field.
        ("POST", "/users", '{{"username":"deep","email":"deep@example.com","full_name":{}}}', 8_000, 422),
        ("PATCH", "/users/{user_id}", '{{"full_name":{}}}', 8_000, 422),
        # 256 KiB reach past the parser's nesting limit (10,000 in CPython 3.13): a 400.
        ("POST", "/events", '{{"event_type":"signup","properties":{{"a":{}}}}}', 20_000, 400),
    ],
)
def test_a_body_nested_as_deep_as_its_limit_allows_is_refused_and_pages_nobody(
    api: ApiClient,
    table_items: Items,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    wrap: str,
    depth: int,
    status: int,
) -> None:
    """A hostile body is the caller's error, never a 500 (and the UnhandledErrors alarm)."""
    user = create_user(api)
    body = wrap.format("[" * depth + "]" * depth).encode()
    with NothingWritten(table_items):
        response = api.request(method, path.format(user_id=user["id"]), body=body)

    error = assert_error(response, status)
    if status == 400:
        assert (error["code"], error["message"]) == ("bad_request", "Request body is not valid JSON: nested too deeply")
    assert "unhandled error" not in [record.getMessage() for record in caplog.records]
