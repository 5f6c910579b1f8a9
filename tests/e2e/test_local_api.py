"""The local HTTP API end to end: API.md's user routes and health, auth, and the gateway itself."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devkit.local_server import LocalServer, descendants, start_server, stop_server
from local.template import Template
from local.tokens import make_token

NOT_FOUND = {"message": "Not Found"}
UNAUTHORIZED = {"message": "Unauthorized"}
PLACEHOLDER_ID = "01JD0000000000000000000000"


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def new_user(server: LocalServer, **fields: object) -> dict[str, object]:
    name = unique("user")
    response = server.request("POST", "/users", json_body={"username": name, "email": f"{name}@example.com", **fields})
    assert response.status == 201, response.body
    return dict(response.json())


def test_health_needs_no_token(server: LocalServer) -> None:
    response = server.request("GET", "/health", scope=None)
    assert response.status == 200
    assert response.json()["status"] == "ok"
    assert response.headers["apigw-requestid"]


def test_user_lifecycle(server: LocalServer) -> None:
    name = unique("Alice")
    created = server.request(
        "POST",
        "/users",
        json_body={"username": name, "email": f"{name}@Example.com", "full_name": "Alice Liddell", "tags": ["beta"]},
    )
    assert created.status == 201, created.body
    user = created.json()
    assert created.headers["Location"] == f"/users/{user['id']}"
    assert (user["username"], user["tags"], user["is_active"]) == (name, ["beta"], True)

    assert server.request("GET", f"/users/{user['id']}").json() == user
    by_name = server.request("GET", f"/users/by-username/{name.upper()}")
    assert (by_name.status, by_name.json()["id"]) == (200, user["id"])

    inactive_before = server.request("GET", "/users?is_active=false").json()["total"]  # other tests share the server
    updated = server.request("PATCH", f"/users/{user['id']}", json_body={"full_name": "A. Liddell", "is_active": False})
    assert updated.status == 200, updated.body
    assert (updated.json()["full_name"], updated.json()["is_active"]) == ("A. Liddell", False)

    listed = server.request("GET", f"/users?search={name.lower()}&is_active=false")
    assert [item["id"] for item in listed.json()["items"]] == [user["id"]]
    assert listed.json()["total"] is None  # a search with a filter: no counter holds it
    inactive = server.request("GET", "/users?is_active=false").json()
    assert (user["id"] in [item["id"] for item in inactive["items"]], inactive["total"]) == (True, inactive_before + 1)

    assert server.request("DELETE", f"/users/{user['id']}").status == 204
    gone = server.request("GET", f"/users/{user['id']}")
    assert (gone.status, gone.json()["error"]["code"]) == (404, "not_found")
    assert server.request("DELETE", f"/users/{user['id']}").status == 404


def test_taken_username_and_email_are_409(server: LocalServer) -> None:
    user = new_user(server)
    again = server.request("POST", "/users", json_body={"username": str(user["username"]).upper(), "email": "x@y.io"})
    assert (again.status, again.json()["error"]["code"]) == (409, "username_taken")
    other = server.request("POST", "/users", json_body={"username": unique("other"), "email": user["email"]})
    assert (other.status, other.json()["error"]["code"]) == (409, "email_taken")


def test_invalid_bodies(server: LocalServer) -> None:
    unknown = server.request("POST", "/users", json_body={"username": unique("u"), "email": "a@b.io", "id": "x"})
    assert unknown.status == 422
    not_json = server.request("POST", "/users", body=b"{not json", headers={"Content-Type": "application/json"})
    assert not_json.status == 400


def test_listing_pages_with_a_cursor(server: LocalServer) -> None:
    tag = unique("t")
    ids = [new_user(server, tags=[tag])["id"] for _ in range(3)]
    first = server.request("GET", f"/users?tag={tag}&limit=2").json()
    assert [item["id"] for item in first["items"]] == ids[::-1][:2]
    assert first["total"] == 3
    second = server.request("GET", f"/users?tag={tag}&limit=2&cursor={first['next_cursor']}").json()
    assert [item["id"] for item in second["items"]] == ids[:1]
    assert server.request("GET", f"/users?tag={tag}&cursor=tampered").status == 400


def test_analytics_routes(server: LocalServer) -> None:
    accepted = server.request("POST", "/events", json_body={"event_type": "user_action", "properties": {"action": "x"}})
    assert (accepted.status, accepted.json()) == (202, {"accepted": 1})
    assert server.request("GET", "/stats/users").status == 200
    stats = server.request("GET", "/stats/events?days=3")
    assert (stats.status, stats.json()["days"]) == (200, 3)


def _concrete(path: str) -> str:
    return path.replace("{user_id}", PLACEHOLDER_ID).replace("{username}", "nobody")


def test_every_protected_route_answers_401_without_a_readable_token(server: LocalServer, template: Template) -> None:
    protected = [route for route in template.routes() if route.auth]
    assert protected
    for route in protected:
        for headers in ({}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
            response = server.request(route.method, _concrete(route.path), headers=headers, scope=None)
            assert (response.status, response.json()) == (401, UNAUTHORIZED), (route, headers)


def test_a_token_without_the_scope_is_403(server: LocalServer) -> None:
    write_only = server.request("GET", "/users", scope="users:write")
    assert (write_only.status, write_only.json()["error"]["code"]) == (403, "forbidden")
    read_only = server.request(
        "POST", "/users", json_body={"username": unique("u"), "email": "r@o.io"}, scope="users:read"
    )
    assert read_only.status == 403
    assert server.request("GET", "/stats/users", scope="users:read users:write").status == 403


def test_served_routes_are_exactly_the_templates(server: LocalServer, template: Template) -> None:
    document = server.request("GET", "/openapi.json", scope=None).json()
    served = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    assert served == {(route.method, route.path) for route in template.routes()}
    for route in template.routes():
        response = server.request(route.method, _concrete(route.path), json_body={} if route.method != "GET" else None)
        # Whatever the function says, it is the function talking, not the gateway's own 404.
        assert response.json() != NOT_FOUND, route
        assert response.status != 401, route


def test_openapi_document_and_docs_page(server: LocalServer) -> None:
    document = server.request("GET", "/openapi.json", scope=None).json()
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    # The only route without the authorizer has no security; the others name their scope.
    assert "security" not in document["paths"]["/health"]["get"]
    assert "security" not in document
    assert document["paths"]["/users"]["post"]["security"] == [{"bearerAuth": ["users:write"]}]
    for method, path, model in (("post", "/users", "NewUser"), ("patch", "/users/{user_id}", "UserChanges")):
        operation = document["paths"][path][method]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{model}"}
        assert document["components"]["schemas"][model]["additionalProperties"] is False
        assert not any(key.startswith("x-") for key in operation)
    page = server.request("GET", "/docs", scope=None)
    assert page.status == 200
    assert b"SwaggerUIBundle" in page.body
    assert server.request("GET", "/docs/swagger-ui-bundle.min.js", scope=None).status == 200


def test_unknown_route_and_method_are_the_gateways_404(server: LocalServer) -> None:
    for method, path in [("GET", "/nope"), ("PUT", "/users"), ("POST", "/health"), ("GET", "/users/a/b/c")]:
        response = server.request(method, path, json_body={} if method != "GET" else None)
        assert (response.status, response.json()) == (404, NOT_FOUND), (method, path)


def test_a_body_that_is_not_utf8_reaches_the_function_base64_encoded(server: LocalServer) -> None:
    response = server.request("POST", "/users", body=b"\xff\xfe\x00bad", headers={"Content-Type": "application/json"})
    # The function decodes the base64 body and rejects bytes that are not UTF-8 (API.md: 400).
    assert (response.status, response.json()["error"]["code"]) == (400, "bad_request")


def test_a_body_over_ten_mib_is_413_and_the_server_goes_on(server: LocalServer) -> None:
    response = server.request("POST", "/users", body=b"x" * (10 * 1024 * 1024 + 1))
    assert (response.status, response.json()) == (413, {"message": "Request Entity Too Large"})
    assert server.request("GET", "/health", scope=None).status == 200


def test_cookies_and_query_reach_the_function(server: LocalServer) -> None:
    response = server.request("GET", "/users?limit=0", headers={"Cookie": "a=1; b=2"})
    # limit=0 is outside 1-100: the function saw the query string.
    assert (response.status, response.json()["error"]["code"]) == (422, "validation_error")


def test_sent_emails_and_reset(server: LocalServer) -> None:
    emails = server.request("GET", "/_local/emails", scope=None)
    assert isinstance(emails.json()["emails"], list)
    new_user(server)
    assert server.request("POST", "/_local/reset", scope=None).json() == {"reset": True}
    assert server.request("GET", "/users").json()["total"] == 0
    assert server.request("GET", "/_local/emails", scope=None).json() == {"emails": []}
    new_user(server)  # the recreated resources work, with the workers restarted on the new secret
    assert server.request("GET", "/users?limit=5").status == 200


def test_welcome_email_is_sent_through_ses(server: LocalServer) -> None:
    user = new_user(server)
    emails = server.request("GET", "/_local/emails", scope=None).json()["emails"]
    assert any(str(user["email"]) in json.dumps(email["destinations"]) for email in emails)


def test_tracked_events_are_counted_through_the_stream_trigger(server: LocalServer) -> None:
    # Runs after the reset test: the Kinesis poller was restarted on the new stream.
    event_type = f"e2e.{uuid.uuid4().hex[:8]}"
    batch = {"events": [{"event_type": event_type}, {"event_type": event_type}, {"event_type": event_type}]}
    assert server.request("POST", "/events", json_body=batch).json() == {"accepted": 3}
    deadline = time.monotonic() + 20
    total = 0
    while time.monotonic() < deadline and total < 3:
        total = server.request("GET", f"/stats/events?event_type={event_type}&days=1").json()["total"]
        time.sleep(0.3)
    assert total == 3
    assert "KINESIS AnalyticsStream CountEventsFunction" in server.log.read_text()


def test_cold_then_warm_in_the_log(server: LocalServer) -> None:
    server.request("GET", "/stats/users")
    server.request("GET", "/stats/users")
    lines = [line for line in server.log.read_text().splitlines() if line.startswith("GET /stats/users 200")]
    assert " UserStatsFunction cold " in lines[0]
    assert " UserStatsFunction warm " in lines[-1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_stopping_leaves_nothing_behind(stop_signal: signal.Signals, tmp_path: Path) -> None:
    own = start_server(tmp_path / "server.log")
    try:
        assert own.request("GET", "/health", scope=None).status == 200
        workers = descendants(own.process.pid)
        assert workers, "a worker runs after an invocation"
        own.process.send_signal(stop_signal)
        assert own.process.wait(timeout=15) == 0
    finally:
        if own.process.poll() is None:
            stop_server(own)
    assert not [pid for pid in workers if _alive(pid)]
    assert "stopped" in own.log.read_text()


def test_gateway_answers_in_json(server: LocalServer) -> None:
    response = server.request("GET", "/nope", scope=None)
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body) == NOT_FOUND


def test_an_expired_token_is_401(server: LocalServer) -> None:
    expired = make_token(lifetime=-60)
    response = server.request("GET", "/users", headers={"Authorization": f"Bearer {expired}"}, scope=None)
    assert (response.status, response.json()) == (401, UNAUTHORIZED)


def test_concurrent_requests_scale_out_to_more_workers(server: LocalServer) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        statuses = list(pool.map(lambda _: server.request("GET", "/health", scope=None).status, range(6)))
    assert statuses == [200] * 6


def test_user_changes_reach_the_webhook_publisher_through_the_table_stream(server: LocalServer) -> None:
    user = new_user(server)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        lines = [line for line in server.log.read_text().splitlines() if line.startswith("DYNAMODB UsersTable")]
        if any("PublishWebhooksFunction" in line and " 0 failed " in line for line in lines):
            break
        time.sleep(0.3)
    else:
        pytest.fail(f"no webhook batch for {user['id']} in the log")


def test_pages_elsewhere_cannot_drive_the_local_server(server: LocalServer) -> None:
    """DNS rebinding (a page whose name resolves to 127.0.0.1 sends its own Host) and a cross-site
    POST to /_local/* (it sends its Origin) are refused; this origin's own requests are not."""
    rebound = server.request("GET", "/health", scope=None, headers={"Host": "attacker.example:3000"})
    assert (rebound.status, rebound.json()) == (
        403,
        {"message": "Forbidden: this server answers Host 127.0.0.1 or localhost only"},
    )
    users_before = server.request("GET", "/users").json()["total"]
    csrf = server.request("POST", "/_local/reset", scope=None, headers={"Origin": "https://attacker.example"})
    assert (csrf.status, csrf.json()) == (403, {"message": "Forbidden: a /_local write from another origin"})
    assert server.request("GET", "/users").json()["total"] == users_before, "nothing was reset"
    own_origin = server.base_url.removeprefix("http://")
    assert (
        server.request("GET", "/health", scope=None, headers={"Host": f"localhost:{own_origin.split(':')[1]}"}).status
        == 200
    )
    assert (
        server.request("GET", "/_local/emails", scope=None, headers={"Origin": "https://attacker.example"}).status
        == 200
    )
