"""What the routes answer, for the generated OpenAPI document (built only when asked for)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict


class _Documented(BaseModel):
    """A body only the OpenAPI document describes: its schema is built when that is generated."""

    model_config = ConfigDict(defer_build=True)


class FieldProblem(_Documented):
    field: str
    reason: str


class ErrorInfo(_Documented):
    code: str
    message: str
    request_id: str
    details: list[FieldProblem] | None = None


class ErrorBody(_Documented):
    """API.md's error body."""

    error: ErrorInfo


class Accepted(_Documented):
    accepted: int


class EventStats(_Documented):
    event_type: str | None
    days: int
    total: int
    by_day: dict[str, int]


class UserStats(_Documented):
    total_users: int
    active_users: int
    inactive_users: int
    activity_rate: float
    generated_at: str


class Health(_Documented):
    status: str
    checks: dict[str, str]


_ERRORS = {
    400: "The body is not JSON, a query value has the wrong type, or the cursor is bad",
    401: "No token",
    403: "The token lacks the route's scope",
    404: "No such user",
    409: "Username or email taken; Idempotency-Key reused with another body, or still in progress",
    413: "Body over the route's limit",
    422: "A field breaks a rule: details lists each field and why",
    503: "A dependency failed",
}


# Routes validate their own bodies (Powertools' validation is off), so the body model reaches
# the OpenAPI document through an extension that `local/openapi_worker.py` turns into a
# requestBody with the model's schema.
REQUEST_BODY_EXTENSION = "x-nexus-request-body"
request_models: dict[str, type[BaseModel]] = {}


def request_body(model: type[BaseModel]) -> dict[str, str]:
    """``openapi_extensions`` for a route whose JSON body is ``model``."""
    request_models[model.__name__] = model
    return {REQUEST_BODY_EXTENSION: model.__name__}


def responses(
    status: int, model: type[BaseModel] | None, *errors: int, description: str = "OK"
) -> dict[int, OpenAPIResponse]:
    """The success response (with its body model, if any) and the listed error responses."""
    success: OpenAPIResponse = {"description": description}
    if model is not None:
        success["content"] = {"application/json": {"model": model}}
    documented: dict[int, OpenAPIResponse] = {status: success}
    for error in errors:
        documented[error] = {"description": _ERRORS[error], "content": {"application/json": {"model": ErrorBody}}}
    return documented
