"""The one place where errors become HTTP responses (API.md, "Errors")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools.event_handler import Response

from nexus.errors import (
    BadRequestError,
    ConflictError,
    EventsNotAcceptedError,
    FieldError,
    ForbiddenError,
    NexusError,
    NotFoundError,
    PayloadTooLargeError,
    UnauthorizedError,
    ValidationError,
)
from nexus.text_rules import EMAIL_PATTERN, IDEMPOTENCY_KEY_PATTERN, READ_ONLY_FIELDS, USERNAME_PATTERN

STATUS_BY_ERROR: dict[type[NexusError], int] = {
    BadRequestError: 400,
    UnauthorizedError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    PayloadTooLargeError: 413,
    ValidationError: 422,
    EventsNotAcceptedError: 503,
}
# No 503 here: a dependency that is down mid-request is an unexpected failure (500, the
# UnhandledErrors alarm); only GET /health answers 503, with its own body.

# pydantic error types that mean "the value has the wrong type" rather than "breaks a rule"
_TYPE_ERRORS = frozenset(
    {"int_parsing", "int_type", "int_from_float", "bool_parsing", "bool_type", "float_parsing", "string_type"}
    | {"json_invalid"}
)


def status_for(error: Exception) -> int:
    for error_type in type(error).__mro__:
        if error_type in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[error_type]
    return 500


def error_body(code: str, message: str, request_id: str, details: list[FieldError] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if details:
        error["details"] = [{"field": d.field, "reason": d.reason} for d in details]
    return {"error": error}


def error_response(error: Exception, request_id: str) -> Response[Any]:
    """The HTTP response for any exception; unexpected ones are a 500 naming no internals."""
    if isinstance(error, NexusError):
        details = error.details if isinstance(error, ValidationError | BadRequestError) else None
        body = error_body(error.code, error.message, request_id, details)
        if isinstance(error, EventsNotAcceptedError):
            body["error"]["not_accepted"] = error.not_accepted
        status = status_for(error)
    else:
        body = error_body("internal_error", "Internal server error", request_id)
        status = 500
    return Response(status_code=status, content_type="application/json", body=body)


# Where Powertools' validation errors point (``loc[0]``), and the tags of the tagged unions of
# request bodies (``nexus.analytics.schemas.TrackEventsBody``): neither is part of a field's name.
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})


def _field_name(location: Sequence[Any]) -> str:
    parts = [str(part) for part in location[1:] if not str(part).startswith("(")]
    if location and str(location[0]) not in _LOCATIONS:
        parts.insert(0, str(location[0]))
    return ".".join(parts) or "body"


_PATTERN_REASONS = {
    USERNAME_PATTERN: "must be 3 to 50 characters of A-Z a-z 0-9 _ . -",
    EMAIL_PATTERN: "must be a valid email address",
    IDEMPOTENCY_KEY_PATTERN: "must be 1 to 128 printable ASCII characters without spaces",
}


# The project's wording for a value of the wrong type (API.md: details say why).
_TYPE_REASONS = {
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "float_parsing": "must be a number",
    "string_type": "must be a string",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a JSON array",
}


def _reason(error: Mapping[str, Any]) -> str:
    if error["type"] in _TYPE_REASONS:
        return _TYPE_REASONS[error["type"]]
    if error["type"] == "string_pattern_mismatch":
        pattern = str(error.get("ctx", {}).get("pattern", ""))
        return _PATTERN_REASONS.get(pattern, "has an invalid format")
    if error["type"] == "extra_forbidden":
        field = str(error["loc"][-1])
        return "is read-only" if field in READ_ONLY_FIELDS else "is not a known field"
    if error["type"] == "missing":
        return "is required"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def from_pydantic_errors(errors: Sequence[Mapping[str, Any]]) -> NexusError:
    """Map request validation errors to a 400 (unreadable input) or a 422 (a rule is broken).

    ``loc[0]`` says where each error is (``body``, ``query``, ``header``, ``path``). A body that
    is not JSON or is missing, and a query value of the wrong type, are a 400 (API.md, "Order of
    checks": they come before the rules); every other error is a 422 listing them all.
    """
    if any(error["type"] == "json_invalid" for error in errors):
        return BadRequestError("Request body is not valid JSON")
    if any(error["type"] == "missing" and tuple(error["loc"]) == ("body",) for error in errors):
        return BadRequestError("Request body is missing: send a JSON object")
    unreadable = [e for e in errors if tuple(e["loc"][:1]) == ("query",) and e["type"] in _TYPE_ERRORS]
    if unreadable:
        details = [FieldError(_field_name(error["loc"]), _reason(error)) for error in unreadable]
        wrong = ", ".join(f"{d.field} {d.reason}" for d in details)
        return BadRequestError(f"Invalid query parameter: {wrong}", details)
    return ValidationError([FieldError(_field_name(error["loc"]), _reason(error)) for error in errors])
