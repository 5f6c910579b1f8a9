"""The OpenAPI document: committed, served, and what a client sees of it."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

from devkit.local_server import LocalServer
from local.template import ROOT

COMMITTED = ROOT / "docs" / "openapi.json"
NOT_FOUND = {"message": "Not Found"}


def test_the_committed_document_is_what_the_code_generates(server: LocalServer) -> None:
    served = server.request("GET", "/openapi.json", scope=None)
    assert served.headers["Content-Type"] == "application/json"
    # `make openapi` writes the served document; a difference means it was not run after a change.
    assert served.body.decode() == COMMITTED.read_text(), "docs/openapi.json is stale: run `make openapi`"


def test_every_input_is_declared(server: LocalServer) -> None:
    paths = server.request("GET", "/openapi.json", scope=None).json()["paths"]

    def parameters(path: str, method: str) -> dict[str, dict[str, object]]:
        return {p["name"]: p for p in paths[path][method].get("parameters", [])}

    listing = parameters("/users", "get")
    assert set(listing) == {"limit", "cursor", "search", "is_active", "tag"}
    assert listing["limit"]["schema"] == listing["limit"]["schema"] | {"minimum": 1, "maximum": 100, "default": 20}
    assert listing["tag"]["schema"]["type"] == "array"
    assert set(parameters("/stats/events", "get")) == {"event_type", "days"}
    assert "idempotency-key" in parameters("/users", "post")
    events = paths["/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {ref["$ref"].rsplit("/", 1)[-1] for ref in events["oneOf"]} == {"TrackEventsRequest", "AnalyticsEvent"}


def test_every_answer_is_documented(server: LocalServer) -> None:
    document = server.request("GET", "/openapi.json", scope=None).json()
    operations = [op for ops in document["paths"].values() for op in ops.values()]
    assert len({op["operationId"] for op in operations}) == len(operations)
    deleted = document["paths"]["/users/{user_id}"]["delete"]["responses"]["204"]
    assert deleted.get("content", {}) == {}
    created = document["paths"]["/users"]["post"]["responses"]["201"]
    assert "Location" in created["headers"]
    for operation in operations:
        assert all(operation.get(key) for key in ("summary", "description", "tags")), operation["operationId"]
        if operation.get("security"):
            unauthorized = operation["responses"]["401"]["content"]["application/json"]["schema"]
            assert unauthorized == {"$ref": "#/components/schemas/GatewayMessage"}
            assert all(scopes for requirement in operation["security"] for scopes in requirement.values())
    assert not {"HTTPValidationError", "ValidationError"} & set(document["components"]["schemas"])
    assert document["info"]["description"].count("docs/API.md") >= 1


def test_any_unknown_method_is_the_gateways_json_404(server: LocalServer) -> None:
    for method in ("TRACE", "PROPFIND", "CONNECT"):
        response = server.request(method, "/health", scope=None)
        assert (response.status, response.headers["Content-Type"]) == (404, "application/json"), method
        assert response.json() == NOT_FOUND


def test_a_malformed_request_is_answered_in_json(server: LocalServer) -> None:
    address = urlsplit(server.base_url)
    with socket.create_connection((address.hostname or "127.0.0.1", address.port or 80), timeout=10) as raw:
        raw.sendall(b"GET /health HTTP/1.1 extra\r\n\r\n")
        received = b""
        while chunk := raw.recv(65536):  # the server closes the connection after the answer
            received += chunk
        answer = received.decode()
    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 400") or head.startswith("HTTP/1.0 400"), head
    assert "Content-Type: application/json" in head
    assert json.loads(body) == {"message": "Bad request version ('extra')"}


def test_the_contract_in_words_is_served_where_the_document_links(server: LocalServer) -> None:
    page = server.request("GET", "/docs/API.md", scope=None)
    assert (page.status, page.headers["Content-Type"]) == (200, "text/markdown; charset=utf-8")
    assert page.body == (ROOT / "docs" / "API.md").read_bytes()
