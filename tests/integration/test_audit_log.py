"""Who did what (issue 25): every write request logs one line with the caller, the operation, the
user and the request id, answered or refused; reads log none."""

from __future__ import annotations

from typing import Any

import pytest

from devkit.api_client import ApiClient
from local.provisioning import LocalResources
from local.template import Template


def writes(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    fields = ("operation", "status", "caller", "user_id", "request_id")
    return [{f: getattr(r, f) for f in fields} for r in caplog.records if r.getMessage() == "write"]


def test_each_write_is_one_line_naming_the_caller_the_operation_and_the_user(
    aws: LocalResources, template: Template, caplog: pytest.LogCaptureFixture
) -> None:
    api = ApiClient(template)
    created = api.post("/users", {"username": "audited", "email": "audited@example.com"}, subject="client-a")
    user_id = created.json()["id"]
    api.get(f"/users/{user_id}", subject="client-a")
    api.patch(f"/users/{user_id}", {"is_active": False}, subject="client-b")
    refused = api.patch(f"/users/{user_id}", {"is_active": True}, subject="client-c", scopes="users:read")
    api.post("/events", {"event_type": "signup"}, subject="client-d")
    api.delete(f"/users/{user_id}", subject="client-b")

    lines = writes(caplog)

    assert [(w["operation"], w["status"], w["caller"], w["user_id"]) for w in lines] == [
        ("POST /users", 201, "client-a", user_id),
        ("PATCH /users/{user_id}", 200, "client-b", user_id),
        ("PATCH /users/{user_id}", 403, "client-c", user_id),  # refused, and recorded
        ("POST /events", 202, "client-d", None),
        ("DELETE /users/{user_id}", 204, "client-b", user_id),
    ]
    assert refused.status == 403
    assert all(w["request_id"] for w in lines)
    assert len({w["request_id"] for w in lines}) == len(lines)
