"""Call the functions in process, as API Gateway would: route, event, handler, response."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

from devkit.handlers import lambda_context, load_function
from local.events import RouteMatch, build_http_event, match_route
from local.template import Template
from local.tokens import ALL_SCOPES


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: str
    raw: dict[str, Any] = field(repr=False)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> str:
        return str(self.json()["error"]["code"])


class ApiClient:
    def __init__(self, template: Template) -> None:
        self.routes = template.routes()
        self.functions = template.functions()
        self._modules: dict[str, ModuleType] = {}

    def module(self, logical_id: str) -> ModuleType:
        if logical_id not in self._modules:
            self._modules[logical_id] = load_function(self.functions[logical_id].code_uri.name)
        return self._modules[logical_id]

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | None = None,
        query: dict[str, Any] | list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        scopes: str | None = ALL_SCOPES,
        subject: str = "user-1",
    ) -> ApiResponse:
        found = match_route(self.routes, method, path)
        assert isinstance(found, RouteMatch), f"no route for {method} {path}"
        if json_body is not None:
            body = json.dumps(json_body).encode()
        raw_query = urlencode(query, doseq=True) if query else ""
        event = build_http_event(
            method=method,
            path=path,
            route_key=found.route.route_key,
            raw_query=raw_query,
            headers={"content-type": "application/json", **(headers or {})},
            body=body,
            path_parameters=found.path_parameters,
            claims={"sub": subject, "scope": scopes} if scopes is not None else None,
        )
        module = self.module(found.route.function)
        result = module.handler(event, lambda_context(found.route.function))
        text = result.get("body") or ""
        if result.get("isBase64Encoded"):
            text = base64.b64decode(text).decode()
        return ApiResponse(result["statusCode"], result.get("headers") or {}, text, result)

    def post(self, path: str, json_body: Any = None, **kwargs: Any) -> ApiResponse:
        return self.request("POST", path, json_body=json_body, **kwargs)

    def get(self, path: str, **kwargs: Any) -> ApiResponse:
        return self.request("GET", path, **kwargs)

    def patch(self, path: str, json_body: Any = None, **kwargs: Any) -> ApiResponse:
        return self.request("PATCH", path, json_body=json_body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> ApiResponse:
        return self.request("DELETE", path, **kwargs)


# Assertions shared by the API tests ---------------------------------------------------------

ERROR_FIELDS = {"code", "message", "request_id"}


def assert_error(response: ApiResponse, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status == status, f"{response.status} {response.body}"
    assert response.headers.get("Content-Type") == "application/json"
    error = response.json()["error"]
    assert set(error) >= ERROR_FIELDS, error
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["request_id"], str)
    assert error["request_id"]
    if code is not None:
        assert error["code"] == code, response.body
    return error


def check_each[C](cases: Iterable[C], check: Callable[[C], None]) -> None:
    """Run ``check`` on every case and report all the failing ones together: a rule table is one
    test, since each test pays the cold start of the functions it calls."""
    failures = []
    for case in cases:
        try:
            check(case)
        except AssertionError as exc:
            failures.append(f"{case!r}: {exc}")
    assert not failures, "\n".join(failures)
