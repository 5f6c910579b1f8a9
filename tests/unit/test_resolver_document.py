"""NexusResolver: its part of the OpenAPI document (docstrings, operation ids, the route's
scope), and no way around its admission."""

from __future__ import annotations

import json
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from nexus.api.app import create_app
from nexus.api.auth import BEARER_SCHEME
from nexus.users.schemas import PageLimit


class Things:
    """A composite the documents below never build."""


def test_summary_description_operation_id_and_scope_come_from_the_declarations() -> None:
    app = create_app(Things, scope="things:read")

    @app.get("/things")
    def list_things(limit: Annotated[PageLimit, Query()] = 20) -> dict[str, int]:
        """List things.

        Every thing, newest first.
        """
        return {"limit": limit}

    document = json.loads(app.get_openapi_json_schema())

    operation = document["paths"]["/things"]["get"]
    assert (operation["summary"], operation["description"]) == ("List things", "Every thing, newest first.")
    assert operation["operationId"] == "list_things"
    assert operation["security"] == [{BEARER_SCHEME: ["things:read"]}]
    assert document["components"]["securitySchemes"][BEARER_SCHEME]["scheme"] == "bearer"
    limit = operation["parameters"][0]["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 100, 20)


def test_a_route_without_a_scope_has_no_security() -> None:
    app = create_app(Things, scope=None)

    @app.get("/open")
    def open_route() -> dict[str, str]:
        """Open."""
        return {}

    assert "security" not in json.loads(app.get_openapi_json_schema())["paths"]["/open"]["get"]


def test_a_change_documents_null_only_for_the_field_null_clears() -> None:
    """PATCH takes null for full_name alone (it clears the name); the document offers no other."""
    from pathlib import Path

    document = json.loads((Path(__file__).parents[2] / "docs" / "openapi.json").read_text())
    fields = document["components"]["schemas"]["UserChanges"]["properties"]

    def admits_null(schema: dict[str, object]) -> bool:
        branches = schema.get("anyOf", [schema])
        return any(isinstance(b, dict) and b.get("type") == "null" for b in branches)  # type: ignore[union-attr]

    assert {name for name, schema in fields.items() if admits_null(schema)} == {"full_name"}
    assert set(fields) == {"username", "email", "full_name", "is_active", "tags"}


def test_the_async_path_is_refused_since_it_would_route_without_admission() -> None:
    import asyncio

    import pytest

    app = create_app(Things, scope="things:read")

    with pytest.raises(NotImplementedError, match=r"call resolve\(\)"):
        asyncio.run(app.resolve_async({"rawPath": "/things"}, None))  # type: ignore[arg-type]
