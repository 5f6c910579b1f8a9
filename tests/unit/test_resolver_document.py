"""NexusResolver's part of the OpenAPI document: docstrings, operation ids and the route's scope."""

from __future__ import annotations

import json
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from nexus.api.app import create_app
from nexus.api.auth import BEARER_SCHEME
from nexus.users.schemas import PageLimit


def test_summary_description_operation_id_and_scope_come_from_the_declarations() -> None:
    app = create_app()

    @app.get("/things")
    def list_things(limit: Annotated[PageLimit, Query()] = 20) -> dict[str, int]:
        """List things.

        Every thing, newest first.
        """
        return {"limit": limit}

    app.scope = "things:read"
    document = json.loads(app.get_openapi_json_schema())

    operation = document["paths"]["/things"]["get"]
    assert (operation["summary"], operation["description"]) == ("List things", "Every thing, newest first.")
    assert operation["operationId"] == "list_things"
    assert operation["security"] == [{BEARER_SCHEME: ["things:read"]}]
    assert document["components"]["securitySchemes"][BEARER_SCHEME]["scheme"] == "bearer"
    limit = operation["parameters"][0]["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 100, 20)


def test_a_route_without_a_scope_has_no_security() -> None:
    app = create_app()

    @app.get("/open")
    def open_route() -> dict[str, str]:
        """Open."""
        return {}

    assert "security" not in json.loads(app.get_openapi_json_schema())["paths"]["/open"]["get"]
