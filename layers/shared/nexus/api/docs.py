"""What the routes answer besides their success body, for the generated OpenAPI document.

The request side (path, query, header, body) is declared in each handler's signature and the
success body by its return type; this module adds the error answers: the functions' error body
(API.md, "Errors") and the bodies API Gateway sends itself (``{"message": ...}``).
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader
from pydantic import BaseModel, ConfigDict


class _Documented(BaseModel):
    """A body only the OpenAPI document describes: its schema is built when that is generated."""

    model_config = ConfigDict(defer_build=True)


class FieldProblem(_Documented):
    """One broken rule: the field (dotted path, query parameter or header name) and why."""

    field: str
    reason: str


class ErrorInfo(_Documented):
    code: str
    message: str
    request_id: str
    details: list[FieldProblem] | None = None
    not_accepted: int | None = None
    """``events_not_accepted`` only: how many events of the request the stream did not take."""


class ErrorBody(_Documented):
    """API.md's error body: every error a function answers."""

    error: ErrorInfo


class GatewayMessage(_Documented):
    """API Gateway's own body, for the answers it gives before (or instead of) a function."""

    message: str


_FUNCTION_ERRORS = {
    400: "The body is not JSON, a query value has the wrong type, or the cursor is bad",
    403: "The token lacks the route's scope",
    404: "No such user",
    409: "Username or email taken; Idempotency-Key reused with another body, or still in progress",
    422: "A field, query value or header breaks a rule: `details` names each one and why",
    503: "A dependency failed; `POST /events`: the stream did not take every event (`not_accepted`)",
}
_GATEWAY_ERRORS = {
    401: "No bearer token, or one the JWT authorizer rejects (API Gateway's body)",
}
# Either side can answer these: the function (error body) or API Gateway ({"message": ...}).
_EITHER = {
    413: "Body over the route's limit (error body), or over API Gateway's 10 MB (`Request Entity Too Large`)",
    500: "The function failed: its error body, or API Gateway's `Internal Server Error` when it crashed",
}

LOCATION_HEADER: dict[str, OpenAPIResponseHeader] = {
    "Location": {"description": "The new user's path, `/users/{id}`", "schema": {"type": "string"}},
}


def responses(
    status: int,
    model: type[BaseModel] | None,
    *errors: int,
    description: str = "OK",
    headers: dict[str, OpenAPIResponseHeader] | None = None,
) -> dict[int, OpenAPIResponse]:
    """The success response (with its body model; none for a 204) and the listed error responses."""
    # No model: no body at all (a 204), not the schema Powertools would take from the return type.
    success: OpenAPIResponse = {"description": description, "content": {}}
    if model is not None:
        success["content"] = {"application/json": {"model": model}}
    if headers:
        success["headers"] = headers
    documented: dict[int, OpenAPIResponse] = {status: success}
    for error in (*errors, 500):
        if error in _GATEWAY_ERRORS:
            documented[error] = _answer(_GATEWAY_ERRORS[error], GatewayMessage)
        elif error in _EITHER:
            documented[error] = _answer(_EITHER[error], ErrorBody | GatewayMessage)  # type: ignore[arg-type]
        else:
            documented[error] = _answer(_FUNCTION_ERRORS[error], ErrorBody)
    return documented


def _answer(description: str, model: type[BaseModel]) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": model}}}
